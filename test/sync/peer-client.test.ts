// The peer client against real HTTP servers on 127.0.0.1 (answers, limits, outages) and nock for
// what a local server cannot easily do (connection resets, a token endpoint that renews).
import { useNock } from '../support/nock.ts';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import type { PeerConfig } from '../../src/config/peers.ts';
import { withPeerDefaults } from '../../src/config/peers.ts';
import { PeerClient, PeerError, parseRetryAfter } from '../../src/sync/connectors/peer-client.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let base: string;
let handler: Handler = (_req, res) => res.end();

beforeAll(async () => {
  server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function peer(extra: Partial<PeerConfig> = {}, limits: Partial<PeerConfig['limits']> = {}): PeerConfig {
  const config = withPeerDefaults({ name: 'sunrise', kind: 'agency', organization: { system: 'urn:test', value: 'a' }, fhirBaseUrl: base, ...extra });
  return { ...config, limits: { ...config.limits, timeoutMs: 500, ...limits } };
}

async function failureOf(promise: Promise<unknown>): Promise<PeerError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PeerError);
  return err as PeerError;
}

describe('PeerClient over real HTTP', () => {
  it('sends JSON to a path under the base URL and parses the answer', async () => {
    let seen: { method?: string; url?: string; type?: string; body?: string } = {};
    handler = (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen = { method: req.method, url: req.url, type: req.headers['content-type'], body };
        res.writeHead(200, { 'content-type': 'application/fhir+json' }).end(JSON.stringify({ resourceType: 'CarePlan', id: 'x' }));
      });
    };
    const answer = await new PeerClient(peer()).request('PUT', { path: 'CarePlan?identifier=urn:x|1', body: { resourceType: 'CarePlan' } });
    expect(answer.body).toEqual({ resourceType: 'CarePlan', id: 'x' });
    expect(seen).toEqual({ method: 'PUT', url: '/fhir/CarePlan?identifier=urn:x|1', type: 'application/fhir+json', body: '{"resourceType":"CarePlan"}' });
  });

  it('sorts failures: 5xx, 408 and 429 are retried (with Retry-After), 401/403/404 block, other 4xx are rejected', async () => {
    const client = new PeerClient(peer());
    const cases: [number, string, Record<string, string>, number | undefined][] = [
      [503, 'retry', { 'retry-after': '7' }, 7000],
      [502, 'retry', {}, undefined],
      [429, 'retry', { 'retry-after': '2' }, 2000],
      [408, 'retry', {}, undefined],
      [401, 'blocked', {}, undefined],
      [403, 'blocked', {}, undefined],
      [404, 'blocked', {}, undefined],
      [422, 'rejected', {}, undefined],
      [409, 'rejected', {}, undefined],
    ];
    for (const [status, failure, headers, retryAfterMs] of cases) {
      handler = (_req, res) => res.writeHead(status, headers).end('{"resourceType":"OperationOutcome"}');
      const err = await failureOf(client.request('GET', { path: 'Task' }));
      expect({ status: err.status, failure: err.failure, retryAfterMs: err.retryAfterMs }).toEqual({ status, failure, retryAfterMs });
    }
  });

  it('gives up on a peer that does not answer, or answers its body too slowly, at the timeout', async () => {
    handler = () => undefined; // never answers
    const started = Date.now();
    expect((await failureOf(new PeerClient(peer()).request('GET'))).failure).toBe('retry');
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"resourceType":');
    }; // headers, then a body that never ends
    expect((await failureOf(new PeerClient(peer()).request('GET'))).message).toMatch(/did not answer in time/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses a body over the limit and a body that is not JSON', async () => {
    handler = (_req, res) => res.writeHead(200).end('x'.repeat(4096));
    expect((await failureOf(new PeerClient(peer({}, { maxResponseBytes: 1024 })).request('GET'))).failure).toBe('rejected');
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>proxy error</html>');
    const err = await failureOf(new PeerClient(peer()).request('GET'));
    expect(err.failure).toBe('retry');
    expect(err.message).toMatch(/not JSON/);
  });

  it('a refused connection is retried later', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await failureOf(new PeerClient(peer({ fhirBaseUrl: `http://127.0.0.1:${port}/fhir` })).request('GET'));
    expect(err.failure).toBe('retry');
    expect(err.message).toMatch(/unreachable/);
  });

  it('never follows a link to another origin', async () => {
    const client = new PeerClient(peer());
    expect(() => client.resolve('https://elsewhere.example/fhir/Task?page=2')).toThrow(PeerError);
    expect(client.resolve(`${base}/Task?page=2`).toString()).toBe(`${base}/Task?page=2`);
  });

  it('keeps at most maxConcurrent requests in flight', async () => {
    let active = 0;
    let most = 0;
    handler = (_req, res) => {
      active += 1;
      most = Math.max(most, active);
      setTimeout(() => {
        active -= 1;
        res.writeHead(200).end('{}');
      }, 20);
    };
    const client = new PeerClient(peer({}, { maxConcurrent: 2 }));
    await Promise.all(Array.from({ length: 8 }, () => client.request('GET')));
    expect(most).toBe(2);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, ignores nonsense, caps at a day', () => {
    const now = Date.parse('2026-11-24T12:00:00Z');
    expect(parseRetryAfter('30', now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 24 Nov 2026 12:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('9999999', now)).toBe(24 * 3600_000);
  });
});

describe('PeerClient against faults (nock)', () => {
  const PEER = 'https://agency.example.test';
  const nock = useNock();

  it('a connection reset is retried later', async () => {
    nock()(PEER).get('/fhir/Task').replyWithError({ code: 'ECONNRESET', message: 'socket hang up' });
    const err = await failureOf(new PeerClient(peer({ fhirBaseUrl: `${PEER}/fhir` })).request('GET', { path: 'Task' }));
    expect(err.failure).toBe('retry');
  });

  it('renews a refused SMART token once, then counts the 401', async () => {
    const { privateKey } = await generateKeyPair('ES384', { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: 'k1', alg: 'ES384' };
    let issued = 0;
    nock()(PEER)
      .post('/token')
      .times(3)
      .reply(200, async () => ({ access_token: `t${(issued += 1)}`, token_type: 'bearer', expires_in: 300 }));
    nock()(PEER).get('/fhir/Task').matchHeader('authorization', 'Bearer t1').reply(401);
    nock()(PEER).get('/fhir/Task').matchHeader('authorization', 'Bearer t2').reply(200, { resourceType: 'Bundle' });
    const auth = { type: 'smart-backend-services' as const, tokenUrl: `${PEER}/token`, clientId: 'carebridge', scope: 'system/Task.rs', privateKeyEnv: 'PEER_KEY' };
    // Not a test of timeouts: the file's 500 ms deadline could pass while a loaded CI machine signs the assertion.
    const client = new PeerClient(peer({ fhirBaseUrl: `${PEER}/fhir`, auth }, { timeoutMs: 10_000 }), { env: { PEER_KEY: JSON.stringify(jwk) } });
    expect((await client.request('GET', { path: 'Task' })).body).toEqual({ resourceType: 'Bundle' });
    nock()(PEER).get('/fhir/Task').times(2).reply(401);
    expect((await failureOf(client.request('GET', { path: 'Task' }))).failure).toBe('blocked');
    expect(issued).toBe(3);
  });

  it('says which variable is missing, never what a key holds', () => {
    const auth = { type: 'smart-backend-services' as const, tokenUrl: `${PEER}/token`, clientId: 'c', scope: 's', privateKeyEnv: 'NOPE' };
    expect(() => new PeerClient(peer({ auth }), { env: {} })).toThrow(/NOPE/);
    expect(() => new PeerClient(peer({ auth }), { env: { NOPE: 'not-json-secret' } })).toThrow(/not a JSON Web Key/);
  });
});
