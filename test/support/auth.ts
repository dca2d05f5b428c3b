// Test clients of carebridge's token endpoint: a config entry with a fresh key pair, signed client
// assertions (with any claim or header bent for negative tests), and tokens from a real server.
//   const agency = await makeClient('agency', { system: 'urn:test:org', value: 'a1' }, ['system/Task.rus']);
//   const server = await startSqliteServer('warn', { clients: [agency] });
//   const token = await tokenFor(server, agency);               // or tokenFor(server, agency, 'system/Task.rs')
//   await fhirFetch(server, 'Task', { token });
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthService } from '../../src/auth/auth-service.ts';
import type { ClientRole, OrganizationIdentity } from '../../src/auth/principal.ts';
import { JWT_BEARER_ASSERTION } from '../../src/auth/token-request.ts';
import type { ClientConfig, PublicJwk } from '../../src/config/config.ts';
import { parseConfig } from '../../src/config/config.ts';
import type { AuthStore } from '../../src/store/auth-store.ts';

export type AssertionAlg = 'ES384' | 'RS384';

export interface TestClient {
  /** The entry for the config file's `clients` (public key only). */
  config: ClientConfig;
  privateKey: CryptoKey;
  /** The private key as a JWK (with kid and alg), e.g. for SmartClient. */
  privateJwk: JWK;
  /** The public key as a JWK (with kid and alg), e.g. to serve from a jwksUrl. */
  publicJwk: JWK;
  kid: string;
  alg: AssertionAlg;
}

export interface MakeClientOptions {
  clientId?: string;
  name?: string;
  alg?: AssertionAlg;
  /** Publish the key at this URL instead of inline (serve `{ keys: [client.publicJwk] }` there). */
  jwksUrl?: string;
}

export async function makeClient(role: ClientRole, organization: OrganizationIdentity, scopes: string[], options: MakeClientOptions = {}): Promise<TestClient> {
  const alg = options.alg ?? 'ES384';
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS384' ? { modulusLength: 2048 } : {}) });
  const kid = `key-${randomUUID()}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg };
  const clientId = options.clientId ?? `${role}-${randomUUID()}`;
  const config: ClientConfig = {
    clientId,
    name: options.name ?? `Test ${role} client`,
    organization,
    role,
    scopes,
    ...(options.jwksUrl ? { jwksUrl: options.jwksUrl } : { jwks: { keys: [publicJwk as PublicJwk] } }),
  };
  return { config, privateKey, privateJwk, publicJwk, kid, alg };
}

export const TEST_ADMIN_ORGANIZATION: OrganizationIdentity = { system: 'urn:carebridge-test:org', value: 'admin', display: 'Test administration' };

let admin: Promise<TestClient> | undefined;

/** One admin client per test process (system/*.cruds), the one test servers trust by default. */
export function adminClient(): Promise<TestClient> {
  admin ??= makeClient('admin', TEST_ADMIN_ORGANIZATION, ['system/*.cruds'], { clientId: 'test-admin' });
  return admin;
}

export interface AssertionOptions {
  /** Claims to add or replace (undefined values remove a claim). */
  claims?: Record<string, unknown>;
  /** Header members to add or replace. */
  header?: Record<string, unknown>;
  /** Sign with this key instead of the client's. */
  key?: CryptoKey;
  /** Seconds until exp (default 240). */
  expiresIn?: number;
}

/** A client assertion as SMART Backend Services asks for it: iss = sub = client id, aud = token URL. */
export async function signAssertion(client: TestClient, tokenUrl: string, options: AssertionOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { iss: client.config.clientId, sub: client.config.clientId, aud: tokenUrl, exp: now + (options.expiresIn ?? 240), jti: randomUUID(), ...options.claims };
  for (const [name, value] of Object.entries(claims)) {
    if (value === undefined) {
      delete claims[name];
    }
  }
  return new SignJWT(claims as JWTPayload).setProtectedHeader({ alg: client.alg, kid: client.kid, typ: 'JWT', ...options.header } as { alg: string }).sign(options.key ?? client.privateKey);
}

/** The form of a token request with a fresh assertion; `overrides` replace or (undefined) drop fields. */
export async function tokenForm(client: TestClient, tokenUrl: string, scope: string | undefined = client.config.scopes.join(' '), overrides: Record<string, string | undefined> = {}): Promise<URLSearchParams> {
  const fields: Record<string, string | undefined> = {
    grant_type: 'client_credentials',
    client_assertion_type: JWT_BEARER_ASSERTION,
    client_assertion: await signAssertion(client, tokenUrl),
    scope,
    ...overrides,
  };
  return new URLSearchParams(Object.entries(fields).filter((e): e is [string, string] => e[1] !== undefined));
}

export interface TokenAnswer {
  status: number;
  body: { access_token?: string; token_type?: string; expires_in?: number; scope?: string; error?: string; error_description?: string };
  headers: Headers;
}

/** POST the form to `<url>/auth/token`. */
export async function postToken(url: string, form: URLSearchParams): Promise<TokenAnswer> {
  const response = await fetch(`${url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
  const text = await response.text();
  let body: TokenAnswer['body'] = {};
  try {
    body = JSON.parse(text) as TokenAnswer['body'];
  } catch {
    // left empty: the test will say what it expected
  }
  return { status: response.status, body, headers: response.headers };
}

/**
 * An access token for `client` from the real token endpoint of the server at `server.url`
 * (`tokenUrl` when the server has a PUBLIC_URL other than its address).
 */
export async function tokenFor(server: { url: string; tokenUrl?: string }, client: TestClient, scope?: string): Promise<string> {
  const answer = await postToken(server.url, await tokenForm(client, server.tokenUrl ?? `${server.url}/auth/token`, scope));
  if (answer.status !== 200 || !answer.body.access_token) {
    throw new Error(`POST ${server.url}/auth/token for ${client.config.clientId} answered ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  return answer.body.access_token;
}

/** An AuthService trusting `clients` (for servers built by hand, as the fuzz test does). */
export function testAuthService(store: AuthStore, clients: TestClient[], options: { devMode?: boolean } = {}): Promise<AuthService> {
  const config = parseConfig({ clients: clients.map((c) => c.config) }, 'test config');
  return AuthService.init({ config, store, devMode: options.devMode === true, env: {} });
}

/** A config file trusting `clients` in a new temp folder, for `carebridge serve` (CAREBRIDGE_CONFIG). */
export function writeConfigFile(clients: TestClient[], extra: Record<string, unknown> = {}): string {
  const file = join(mkdtempSync(join(tmpdir(), 'carebridge-config-')), 'carebridge.json');
  writeFileSync(file, JSON.stringify({ clients: clients.map((c) => c.config), ...extra }, null, 2));
  return file;
}
