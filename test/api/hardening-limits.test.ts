// Request timeouts, per-client rate limits and the per-request logger, against real servers.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { OperationOutcome } from '@medplum/fhirtypes';
import express from 'express';
import type { Server } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { rateLimiter } from '../../src/api/hardening/rate-limit.ts';
import type { Principal } from '../../src/auth/principal.ts';
import { createLogger } from '../../src/log/logger.ts';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import { rawRequest } from './support/raw-request.ts';
import type { TestServer } from './support/server.ts';
import { startSqliteServer } from './support/server.ts';

const TIMEOUT_MS = 300;
const SLOW_MS = 900;

/** A store whose reads of Patient/slow-* take SLOW_MS, as a stuck database would. */
function slowReads(store: FhirStore): FhirStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'read') {
        return async (type: string, id: string) => {
          if (id.startsWith('slow')) {
            await delay(SLOW_MS);
          }
          return target.read(type, id);
        };
      }
      if (prop === 'forCaller') {
        // Each request reads through its caller's view of the store: wrap that view too.
        return (caller: Parameters<FhirStore['forCaller']>[0]) => slowReads(target.forCaller(caller));
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function logEntries(server: TestServer): Record<string, unknown>[] {
  return server.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe(`a request that runs longer than the timeout (${TIMEOUT_MS} ms)`, () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startSqliteServer('info', { limits: { requestTimeoutMs: TIMEOUT_MS }, wrapStore: slowReads });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('answers 504 timeout at the limit, drops the late result, and the server keeps serving', async () => {
    const started = Date.now();
    const response = await fetch(`${server.fhir}/Patient/slow-1`, { headers: { 'x-request-id': 'slow-request-1', authorization: `Bearer ${server.token}` } });
    const elapsed = Date.now() - started;
    expect(response.status).toBe(504);
    const body = (await response.json()) as OperationOutcome;
    expect(body.issue[0]?.code).toBe('timeout');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(elapsed).toBeLessThan(SLOW_MS);

    // The handler finishes later (a 404): nothing is sent twice and nothing fails.
    await delay(SLOW_MS);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    await health.text();
    const read = await fetch(`${server.fhir}/Patient/fast-1`, { headers: { authorization: `Bearer ${server.token}` } });
    expect(read.status).toBe(404);
    await read.text();

    const entries = logEntries(server);
    expect(entries).toContainEqual(expect.objectContaining({ level: 'warn', message: 'request timed out', requestId: 'slow-request-1', limitMs: TIMEOUT_MS }));
    expect(entries).toContainEqual(expect.objectContaining({ message: 'request', requestId: 'slow-request-1', status: 504 }));
    expect(entries.filter((e) => e.level === 'error')).toEqual([]);
  });
});

describe('the rate limit per client (3 a minute here)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startSqliteServer('warn', { limits: { rateLimitPerMinute: 3 } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('answers 429 throttled with Retry-After after the limit, and other clients are unaffected', async () => {
    const first = `${server.fhir}/metadata`;
    const allowed = [];
    for (let i = 0; i < 3; i++) {
      allowed.push(await rawRequest(first, { localAddress: '127.0.0.1' }));
    }
    expect(allowed.map((a) => a.status)).toEqual([200, 200, 200]);
    // IETF draft 8; pk is a hash of the client's key, not the key.
    expect(allowed[0]?.headers['ratelimit-policy']).toMatch(/^"3-in-1min"; q=3; w=60; pk=:[A-Za-z0-9+/=]+:$/);
    expect(allowed[2]?.headers.ratelimit).toMatch(/^"3-in-1min"; r=0; t=\d+(; pk=:[A-Za-z0-9+/=]+:)?$/);

    const refused = await rawRequest(first, { localAddress: '127.0.0.1' });
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const body = JSON.parse(refused.text) as OperationOutcome;
    expect(body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'throttled' }] });
    expect(body.issue[0]?.details?.text).toContain('at most 3 per minute');
    expect(refused.headers['x-frame-options']).toBe('DENY');
    expect(refused.headers['x-request-id']).toBeTruthy();

    // Another address is another client; probes are not counted.
    expect((await rawRequest(first, { localAddress: '127.0.0.2' })).status).toBe(200);
    expect((await rawRequest(`${server.url}/healthz`, { localAddress: '127.0.0.1' })).status).toBe(200);
  });
});

describe('the rate-limit key', () => {
  // Stands in for the bearer middleware, which runs before the limiter and sets the principal.
  const principalFrom = (req: express.Request, res: express.Response, next: express.NextFunction) => {
    const clientId = req.get('x-stand-in-client');
    if (clientId) {
      res.locals.principal = { clientId, clientName: clientId, role: 'agency', organization: { system: 'urn:test', value: clientId }, scopes: [] } satisfies Principal;
    }
    next();
  };
  let http: Server;
  let url: string;
  beforeAll(async () => {
    const app = express();
    app.use(principalFrom, rateLimiter(2, createLogger({ stream: new Writable({ write: (_c, _e, done) => done() }) })) as express.RequestHandler);
    app.get('/', (_req, res) => {
      res.json({ ok: true });
    });
    http = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => http.once('listening', resolve));
    const address = http.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
  });
  afterAll(async () => {
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });

  it('is the authenticated client, so clients behind one address are counted apart', async () => {
    const as = (client?: string) => rawRequest(url, { headers: client ? { 'x-stand-in-client': client } : {} }).then((a) => a.status);
    expect([await as('agency-a'), await as('agency-a'), await as('agency-a')]).toEqual([200, 200, 429]);
    expect([await as('agency-b'), await as('agency-b')]).toEqual([200, 200]);
    // Unauthenticated callers are counted by address, apart from the clients.
    expect([await as(), await as(), await as()]).toEqual([200, 200, 429]);
  });
});

describe('the per-request logger', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startSqliteServer('info');
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('stamps every line of a request with its id, never with the Authorization header', async () => {
    const token = server.token;
    const response = await fetch(`${server.fhir}/Patient/abc`, { headers: { 'x-request-id': 'trace-7', authorization: `Bearer ${token}` } });
    expect(response.headers.get('x-request-id')).toBe('trace-7');
    await response.text();
    await delay(20);
    const lines = logEntries(server).filter((e) => e.requestId === 'trace-7');
    expect(lines).toContainEqual(expect.objectContaining({ message: 'request', method: 'GET', route: '/fhir/:type/:id', status: 404 }));
    expect(server.logs.join('')).not.toContain(token);
  });
});
