// Security headers on every kind of answer, CORS off unless configured, and the body limit.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { IncomingHttpHeaders } from 'node:http';
import type { OperationOutcome, Patient } from '@medplum/fhirtypes';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import type { TestServer } from './support/server.ts';
import { startSqliteServer } from './support/server.ts';
import { rawRequest } from './support/raw-request.ts';

type HeaderSource = Headers | IncomingHttpHeaders;

function header(headers: HeaderSource, name: string): string | undefined {
  const value = headers instanceof Headers ? headers.get(name) : headers[name];
  return value === null || value === undefined ? undefined : String(value);
}

function expectSecurityHeaders(headers: HeaderSource): void {
  expect({
    csp: header(headers, 'content-security-policy'),
    hsts: header(headers, 'strict-transport-security'),
    frame: header(headers, 'x-frame-options'),
    sniff: header(headers, 'x-content-type-options'),
    referrer: header(headers, 'referrer-policy'),
    corp: header(headers, 'cross-origin-resource-policy'),
    coop: header(headers, 'cross-origin-opener-policy'),
    poweredBy: header(headers, 'x-powered-by'),
  }).toEqual({
    csp: "default-src 'none';frame-ancestors 'none'",
    hsts: 'max-age=31536000; includeSubDomains',
    frame: 'DENY',
    sniff: 'nosniff',
    referrer: 'no-referrer',
    corp: 'same-origin',
    coop: 'same-origin',
    poweredBy: undefined,
  });
}

function expectNoCors(headers: HeaderSource): void {
  const names = headers instanceof Headers ? [...headers.keys()] : Object.keys(headers);
  expect(names.filter((n) => n.toLowerCase().startsWith('access-control-'))).toEqual([]);
}

function outcomeCode(text: string): string | undefined {
  const body = JSON.parse(text) as OperationOutcome;
  expect(body.resourceType).toBe('OperationOutcome');
  return body.issue[0]?.code;
}

/** A store whose reads of Patient/boom-* fail as a broken database would. */
function failingReads(store: FhirStore): FhirStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'read') {
        return (type: string, id: string) => (id.startsWith('boom') ? Promise.reject(new Error('disk I/O error')) : target.read(type, id));
      }
      if (prop === 'forCaller') {
        // Each request reads through its caller's view of the store: wrap that view too.
        return (caller: Parameters<FhirStore['forCaller']>[0]) => failingReads(target.forCaller(caller));
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** A Patient whose JSON text is exactly `bytes` long (trailing spaces are still JSON). */
function patientOfSize(bytes: number): string {
  const text = JSON.stringify({ resourceType: 'Patient', gender: 'female' } satisfies Patient);
  return text + ' '.repeat(bytes - Buffer.byteLength(text));
}

const LIMIT = 2048;
let server: TestServer;
let corsServer: TestServer;

beforeAll(async () => {
  server = await startSqliteServer('warn', { limits: { maxBodyBytes: LIMIT }, wrapStore: failingReads });
  corsServer = await startSqliteServer('warn', { limits: { corsOrigins: ['https://app.example.org'] } });
});

afterAll(async () => {
  await server?.stop();
  await corsServer?.stop();
});

describe('security headers', () => {
  it.each([
    ['a health check', '/healthz', 200],
    ['a FHIR read', '/fhir/metadata', 200],
    ['an unknown path', '/nowhere', 404],
    ['an unknown resource', '/fhir/Patient/missing', 404],
    ['an unsupported resource type', '/fhir/Bogus', 404],
    ['a store failure', '/fhir/Patient/boom-1', 500],
  ])('are on %s (GET %s → %i)', async (_name, path, status) => {
    const response = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${server.token}` } });
    expect(response.status).toBe(status);
    expectSecurityHeaders(response.headers);
    await response.text();
  });

  it('are on a 400 OperationOutcome for a malformed body', async () => {
    const response = await fetch(`${server.fhir}/Patient`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${server.token}` }, body: '{not json' });
    expect(response.status).toBe(400);
    expect(outcomeCode(await response.text())).toBe('invalid');
    expectSecurityHeaders(response.headers);
  });

  it('are on answers Node writes itself (431 headers too large)', async () => {
    const answer = await rawRequest(`${server.fhir}/metadata`, { headers: { 'x-huge': 'a'.repeat(20_000) } });
    expect(answer.status).toBe(431);
    expect(outcomeCode(answer.text)).toBe('invalid');
    expectSecurityHeaders(answer.headers);
  });

  it('are on a 417 OperationOutcome for an Expect other than 100-continue, and nothing is written', async () => {
    const family = `Expect-${Date.now()}`;
    const answer = await rawRequest(`${server.fhir}/Patient`, { method: 'POST', headers: { expect: 'nonsense', 'content-type': 'application/fhir+json', authorization: `Bearer ${server.token}` }, body: JSON.stringify({ resourceType: 'Patient', name: [{ family }] }) });
    expect(answer.status).toBe(417);
    expect(answer.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(outcomeCode(answer.text)).toBe('not-supported');
    expectSecurityHeaders(answer.headers);
    const found = await fetch(`${server.fhir}/Patient?family=${family}&_summary=count`, { headers: { authorization: `Bearer ${server.token}` } });
    expect(((await found.json()) as { total?: number }).total).toBe(0);
  });

  it('are on a 400 OperationOutcome for an HTTP/1.1 request without Host', async () => {
    const answer = await rawRequest(`${server.fhir}/metadata`, { setHost: false });
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(outcomeCode(answer.text)).toBe('invalid');
    expect(answer.text).toContain('Host');
    expectSecurityHeaders(answer.headers);
  });
});

describe('CORS, off by default', () => {
  it('adds no Access-Control-* header, even when a page on another origin asks', async () => {
    const response = await fetch(`${server.fhir}/metadata`, { headers: { origin: 'https://evil.example' } });
    expect(response.status).toBe(200);
    expectNoCors(response.headers);
    await response.text();
  });

  it('approves no preflight: OPTIONS is 405 with an OperationOutcome', async () => {
    const answer = await rawRequest(`${server.fhir}/Patient`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    expect(answer.status).toBe(405);
    expect(outcomeCode(answer.text)).toBe('not-supported');
    expectNoCors(answer.headers);
    expectSecurityHeaders(answer.headers);
  });
});

describe('CORS with CAREBRIDGE_CORS_ORIGINS', () => {
  const preflight = (origin: string) => rawRequest(`${corsServer.fhir}/Patient`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });

  it('lets a listed origin read answers and the headers a FHIR client needs', async () => {
    const response = await fetch(`${corsServer.fhir}/metadata`, { headers: { origin: 'https://app.example.org' } });
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.org');
    expect(response.headers.get('vary')).toMatch(/Origin/);
    expect(response.headers.get('access-control-expose-headers')).toMatch(/ETag.*Location.*Retry-After/);
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    expectSecurityHeaders(response.headers);
    await response.text();
  });

  it('approves a listed origin\'s preflight', async () => {
    const answer = await preflight('https://app.example.org');
    expect(answer.status).toBe(204);
    expect(answer.headers['access-control-allow-origin']).toBe('https://app.example.org');
    expect(answer.headers['access-control-allow-methods']).toBe('GET,POST,PUT,DELETE');
    expect(answer.headers['access-control-allow-headers']).toMatch(/Authorization.*Content-Type/);
  });

  it('gives any other origin nothing: no headers, preflight 405', async () => {
    const response = await fetch(`${corsServer.fhir}/metadata`, { headers: { origin: 'https://app.example.org.evil.example' } });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    await response.text();
    const answer = await preflight('https://other.example.org');
    expect(answer.status).toBe(405);
    expectNoCors(answer.headers);
  });
});

describe(`the body limit (configured: ${LIMIT} bytes)`, () => {
  const post = (body: RequestInit['body'], extra: RequestInit = {}) => fetch(`${server.fhir}/Patient`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${server.token}` }, body, ...extra });

  it('accepts a body of exactly the limit', async () => {
    const response = await post(patientOfSize(LIMIT));
    expect(response.status).toBe(201);
    await response.text();
  });

  it('answers one byte more with 413, naming the limit', async () => {
    const response = await post(patientOfSize(LIMIT + 1));
    expect(response.status).toBe(413);
    const text = await response.text();
    expect(outcomeCode(text)).toBe('too-costly');
    expect(text).toContain('at most 2 KB');
    expectSecurityHeaders(response.headers);
  });

  it('answers 413 for a chunked body without Content-Length, too', async () => {
    const bytes = new TextEncoder().encode(patientOfSize(LIMIT + 1));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.subarray(0, 1000));
        controller.enqueue(bytes.subarray(1000));
        controller.close();
      },
    });
    const response = await post(stream, { duplex: 'half' } as RequestInit);
    expect(response.status).toBe(413);
    expect(outcomeCode(await response.text())).toBe('too-costly');
  });
});
