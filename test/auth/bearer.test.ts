// Bearer tokens on /fhir over real HTTP: what is refused (401, WWW-Authenticate, OperationOutcome),
// what is public, and the Principal a valid token stands for.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { SignJWT, generateKeyPair } from 'jose';
import type { CryptoKey } from 'jose';
import { randomUUID } from 'node:crypto';
import { InvalidTokenError } from '../../src/auth/access-token.ts';
import { AuthService } from '../../src/auth/auth-service.ts';
import { loadSigningKey } from '../../src/auth/signing-key.ts';
import type { SigningKey } from '../../src/auth/signing-key.ts';
import { parseConfig } from '../../src/config/config.ts';
import type { TestServer } from '../api/support/server.ts';
import { fhirFetch, startSqliteServer } from '../api/support/server.ts';
import type { TestClient } from '../support/auth.ts';
import { adminClient, makeClient, signAssertion, tokenFor } from '../support/auth.ts';

let server: TestServer;
let agency: TestClient;
let signingKey: SigningKey;

beforeAll(async () => {
  agency = await makeClient('agency', { system: 'urn:carebridge-test:org', value: 'sunrise', display: 'Sunrise Home Health' }, ['system/Task.rus', 'system/Patient.rs']);
  server = await startSqliteServer('warn', { clients: [agency] });
  // The server's own key, read back from its store: to mint tokens that differ in one respect.
  signingKey = await loadSigningKey({}, server.store);
});

afterAll(async () => {
  await server?.stop();
});

/** A token like the server's, with claims or header bent, signed by the server's key unless `key`. */
async function mint(claims: Record<string, unknown> = {}, options: { key?: CryptoKey; header?: Record<string, unknown>; expiresIn?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { iss: server.url, aud: server.fhir, sub: 'test-admin', client_id: 'test-admin', scope: 'system/*.cruds', jti: randomUUID(), iat: now, exp: now + (options.expiresIn ?? 120), ...claims };
  return new SignJWT(payload).setProtectedHeader({ alg: signingKey.alg, kid: signingKey.kid, typ: 'at+jwt', ...options.header } as { alg: string }).sign(options.key ?? signingKey.privateKey);
}

async function expectRefused(token: string | null, authorization?: string): Promise<{ challenge: string; outcome: OperationOutcome }> {
  const response = await fhirFetch<OperationOutcome>(server, 'Patient', { token, ...(authorization ? { headers: { authorization } } : {}) });
  expect(response.status).toBe(401);
  expect(response.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
  expect(response.body.resourceType).toBe('OperationOutcome');
  return { challenge: response.headers.get('www-authenticate') ?? '', outcome: response.body };
}

describe('/fhir without a valid bearer token', () => {
  it('no token: 401 with a bare Bearer challenge and a login issue', async () => {
    const { challenge, outcome } = await expectRefused(null);
    expect(challenge).toBe('Bearer realm="carebridge"');
    expect(outcome.issue[0]?.code).toBe('login');
  });

  it('writes nothing without a token but the AuditEvent of the refusal', async () => {
    const response = await fhirFetch(server, 'Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Intruder' }] }, token: null });
    expect(response.status).toBe(401);
    const written = await server.store.history(undefined, undefined, { count: 1000 });
    expect(written.filter((v) => v.resourceType !== 'AuditEvent')).toEqual([]);
    expect(written.some((v) => v.resourceType === 'AuditEvent' && v.resource?.meta && JSON.stringify(v.resource).includes('401'))).toBe(true);
  });

  it.each([
    ['another scheme', 'Basic dGVzdDp0ZXN0'],
    ['Bearer with no token', 'Bearer '],
    ['a token that is not a JWT', 'Bearer not.a.jwt!'],
  ])('%s: 401 invalid_token', async (_name, authorization) => {
    const { challenge } = await expectRefused(null, authorization);
    expect(challenge).toMatch(/^Bearer realm="carebridge", error="invalid_token", error_description="[^"]+"$/);
  });

  it('an expired token: 401 invalid_token, a login issue', async () => {
    const { challenge, outcome } = await expectRefused(await mint({}, { expiresIn: -60 }));
    expect(challenge).toBe('Bearer realm="carebridge", error="invalid_token", error_description="The access token has expired"');
    expect(outcome.issue[0]?.code).toBe('login');
  });

  it('a tampered token (its scope widened after signing): 401', async () => {
    const [header, payload, signature] = (await tokenFor(server, agency)).split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const widened = Buffer.from(JSON.stringify({ ...claims, scope: 'system/*.cruds' })).toString('base64url');
    const { challenge, outcome } = await expectRefused(`${header}.${widened}.${signature}`);
    expect(challenge).toContain('error="invalid_token"');
    expect(outcome.issue[0]?.code).toBe('security');
  });

  it('a token signed by another key: 401', async () => {
    const { privateKey } = await generateKeyPair('ES384');
    await expectRefused(await mint({}, { key: privateKey }));
  });

  it('a token of another issuer or for another audience: 401', async () => {
    expect((await expectRefused(await mint({ iss: 'https://elsewhere.example' }))).challenge).toContain('(iss)');
    expect((await expectRefused(await mint({ aud: 'https://elsewhere.example/fhir' }))).challenge).toContain('(aud)');
  });

  it('a JWT that is not an access token (a client assertion): 401', async () => {
    await expectRefused(await signAssertion(agency, server.tokenUrl));
    await expectRefused(await mint({}, { header: { typ: 'JWT' } }));
  });

  it('a token of a client the config does not have: 401', async () => {
    await expectRefused(await mint({ sub: 'removed-client', client_id: 'removed-client' }));
  });

  it('alg none: 401', async () => {
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    await expectRefused(`${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ iss: server.url, aud: server.fhir, sub: 'test-admin', exp: Math.floor(Date.now() / 1000) + 60, jti: 'x' })}.`);
  });
});

describe('/fhir with a valid token, and what is public', () => {
  it('a valid token: 200', async () => {
    expect((await fhirFetch(server, 'Patient')).status).toBe(200);
    expect((await fhirFetch(server, 'Task', { token: await tokenFor(server, agency) })).status).toBe(200);
    expect((await fhirFetch(server, 'Patient', { token: await mint() })).status).toBe(200);
  });

  it.each(['/fhir/metadata', '/healthz', '/readyz', '/.well-known/smart-configuration'])('GET %s needs no token', async (path) => {
    expect((await fetch(`${server.url}${path}`)).status).toBe(200);
  });

  it('only GET of /fhir/metadata is public', async () => {
    expect((await fetch(`${server.fhir}/metadata`, { method: 'POST' })).status).toBe(401);
  });
});

describe('AuthService.authenticate', () => {
  it('gives the Principal: the client, its role and organization, the scopes granted, the token id', async () => {
    const admin = await adminClient();
    const config = parseConfig({ clients: [admin.config, agency.config] });
    const auth = new AuthService({ config, store: server.store, signingKey });
    const principal = await auth.authenticate(`Bearer ${await tokenFor(server, agency, 'system/Task.rs')}`, server.url);
    expect(principal).toEqual({
      clientId: agency.config.clientId,
      clientName: agency.config.name,
      role: 'agency',
      organization: agency.config.organization,
      scopes: [expect.objectContaining({ resourceType: 'Task', text: 'system/Task.rs' })],
      tokenId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
  });

  it('narrows a token\'s scopes to what the client is allowed now', async () => {
    const token = await tokenFor(server, agency, 'system/Task.rus system/Patient.rs');
    const narrowed = parseConfig({ clients: [{ ...agency.config, scopes: ['system/Task.rs'] }] });
    const principal = await new AuthService({ config: narrowed, store: server.store, signingKey }).authenticate(`Bearer ${token}`, server.url);
    expect(principal.scopes.map((s) => s.text)).toEqual(['system/Task.rs']);
  });

  it('refuses with InvalidTokenError saying why', async () => {
    const auth = new AuthService({ config: parseConfig({ clients: [agency.config] }), store: server.store, signingKey });
    await expect(auth.authenticate(undefined, server.url)).rejects.toMatchObject({ reason: 'missing' });
    await expect(auth.authenticate('Bearer x.y.z', server.url)).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(auth.authenticate(`Bearer ${await mint({}, { expiresIn: -60 })}`, server.url)).rejects.toMatchObject({ reason: 'expired' });
  });

  it('remembers a verified token for the base URL it was verified for only', async () => {
    const auth = new AuthService({ config: parseConfig({ clients: [agency.config] }), store: server.store, signingKey });
    const authorization = `Bearer ${await tokenFor(server, agency, 'system/Task.rs')}`;
    const principal = await auth.authenticate(authorization, server.url);
    // Another host name: the token's issuer and audience are checked again, and refused.
    await expect(auth.authenticate(authorization, 'http://other.example')).rejects.toBeInstanceOf(InvalidTokenError);
    expect(await auth.authenticate(authorization, server.url)).toEqual(principal);
  });
});
