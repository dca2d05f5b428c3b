// POST /auth/token over real HTTP: SMART Backend Services, the negative cases modelled on ONC
// Inferno's SMART Backend Services suite, and the positive ones for RS384, ES384 and a jwksUrl.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, generateKeyPair } from 'jose';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { TestServer } from '../api/support/server.ts';
import { fhirFetch, startSqliteServer } from '../api/support/server.ts';
import type { TestClient } from '../support/auth.ts';
import { makeClient, postToken, signAssertion, tokenFor, tokenForm } from '../support/auth.ts';

const ORG = { system: 'urn:carebridge-test:org', value: 'riverside' };

let server: TestServer;
let hospital: TestClient;
let rsa: TestClient;
let remote: TestClient;
let jwksServer: Server;
let jwksRequests = 0;

beforeAll(async () => {
  // The JWKS of `remote` is published by a real HTTP server, as a client's would be.
  jwksServer = createServer((req, res) => {
    jwksRequests++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [remote.publicJwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
  [hospital, rsa, remote] = await Promise.all([
    makeClient('hospital', ORG, ['system/CarePlan.cruds', 'system/Patient.rs']),
    makeClient('agency', ORG, ['system/Task.rus'], { alg: 'RS384' }),
    makeClient('case-management', ORG, ['system/Coverage.rs'], { jwksUrl }),
  ]);
  server = await startSqliteServer('warn', { clients: [hospital, rsa, remote] });
});

afterAll(async () => {
  await server?.stop();
  await new Promise((resolve) => jwksServer.close(resolve));
});

/** POST a token request for `client`, with form fields replaced (or dropped when undefined). */
async function request(client: TestClient, overrides: Record<string, string | undefined> = {}, scope?: string): Promise<Awaited<ReturnType<typeof postToken>>> {
  return postToken(server.url, await tokenForm(client, server.tokenUrl, scope, overrides));
}

async function withAssertion(client: TestClient, options: Parameters<typeof signAssertion>[2]): Promise<Awaited<ReturnType<typeof postToken>>> {
  return request(client, { client_assertion: await signAssertion(client, server.tokenUrl, options) });
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('POST /auth/token grants', () => {
  it('an ES384-signed assertion: a bearer token, its lifetime and scopes, not cached', async () => {
    const answer = await request(hospital, {}, 'system/CarePlan.rs system/Patient.rs');
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ access_token: expect.any(String), token_type: 'bearer', expires_in: 300, scope: 'system/CarePlan.rs system/Patient.rs' });
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect((await fhirFetch(server, 'Patient', { token: answer.body.access_token as string })).status).toBe(200);
  });

  it('an RS384-signed assertion', async () => {
    const answer = await request(rsa);
    expect(answer.status).toBe(200);
    expect(answer.body.scope).toBe('system/Task.rus');
  });

  it('a client whose keys are at a jwksUrl (fetched once, then cached)', async () => {
    const before = jwksRequests;
    expect((await request(remote)).status).toBe(200);
    expect((await request(remote)).status).toBe(200);
    expect(jwksRequests - before).toBe(1);
  });

  it('only the requested scopes the client is allowed', async () => {
    const answer = await request(hospital, {}, 'system/*.rs system/Coverage.rs');
    expect(answer.status).toBe(200);
    expect(answer.body.scope?.split(' ').sort()).toEqual(['system/CarePlan.rs', 'system/Patient.rs']);
  });

  it('a client_id that matches the assertion', async () => {
    expect((await request(hospital, { client_id: hospital.config.clientId })).status).toBe(200);
  });
});

describe('POST /auth/token refuses (RFC 6749 §5.2)', () => {
  it.each([
    ['grant_type', 'invalid_request'],
    ['client_assertion_type', 'invalid_request'],
    ['client_assertion', 'invalid_request'],
    ['scope', 'invalid_request'],
  ])('a request without %s: 400 %s', async (field, error) => {
    const answer = await request(hospital, { [field]: undefined });
    expect({ status: answer.status, error: answer.body.error }).toEqual({ status: 400, error });
    expect(answer.body.error_description).toEqual(expect.any(String));
  });

  it('a grant_type other than client_credentials: 400 unsupported_grant_type', async () => {
    const answer = await request(hospital, { grant_type: 'authorization_code' });
    expect({ status: answer.status, error: answer.body.error }).toEqual({ status: 400, error: 'unsupported_grant_type' });
  });

  it('a wrong client_assertion_type: 400 invalid_request', async () => {
    const answer = await request(hospital, { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer' });
    expect({ status: answer.status, error: answer.body.error }).toEqual({ status: 400, error: 'invalid_request' });
  });

  it('a parameter sent twice, or a body that is not a form: 400 invalid_request', async () => {
    const form = await tokenForm(hospital, server.tokenUrl);
    form.append('scope', 'system/Patient.rs');
    expect((await postToken(server.url, form)).body.error).toBe('invalid_request');
    const json = await fetch(`${server.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(Object.fromEntries(await tokenForm(hospital, server.tokenUrl))) });
    expect(json.status).toBe(400);
    expect(((await json.json()) as { error: string }).error).toBe('invalid_request');
  });

  it('a GET: 405', async () => {
    expect((await fetch(`${server.url}/auth/token`)).status).toBe(405);
  });

  const invalidClient = async (answer: Awaited<ReturnType<typeof postToken>>, description: RegExp): Promise<void> => {
    expect({ status: answer.status, error: answer.body.error }).toEqual({ status: 401, error: 'invalid_client' });
    expect(answer.body.error_description).toMatch(description);
    expect(answer.body.access_token).toBeUndefined();
  };

  it('an assertion for another audience', async () => {
    await invalidClient(await withAssertion(hospital, { claims: { aud: `${server.url}/fhir` } }), /aud must be the token endpoint/);
  });

  it('an expired assertion', async () => {
    await invalidClient(await withAssertion(hospital, { expiresIn: -60 }), /expired/);
  });

  it('an assertion whose exp is more than five minutes ahead', async () => {
    await invalidClient(await withAssertion(hospital, { expiresIn: 600 }), /at most 300 seconds ahead/);
  });

  it('an assertion signed by another key under the client\'s kid', async () => {
    const { privateKey } = await generateKeyPair('ES384');
    await invalidClient(await withAssertion(hospital, { key: privateKey }), /signature/);
  });

  it('an assertion whose kid is not one of the client\'s keys', async () => {
    await invalidClient(await withAssertion(hospital, { header: { kid: 'no-such-key' } }), /No registered key/);
  });

  it('a replayed jti', async () => {
    const form = await tokenForm(hospital, server.tokenUrl);
    expect((await postToken(server.url, form)).status).toBe(200);
    await invalidClient(await postToken(server.url, form), /jti has already been used/);
  });

  it('the same jti in a new assertion', async () => {
    const jti = randomUUID();
    expect((await withAssertion(hospital, { claims: { jti } })).status).toBe(200);
    await invalidClient(await withAssertion(hospital, { claims: { jti } }), /jti has already been used/);
  });

  it('an assertion without jti or exp', async () => {
    await invalidClient(await withAssertion(hospital, { claims: { jti: undefined } }), /jti/);
    await invalidClient(await withAssertion(hospital, { claims: { exp: undefined } }), /exp/);
  });

  it('an unknown client, or iss and sub that differ, or a client_id that is not the assertion\'s', async () => {
    await invalidClient(await withAssertion(hospital, { claims: { iss: 'stranger', sub: 'stranger' } }), /Unknown client/);
    await invalidClient(await withAssertion(hospital, { claims: { sub: rsa.config.clientId } }), /iss and sub/);
    await invalidClient(await request(hospital, { client_id: rsa.config.clientId }), /client_id does not match/);
  });

  it('alg none, and HS256 (a shared secret instead of a key pair)', async () => {
    const claims = { iss: hospital.config.clientId, sub: hospital.config.clientId, aud: server.tokenUrl, exp: Math.floor(Date.now() / 1000) + 120, jti: randomUUID() };
    const unsigned = `${base64url({ alg: 'none', kid: hospital.kid })}.${base64url(claims)}.`;
    await invalidClient(await request(hospital, { client_assertion: unsigned }), /RS384 or ES384/);
    const hs256 = await new SignJWT({ ...claims, jti: randomUUID() }).setProtectedHeader({ alg: 'HS256', kid: hospital.kid }).sign(new TextEncoder().encode('a-shared-secret-of-32-characters!'));
    await invalidClient(await request(hospital, { client_assertion: hs256 }), /RS384 or ES384/);
  });

  it('an assertion that is not a JWT', async () => {
    await invalidClient(await request(hospital, { client_assertion: 'not-a-jwt' }), /not a signed JWT/);
  });

  it('scopes the client is not allowed: 400 invalid_scope', async () => {
    const answer = await request(hospital, {}, 'system/Coverage.rs patient/*.read');
    expect({ status: answer.status, error: answer.body.error }).toEqual({ status: 400, error: 'invalid_scope' });
  });

  it('the development client when the server is not in development mode', async () => {
    const answer = await postToken(server.url, new URLSearchParams({ grant_type: 'client_credentials', client_id: 'carebridge-dev' }));
    expect({ status: answer.status, error: answer.body.error }).toEqual({ status: 400, error: 'invalid_request' });
  });
});

describe('SMART discovery', () => {
  it.each(['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration'])('GET %s is public and names the token endpoint', async (path) => {
    const response = await fetch(`${server.url}${path}`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      token_endpoint: server.tokenUrl,
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      grant_types_supported: ['client_credentials'],
      capabilities: ['client-confidential-asymmetric', 'permission-v2'],
    });
    expect(body.scopes_supported).toEqual(expect.arrayContaining(['system/CarePlan.cruds', 'system/Task.rus']));
  });

  it('the CapabilityStatement (public) declares SMART-on-FHIR and the token URL', async () => {
    const response = await fetch(`${server.fhir}/metadata`);
    expect(response.status).toBe(200);
    const security = ((await response.json()) as { rest: { security: { service: { coding: { code: string }[] }[]; extension: { url: string; extension: { url: string; valueUri: string }[] }[] } }[] }).rest[0]?.security;
    expect(security?.service[0]?.coding[0]?.code).toBe('SMART-on-FHIR');
    expect(security?.extension[0]).toEqual({ url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris', extension: [{ url: 'token', valueUri: server.tokenUrl }] });
  });
});

describe('the token endpoint under a flood', () => {
  it('answers 429 with Retry-After once an address passes the rate limit', async () => {
    const server = await startSqliteServer('warn', { limits: { rateLimitPerMinute: 5 } });
    try {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 8; i++) {
        const response = await fetch(`${server.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
        statuses.push(response.status);
        retryAfter ??= response.headers.get('retry-after');
        await response.text();
      }
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
      expect(statuses.slice(0, 3).every((s) => s === 400)).toBe(true);
      expect(Number(retryAfter)).toBeGreaterThan(0);
    } finally {
      await server.stop();
    }
  });
});

describe('the token endpoint and the audit trail', () => {
  it('records an AuditEvent for an issued and for a refused token, naming the client', async () => {
    const agency = await makeClient('agency', { system: 'urn:test:org', value: 'audited' }, ['system/Task.rus'], { clientId: 'audited-agency' });
    const server = await startSqliteServer('warn', { clients: [agency] });
    try {
      await tokenFor(server, agency);
      const refused = await postToken(server.url, await tokenForm(agency, `${server.url}/auth/token`, 'system/Patient.cruds'));
      expect(refused.status).toBe(400);
      const events = (await fhirFetch<Bundle>(server, 'AuditEvent?_count=100')).body.entry?.map((e) => e.resource as AuditEvent) ?? [];
      const tokenEvents = events.filter((e) => JSON.stringify(e).includes('audited-agency') && JSON.stringify(e).includes('token'));
      expect(tokenEvents.map((e) => e.outcome).sort()).toEqual(['0', '4']);
    } finally {
      await server.stop();
    }
  });
});
