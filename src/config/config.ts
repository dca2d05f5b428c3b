// carebridge's configuration file (CAREBRIDGE_CONFIG): checked at start against
// profiles/carebridge-config.schema.json and the rules a schema cannot say, every problem reported
// at once with its JSON pointer. Secrets never live here (see src/auth/signing-key.ts).
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { readFileSync } from 'node:fs';
import type { ClientRole, OrganizationIdentity } from '../auth/principal.ts';
import { parseScope } from '../auth/scopes.ts';
import type { BoardUserConfig } from './board-users.ts';
import { boardUserProblems } from './board-users.ts';
import type { ClockConfig, ClockConfigInput } from './clock.ts';
import { clockProblems, withClockDefaults } from './clock.ts';
import type { OutboxConfig, OutboxConfigInput } from './outbox.ts';
import { outboxProblems, withOutboxDefaults } from './outbox.ts';
import type { PeerConfig, PeerConfigInput } from './peers.ts';
import { peerProblems, withPeerDefaults } from './peers.ts';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

export const CONFIG_SCHEMA_URL = new URL('../../profiles/carebridge-config.schema.json', import.meta.url);

/** A public key as the config holds it (JWK members beyond these are passed to jose as they are). */
export interface PublicJwk {
  kty: 'RSA' | 'EC';
  kid: string;
  alg?: 'RS384' | 'ES384';
  [member: string]: unknown;
}

export interface ClientConfig {
  clientId: string;
  name: string;
  organization: OrganizationIdentity;
  role: ClientRole;
  /** SMART system scopes the client may be granted (each parses with parseScope). */
  scopes: string[];
  /** Exactly one of jwks / jwksUrl. */
  jwks?: { keys: PublicJwk[] };
  jwksUrl?: string;
}

export interface AuthConfig {
  /** Lifetime of issued access tokens, at most 300 (SMART's five minutes). */
  accessTokenSeconds: number;
}

export interface ReferralAccessConfig {
  /** Referral Task statuses that end an agency's access to the patient. */
  endsOnStatus: string[];
}

/** The config after defaults are applied. */
export interface CarebridgeConfig {
  clients: ClientConfig[];
  auth: AuthConfig;
  referralAccess: ReferralAccessConfig;
  /** EHRs, agencies and payers carebridge polls and pushes to. */
  peers: PeerConfig[];
  /** The transitional-care clock: holidays, hospital time zones, the overdue sweep's schedule. */
  clock: ClockConfig;
  /** People who sign in to the board (a password each, kept as an scrypt hash). */
  boardUsers: BoardUserConfig[];
  /** The outbox's retention: how long settled deliveries are kept, and when they are pruned. */
  outbox: OutboxConfig;
}

export const DEFAULT_ACCESS_TOKEN_SECONDS = 300;
/** A board user's sessions act as the client "board:<username>" (tokens, audit, rate limits): no configured client may take such an id. */
export const BOARD_USER_PREFIX = 'board:';
/**
 * A referral that was turned down, withdrawn, entered by mistake or could not be carried out ends
 * the agency's access. A completed one does not: the agency still documents and bills the episode
 * it served.
 */
export const DEFAULT_REFERRAL_ACCESS_ENDS_ON: readonly string[] = ['rejected', 'cancelled', 'entered-in-error', 'failed'];

/** The config a file may hold (before defaults). */
interface ConfigFile {
  clients: ClientConfig[];
  auth?: Partial<AuthConfig>;
  referralAccess?: ReferralAccessConfig;
  peers?: PeerConfigInput[];
  clock?: ClockConfigInput;
  boardUsers?: BoardUserConfig[];
  outbox?: OutboxConfigInput;
}

export class ConfigError extends Error {
  readonly problems: string[];

  constructor(source: string, problems: string[]) {
    super(`Invalid configuration ${source}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

let compiled: ValidateFunction<ConfigFile> | undefined;

function compile(): ValidateFunction<ConfigFile> {
  if (!compiled) {
    const schema = JSON.parse(readFileSync(CONFIG_SCHEMA_URL, 'utf8')) as object;
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: false });
    addFormats(ajv, ['uri']);
    compiled = ajv.compile<ConfigFile>(schema);
  }
  return compiled;
}

function describe(error: ErrorObject): string | undefined {
  const at = error.instancePath || '/';
  if (error.schemaPath.includes('/oneOf/')) {
    return undefined; // the branches of "jwks or jwksUrl": the oneOf error says it once
  }
  switch (error.keyword) {
    case 'required':
      return `${error.instancePath}/${(error.params as { missingProperty: string }).missingProperty}: is required`;
    case 'additionalProperties':
      return `${error.instancePath}/${(error.params as { additionalProperty: string }).additionalProperty}: unknown key`;
    case 'false schema':
      return `${at}: not allowed here (a config file holds public keys only, never private or symmetric key members)`;
    case 'enum':
      return `${at}: must be one of: ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    case 'oneOf':
      if (/^\/peers\/\d+$/.test(error.instancePath)) {
        return `${at}: needs exactly one of fhirBaseUrl and webhookUrl`;
      }
      if (error.instancePath.endsWith('/auth')) {
        return `${at}: needs type "none", or type "smart-backend-services" with tokenUrl, clientId, scope and exactly one of privateKeyEnv and privateKeyFile`;
      }
      return `${at}: needs exactly one of jwks and jwksUrl`;
    case 'pattern':
      return /\/(jwksUrl|fhirBaseUrl|webhookUrl|tokenUrl)$/.test(error.instancePath) ? `${at}: must be an https:// URL (http:// only on localhost)` : `${at}: has an invalid format (must match ${(error.params as { pattern: string }).pattern})`;
    default:
      return `${at}: ${error.message ?? error.keyword}`;
  }
}

/** Rules beyond the schema: scopes parse, client ids and key ids are unique. */
function checkRules(config: ConfigFile): string[] {
  const problems: string[] = [];
  const ids = new Map<string, number>();
  config.clients.forEach((client, i) => {
    const seen = ids.get(client.clientId);
    if (seen !== undefined) {
      problems.push(`/clients/${i}/clientId: "${client.clientId}" is also the clientId of /clients/${seen}`);
    } else if (client.clientId.startsWith(BOARD_USER_PREFIX)) {
      problems.push(`/clients/${i}/clientId: "${BOARD_USER_PREFIX}…" names board users' sessions; choose another clientId`);
    } else {
      ids.set(client.clientId, i);
    }
    client.scopes.forEach((scope, j) => {
      if (!parseScope(scope)) {
        problems.push(`/clients/${i}/scopes/${j}: "${scope}" is not a SMART system scope (system/Type.cruds or system/Type.read|write|*)`);
      }
    });
    const kids = new Set<string>();
    client.jwks?.keys.forEach((key, j) => {
      if (kids.has(key.kid)) {
        problems.push(`/clients/${i}/jwks/keys/${j}/kid: "${key.kid}" is used by another key of this client`);
      }
      kids.add(key.kid);
    });
  });
  return problems;
}

/** Checks a parsed config and applies its defaults; throws ConfigError naming `source`. */
export function parseConfig(value: unknown, source = 'config'): CarebridgeConfig {
  const validate = compile();
  if (!validate(value)) {
    const problems = [...new Set((validate.errors ?? []).map(describe).filter((p): p is string => p !== undefined))];
    throw new ConfigError(source, problems);
  }
  const problems = [...checkRules(value), ...peerProblems(value.peers ?? []), ...clockProblems(value.clock), ...boardUserProblems(value.boardUsers ?? []), ...outboxProblems(value.outbox)];
  if (problems.length > 0) {
    throw new ConfigError(source, problems);
  }
  return {
    clients: value.clients,
    auth: { accessTokenSeconds: value.auth?.accessTokenSeconds ?? DEFAULT_ACCESS_TOKEN_SECONDS },
    referralAccess: { endsOnStatus: value.referralAccess?.endsOnStatus ?? [...DEFAULT_REFERRAL_ACCESS_ENDS_ON] },
    peers: (value.peers ?? []).map(withPeerDefaults),
    clock: withClockDefaults(value.clock),
    boardUsers: value.boardUsers ?? [],
    outbox: withOutboxDefaults(value.outbox),
  };
}

/** Reads and checks the config file at `path`; throws ConfigError naming the path. */
export function loadConfig(path: string): CarebridgeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).name})`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    // Not the parser's message: it quotes the text, and a misnamed file might hold a secret.
    const position = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new ConfigError(path, [`is not valid JSON${position ? ` (at character ${position})` : ''}`]);
  }
  return parseConfig(value, path);
}

/** The config of a server that has no file (development mode): no clients, the defaults. */
export function emptyConfig(): CarebridgeConfig {
  return parseConfig({ clients: [] }, 'defaults');
}
