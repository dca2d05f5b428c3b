// SmartClient against carebridge's own token endpoint over real HTTP, and against a nock'ed peer
// for what a real one may do wrong (5xx, garbage, a huge body; no answer from a silent server).
import { useNock } from '../support/nock.ts';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SmartClient, SmartTokenError } from '../../src/auth/smart-client.ts';
import type { TestServer } from '../api/support/server.ts';
import { startSqliteServer } from '../api/support/server.ts';
import type { TestClient } from '../support/auth.ts';
import { makeClient } from '../support/auth.ts';

let server: TestServer;
let peer: TestClient;
let rsaPeer: TestClient;

beforeAll(async () => {
  [peer, rsaPeer] = await Promise.all([
    makeClient('hospital', { system: 'urn:carebridge-test:org', value: 'peer' }, ['system/Patient.rs', 'system/Task.rs']),
    makeClient('agency', { system: 'urn:carebridge-test:org', value: 'rsa-peer' }, ['system/Task.rs'], { alg: 'RS384' }),
  ]);
  server = await startSqliteServer('warn', { clients: [peer, rsaPeer] });
});

afterAll(async () => {
  await server?.stop();
});

/** fetch that counts the requests to the token endpoint. */
function countingFetch(): { fetch: typeof fetch; tokenRequests: () => number } {
  let n = 0;
  return {
    fetch: (input, init) => {
      if (String(input).endsWith('/auth/token')) {
        n++;
      }
      return fetch(input, init);
    },
    tokenRequests: () => n,
  };
}

describe('SmartClient against carebridge', () => {
  it('gets a token with an ES384 assertion and reads with it', async () => {
    const client = new SmartClient({ tokenUrl: server.tokenUrl, clientId: peer.config.clientId, privateJwk: peer.privateJwk, scope: 'system/Patient.rs' });
    const response = await client.authorizedFetch(`${server.fhir}/Patient`);
    expect(response.status).toBe(200);
  });

  it('gets a token with an RS384 assertion', async () => {
    const client = new SmartClient({ tokenUrl: server.tokenUrl, clientId: rsaPeer.config.clientId, privateJwk: rsaPeer.privateJwk, scope: 'system/Task.rs' });
    expect((await client.authorizedFetch(`${server.fhir}/Task`)).status).toBe(200);
  });

  it('keeps the token until shortly before it expires, then gets a new one', async () => {
    let now = 1_000_000;
    const counter = countingFetch();
    const client = new SmartClient({ tokenUrl: server.tokenUrl, clientId: peer.config.clientId, privateJwk: peer.privateJwk, scope: 'system/Task.rs', fetch: counter.fetch, clock: () => now });
    const first = await client.getAccessToken();
    now += 260_000; // carebridge's tokens live 300 s; renewed 30 s before
    expect(await client.getAccessToken()).toBe(first);
    now += 15_000;
    const second = await client.getAccessToken();
    expect(second).not.toBe(first);
    expect(counter.tokenRequests()).toBe(2);
  });

  it('makes one token request for many concurrent callers', async () => {
    const counter = countingFetch();
    const client = new SmartClient({ tokenUrl: server.tokenUrl, clientId: peer.config.clientId, privateJwk: peer.privateJwk, scope: 'system/Patient.rs', fetch: counter.fetch });
    const tokens = await Promise.all(Array.from({ length: 10 }, () => client.getAccessToken()));
    expect(new Set(tokens).size).toBe(1);
    expect(counter.tokenRequests()).toBe(1);
  });

  it('retries once with a new token when the server says 401', async () => {
    const counter = countingFetch();
    const client = new SmartClient({ tokenUrl: server.tokenUrl, clientId: peer.config.clientId, privateJwk: peer.privateJwk, scope: 'system/Patient.rs', fetch: counter.fetch });
    await client.getAccessToken();
    (client as unknown as { cached: { accessToken: string } }).cached.accessToken = 'revoked.by.peer';
    expect((await client.authorizedFetch(`${server.fhir}/Patient`)).status).toBe(200);
    expect(counter.tokenRequests()).toBe(2);
  });

  it('says what the token endpoint refused', async () => {
    const client = new SmartClient({ tokenUrl: server.tokenUrl, clientId: peer.config.clientId, privateJwk: peer.privateJwk, scope: 'system/Coverage.rs' });
    await expect(client.getAccessToken()).rejects.toMatchObject({ name: 'SmartTokenError', status: 400, error: 'invalid_scope' });
    const stranger = new SmartClient({ tokenUrl: server.tokenUrl, clientId: 'not-registered', privateJwk: peer.privateJwk, scope: 'system/Patient.rs' });
    await expect(stranger.getAccessToken()).rejects.toMatchObject({ status: 401, error: 'invalid_client' });
  });

  it('refuses a key without kid or of another kind up front', () => {
    const { kid: _kid, ...noKid } = peer.privateJwk;
    expect(() => new SmartClient({ tokenUrl: server.tokenUrl, clientId: 'x', privateJwk: noKid, scope: 's' })).toThrow(SmartTokenError);
    expect(() => new SmartClient({ tokenUrl: server.tokenUrl, clientId: 'x', privateJwk: { kty: 'oct', k: 'AAAA', kid: 'h' }, scope: 's' })).toThrow(/EC P-384/);
  });
});

describe('SmartClient against a peer that misbehaves (nock)', () => {
  const PEER = 'https://peer.example.test';
  const client = (): SmartClient => new SmartClient({ tokenUrl: `${PEER}/oauth/token`, clientId: peer.config.clientId, privateJwk: peer.privateJwk, scope: 'system/Task.rs' });

  const nock = useNock();

  it('sends a SMART client_credentials request with a fresh assertion', async () => {
    let form: URLSearchParams | undefined;
    nock()(PEER)
      .post('/oauth/token')
      .reply(200, async (req: Request) => {
        form = new URLSearchParams(await req.text());
        return { access_token: 'abc', token_type: 'Bearer', expires_in: 300 };
      });
    expect(await client().getAccessToken()).toBe('abc');
    expect(form?.get('grant_type')).toBe('client_credentials');
    expect(form?.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    expect(form?.get('scope')).toBe('system/Task.rs');
    const claims = JSON.parse(Buffer.from((form?.get('client_assertion') ?? '').split('.')[1] as string, 'base64url').toString('utf8')) as Record<string, number | string>;
    expect(claims).toMatchObject({ iss: peer.config.clientId, sub: peer.config.clientId, aud: `${PEER}/oauth/token` });
    expect((claims.exp as number) - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(300);
  });

  it('a 5xx: SmartTokenError with the status, and the next call tries again', async () => {
    nock()(PEER).post('/oauth/token').reply(503, 'Service Unavailable');
    const c = client();
    await expect(c.getAccessToken()).rejects.toMatchObject({ name: 'SmartTokenError', status: 503 });
    nock()(PEER).post('/oauth/token').reply(200, { access_token: 'after-outage', token_type: 'bearer', expires_in: 300 });
    expect(await c.getAccessToken()).toBe('after-outage');
  });

  it('no answer in time: SmartTokenError', async () => {
    // A real server that never answers (nock's delay and fetch's abort trip over each other).
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const tokenUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/token`;
      const c = new SmartClient({ tokenUrl, clientId: peer.config.clientId, privateJwk: peer.privateJwk, scope: 'system/Task.rs', timeoutMs: 200 });
      await expect(c.getAccessToken()).rejects.toThrow('The token endpoint did not answer in time');
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('garbage, or JSON without a bearer token: SmartTokenError', async () => {
    nock()(PEER).post('/oauth/token').reply(200, '<html>login</html>', { 'content-type': 'text/html' });
    await expect(client().getAccessToken()).rejects.toThrow(/without a bearer access_token/);
    nock()(PEER).post('/oauth/token').reply(200, { access_token: 'x', token_type: 'mac', expires_in: 300 });
    await expect(client().getAccessToken()).rejects.toThrow(/without a bearer access_token/);
    nock()(PEER).post('/oauth/token').reply(200, { access_token: 'x', token_type: 'bearer' });
    await expect(client().getAccessToken()).rejects.toThrow(/expires_in/);
  });

  it('a huge body: SmartTokenError, not a huge string in memory', async () => {
    nock()(PEER).post('/oauth/token').reply(200, 'x'.repeat(200_000));
    await expect(client().getAccessToken()).rejects.toThrow(/more than 65536 bytes/);
  });
});
