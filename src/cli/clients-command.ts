// carebridge clients: registers the systems that may call carebridge (SMART Backend Services,
// private_key_jwt), as entries of the config file's `clients`. `add` prints an entry or adds it to
// a config file in place, after checking the whole file as serve will; `list` shows who is
// configured (never key material); `keygen` makes an ES384 key pair for a client.
import { exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { OperationOutcomeError } from '@medplum/core';
import { CLIENT_ROLES } from '../auth/principal.ts';
import type { ClientRole, OrganizationIdentity } from '../auth/principal.ts';
import type { ClientConfig, PublicJwk } from '../config/config.ts';
import { ConfigError, loadConfig, parseConfig } from '../config/config.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, exitCodes } from './exit-codes.ts';
import type { Io } from './output.ts';
import { readJsonFile } from './read-input.ts';

export const CLIENTS_HELP = `Usage: carebridge clients add|list|keygen [options]

The clients that may call carebridge: systems (not people) that get an access token with a
signed assertion (SMART Backend Services, private_key_jwt) and act for one organization.
  clients add      make a client's config entry: print it, or add it to a config file (--write)
  clients list     the clients of a config file (no key material)
  clients keygen   make an ES384 key pair: the private key to a file, the public one printed
Run "carebridge clients <add|list|keygen> --help" for their options.
${exitCodes({ ok: 'done', failed: 'the entry or the config file has errors' })}`;

export const CLIENTS_ADD_HELP = `Usage: carebridge clients add --name <name> --role <role> --organization <system|value> --scopes "<scopes>"
                             (--jwks-url <url> | --jwks-file <file> | --keygen <private-key-file>)
                             [--client-id <id>] [--organization-name <name>] [--write <config.json>]

Makes a client's entry for the config file's "clients" and checks it with the config schema. It is
printed on stdout (to paste into the config file), or, with --write, added to that file in place:
the whole file is checked first, as serve will read it, and replaced atomically.
Options:
  --name <name>                what the client is, e.g. "Inner Harbor Visiting Nurses EHR"
  --client-id <id>             its client_id (default: the name in lower case, dashes for spaces)
  --role <role>                ${CLIENT_ROLES.join(', ')}
  --organization <system|value>  the organization it acts for, by identifier (e.g. http://hl7.org/fhir/sid/us-npi|1234567893)
  --organization-name <name>   the organization's name (its display)
  --scopes "<scopes>"          the SMART system scopes it may be granted, space-separated (system/Task.rus system/Patient.rs)
  --jwks-url <url>             where it publishes its public keys (https)
  --jwks-file <file>           its public keys: a JWKS ({ "keys": [...] }) or one public JWK
  --keygen <private-key-file>  make an ES384 key pair: the private key goes to this new file (mode 0600),
                               the public key into the entry
  --write <config.json>        add the entry to this config file (created if missing)
${exitCodes({ ok: 'the entry was printed or written', failed: 'the entry or the config file has errors (nothing written)' })}`;

export const CLIENTS_LIST_HELP = `Usage: carebridge clients list [--config <config.json>] [--json]

The clients of the config file: client_id, name, role, organization, scopes, and where their keys
are (the key ids, or the JWKS URL) — never the keys.
Options:
  --config <file>   the config file (default: CAREBRIDGE_CONFIG)
  --json            print [{ clientId, name, role, organization, scopes, keyIds | jwksUrl }]
Environment: CAREBRIDGE_CONFIG.
${exitCodes({ ok: 'listed', failed: 'the config file has errors' })}`;

export const CLIENTS_KEYGEN_HELP = `Usage: carebridge clients keygen --private-key-file <file> [--kid <kid>]

Makes an EC P-384 key pair (ES384) for a client's assertions. The private JWK goes to a new file,
readable by its owner only (mode 0600): keep it with the client. The public JWKS is printed, for
clients add --jwks-file, or to publish at the client's jwksUrl. The same file serves as carebridge's
own token key (CAREBRIDGE_TOKEN_KEY_FILE).
Options:
  --private-key-file <file>   where the private key goes (it must not exist yet)
  --kid <kid>                 the key id (default: a random one)
${exitCodes({ ok: 'the key pair was made', failed: 'the file exists or cannot be written' })}`;

export interface ClientsAddFlags {
  name?: string;
  clientId?: string;
  role?: string;
  organization?: string;
  organizationName?: string;
  scopes?: string;
  jwksUrl?: string;
  jwksFile?: string;
  keygen?: string;
  write?: string;
}

/** A usage mistake (exit 2), as opposed to an entry the config schema refuses (exit 1). */
class UsageError extends Error {}

function organizationOf(text: string, display: string | undefined): OrganizationIdentity {
  const bar = text.indexOf('|');
  if (bar <= 0 || bar === text.length - 1) {
    throw new UsageError('--organization must be <system>|<value>, e.g. http://hl7.org/fhir/sid/us-npi|1234567893');
  }
  return { system: text.slice(0, bar), value: text.slice(bar + 1), ...(display ? { display } : {}) };
}

/** The client_id a name suggests: "Inner Harbor Visiting Nurses" → "inner-harbor-visiting-nurses". */
export function clientIdFor(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 128);
}

/** A key pair: the private JWK (kid, alg) to keep, the public one for the entry. */
export async function makeKeyPair(kid: string = `key-${randomUUID()}`): Promise<{ privateJwk: JWK; publicJwk: PublicJwk }> {
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  return {
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES384' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES384' } as PublicJwk,
  };
}

/** Opens a new file for a secret: owner-only from its first byte, never over an existing file. */
function openSecretFile(path: string): number {
  try {
    return openSync(path, 'wx', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(path, [code === 'EEXIST' ? 'exists already (a private key is never overwritten)' : `cannot be written (${code ?? 'error'})`]);
  }
}

function writeAndClose(fd: number, text: string): void {
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The public keys of --jwks-file: a JWKS or one JWK (the config schema then refuses private members). */
function jwksFromFile(path: string): { keys: PublicJwk[] } {
  let value: unknown;
  try {
    value = readJsonFile(path);
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      throw new ConfigError(path, [err.outcome.issue?.[0]?.details?.text ?? 'cannot be read']);
    }
    throw err;
  }
  const keys = (value as { keys?: unknown } | null)?.keys;
  return { keys: (Array.isArray(keys) ? keys : [value]) as PublicJwk[] };
}

/** The config file to add to, parsed as JSON (not yet checked); a new one when it does not exist. */
function readConfigFile(path: string): Record<string, unknown> {
  let exists = true;
  try {
    statSync(path);
  } catch {
    exists = false;
  }
  if (!exists) {
    return { clients: [] };
  }
  try {
    const value = readJsonFile(path);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ConfigError(path, ['is not a JSON object']);
    }
    return value as Record<string, unknown>;
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      throw new ConfigError(path, [err.outcome.issue?.[0]?.details?.text ?? 'cannot be read']);
    }
    throw err;
  }
}

/** Replaces `path` with `text` in one step (a temporary file beside it, then rename), keeping its mode. */
function replaceAtomically(path: string, text: string): void {
  let mode = 0o644;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    // a new file
  }
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
  const fd = openSync(temporary, 'wx', mode);
  try {
    writeAndClose(fd, text);
    renameSync(temporary, path);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw err;
  }
}

function buildEntry(flags: ClientsAddFlags, jwks: { keys: PublicJwk[] } | undefined): ClientConfig {
  const missing = (['name', 'role', 'organization', 'scopes'] as const).filter((f) => !flags[f]);
  if (missing.length > 0) {
    throw new UsageError(`clients add needs ${missing.map((f) => `--${f}`).join(', ')}`);
  }
  const keySources = [flags.jwksUrl, flags.jwksFile, flags.keygen].filter((s) => s !== undefined).length;
  if (keySources !== 1) {
    throw new UsageError('clients add needs exactly one of --jwks-url, --jwks-file and --keygen');
  }
  if (!CLIENT_ROLES.includes(flags.role as ClientRole)) {
    throw new UsageError(`--role must be one of ${CLIENT_ROLES.join(', ')}`);
  }
  const clientId = flags.clientId ?? clientIdFor(flags.name as string);
  if (clientId === '') {
    throw new UsageError('the name makes no client_id: give one with --client-id');
  }
  return {
    clientId,
    name: flags.name as string,
    organization: organizationOf(flags.organization as string, flags.organizationName),
    role: flags.role as ClientRole,
    scopes: [...new Set((flags.scopes as string).split(/\s+/).filter(Boolean))],
    ...(flags.jwksUrl !== undefined ? { jwksUrl: flags.jwksUrl } : { jwks: jwks as { keys: PublicJwk[] } }),
  };
}

export async function runClientsAdd(flags: ClientsAddFlags, io: Io): Promise<number> {
  let keyFile: number | undefined;
  try {
    // Usage first, so a mistake leaves no key file behind.
    buildEntry(flags, { keys: [] });
    let privateJwk: JWK | undefined;
    let jwks: { keys: PublicJwk[] } | undefined;
    if (flags.keygen !== undefined) {
      keyFile = openSecretFile(flags.keygen);
      const pair = await makeKeyPair();
      privateJwk = pair.privateJwk;
      jwks = { keys: [pair.publicJwk] };
    } else if (flags.jwksFile !== undefined) {
      jwks = jwksFromFile(flags.jwksFile);
    }
    const entry = buildEntry(flags, jwks);
    if (flags.write === undefined) {
      parseConfig({ clients: [entry] }, 'for the new client');
    } else {
      const file = readConfigFile(flags.write);
      const whole = { ...file, clients: [...(Array.isArray(file.clients) ? file.clients : []), entry] };
      parseConfig(whole, flags.write);
      replaceAtomically(flags.write, `${JSON.stringify(whole, null, 2)}\n`);
    }
    if (keyFile !== undefined) {
      writeAndClose(keyFile, `${JSON.stringify(privateJwk)}\n`);
      keyFile = undefined;
      io.err(`The client's private key is in ${flags.keygen} (mode 0600): give it to the client, keep it nowhere else.`);
    }
    io.out(JSON.stringify(entry, null, 2));
    if (flags.write !== undefined) {
      io.err(`Added client "${entry.clientId}" to ${flags.write}; a running carebridge reads it when it starts.`);
    }
    return EXIT_OK;
  } catch (err) {
    if (keyFile !== undefined) {
      closeSync(keyFile);
      rmSync(flags.keygen as string, { force: true });
    }
    if (err instanceof UsageError) {
      io.err(`${err.message}\n\n${CLIENTS_ADD_HELP}`);
      return EXIT_USAGE;
    }
    if (err instanceof ConfigError) {
      io.err(err.message);
      return EXIT_FAILED;
    }
    throw err;
  }
}

export function runClientsList(flags: { config?: string; json?: boolean }, io: Io, env: NodeJS.ProcessEnv = process.env): number {
  const path = flags.config ?? env.CAREBRIDGE_CONFIG;
  if (!path) {
    io.err(`clients list needs --config <file> or CAREBRIDGE_CONFIG\n\n${CLIENTS_LIST_HELP}`);
    return EXIT_USAGE;
  }
  let clients: ClientConfig[];
  try {
    clients = loadConfig(path).clients;
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(err.message);
      return EXIT_FAILED;
    }
    throw err;
  }
  const rows = clients.map((c) => ({ clientId: c.clientId, name: c.name, role: c.role, organization: c.organization, scopes: c.scopes, ...(c.jwksUrl ? { jwksUrl: c.jwksUrl } : { keyIds: (c.jwks?.keys ?? []).map((k) => k.kid) }) }));
  if (flags.json) {
    io.out(JSON.stringify(rows, null, 2));
    return EXIT_OK;
  }
  if (rows.length === 0) {
    io.out(`No clients in ${path}.`);
    return EXIT_OK;
  }
  for (const r of rows) {
    io.out(`${r.clientId} (${r.role}): ${r.name}`);
    io.out(`    organization ${r.organization.system}|${r.organization.value}${r.organization.display ? ` (${r.organization.display})` : ''}`);
    io.out(`    scopes ${r.scopes.join(' ')}`);
    io.out(`    keys ${'jwksUrl' in r ? `at ${r.jwksUrl}` : `kid ${r.keyIds.join(', ')}`}`);
  }
  return EXIT_OK;
}

export async function runClientsKeygen(flags: { privateKeyFile?: string; kid?: string }, io: Io): Promise<number> {
  if (!flags.privateKeyFile) {
    io.err(`clients keygen needs --private-key-file <file>\n\n${CLIENTS_KEYGEN_HELP}`);
    return EXIT_USAGE;
  }
  if (flags.kid !== undefined && !/^[A-Za-z0-9._~:-]{1,200}$/.test(flags.kid)) {
    io.err('--kid may hold letters, digits and . _ ~ : - (at most 200)');
    return EXIT_USAGE;
  }
  const { privateJwk, publicJwk } = await makeKeyPair(flags.kid);
  try {
    writeAndClose(openSecretFile(flags.privateKeyFile), `${JSON.stringify(privateJwk)}\n`);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(err.message);
      return EXIT_FAILED;
    }
    throw err;
  }
  io.out(JSON.stringify({ keys: [publicJwk] }, null, 2));
  return EXIT_OK;
}
