// /healthz, /readyz and /metrics on a real server (initServer, SQLite file): who may scrape, what
// the request and validation counters say (by route pattern, never a path), what readiness checks,
// and that probes and scrapes are neither rate limited nor audited.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { OperationOutcome } from '@medplum/fhirtypes';
import Database from 'better-sqlite3';
import { Metrics } from '../../src/observability/metrics.ts';
import { EXPECTED_SCHEMA_VERSION } from '../../src/observability/readiness.ts';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import type { TestClient } from '../support/auth.ts';
import { makeClient, tokenFor } from '../support/auth.ts';
import { readJson } from '../support/fixtures.ts';
import type { ObservedServer } from './support/server.ts';
import { sample, startObservedServer } from './support/server.ts';

const METRICS_TOKEN = 'f'.repeat(16) + '0123456789abcdef0123456789abcdef';

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

async function auditEvents(store: FhirStore): Promise<number> {
  return (await store.search({ resourceType: 'AuditEvent', count: 0, total: 'accurate' })).total ?? 0;
}

async function scrape(server: ObservedServer, token = server.token): Promise<string> {
  const answer = await fetch(`${server.url}/metrics`, { headers: bearer(token) });
  expect(answer.status).toBe(200);
  return answer.text();
}

describe('GET /metrics', () => {
  let server: ObservedServer;
  let agency: TestClient;

  beforeAll(async () => {
    agency = await makeClient('agency', { system: 'http://hl7.org/fhir/sid/us-npi', value: '1266190432' }, ['system/*.rs'], { clientId: 'obs-agency' });
    server = await startObservedServer({ clients: [agency], observability: { metrics: new Metrics(), metricsToken: METRICS_TOKEN } });
  });

  afterAll(async () => {
    await server.dispose();
  });

  it('needs the metrics token or an admin token: 401 without either, 403 for another client, both refusals audited', async () => {
    const before = await auditEvents(server.store);
    const none = await fetch(`${server.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="carebridge"');
    const wrong = await fetch(`${server.url}/metrics`, { headers: bearer(`${METRICS_TOKEN.slice(0, -1)}0`) });
    expect(wrong.status).toBe(401);
    const other = await fetch(`${server.url}/metrics`, { headers: bearer(await tokenFor(server, agency)) });
    expect(other.status).toBe(403);
    expect(((await other.json()) as OperationOutcome).issue?.[0]?.code).toBe('forbidden');

    const byToken = await fetch(`${server.url}/metrics`, { headers: bearer(METRICS_TOKEN) });
    expect(byToken.status).toBe(200);
    expect(byToken.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await byToken.text()).toContain('# TYPE carebridge_http_requests_total counter');
    expect((await fetch(`${server.url}/metrics`, { headers: bearer(server.token) })).status).toBe(200);
    // 401, 401, the agency's token request, 403: four events; the two scrapes none.
    await server.running.close().catch(() => undefined);
    expect((await auditEvents(server.store)) - before).toBe(4);
  });
});

describe('the request and validation counters', () => {
  let server: ObservedServer;

  beforeAll(async () => {
    server = await startObservedServer({ observability: { metrics: new Metrics(), metricsToken: METRICS_TOKEN } });
  });

  afterAll(async () => {
    await server.dispose();
  });

  it('count each request once by route pattern, method and status; an id in the path never becomes a label', async () => {
    const mrn = 'MRN-0048151623';
    for (const path of [`/fhir/Patient/${mrn}`, `/FHIR/Patient/${mrn}`, '/fhir/Patient/another-id']) {
      expect((await fetch(`${server.url}${path}`, { headers: bearer(server.token) })).status).toBe(404);
    }
    expect((await fetch(`${server.url}/no/such/${mrn}`)).status).toBe(404);
    expect((await fetch(`${server.url}/fhir/Subscription/$status`, { headers: bearer(server.token) })).status).toBe(200);
    // One route of two alternatives: each request is named by its own pattern.
    expect((await fetch(`${server.url}/fhir/Subscription/${mrn}/$status`, { headers: bearer(server.token) })).status).toBe(404);
    // The 405 route's alternatives '/metadata' and '/:type' have as many segments: named by the one that matches.
    expect((await fetch(`${server.url}/fhir/Patient`, { method: 'DELETE', headers: bearer(server.token) })).status).toBe(405);
    const text = await scrape(server, METRICS_TOKEN);
    expect(sample(text, 'carebridge_http_requests_total{method="GET",route="/fhir/:type/:id",status="404"}')).toBe(3);
    expect(sample(text, 'carebridge_http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1);
    expect(sample(text, 'carebridge_http_requests_total{method="GET",route="/fhir/Subscription/$status",status="200"}')).toBe(1);
    expect(sample(text, 'carebridge_http_requests_total{method="GET",route="/fhir/Subscription/:id/$status",status="404"}')).toBe(1);
    expect(sample(text, 'carebridge_http_requests_total{method="DELETE",route="/fhir/:type",status="405"}')).toBe(1);
    expect(sample(text, 'carebridge_http_request_duration_seconds_count{method="GET",route="/fhir/:type/:id",status="404"}')).toBe(3);
    expect(sample(text, 'carebridge_http_requests_total{method="POST",route="/auth/token",status="200"}')).toBe(1);
    expect(text).not.toContain(mrn);
    expect(text).not.toContain('another-id');
  });

  it('count 400 and 422 OperationOutcomes by route and the type of their first error; an OAuth error is not one', async () => {
    const post = (path: string, body: unknown, type = 'application/fhir+json'): Promise<Response> =>
      fetch(`${server.url}${path}`, { method: 'POST', headers: { ...bearer(server.token), 'content-type': type }, body: JSON.stringify(body) });
    // R4: a code outside its required binding.
    expect((await post('/fhir/Patient', { resourceType: 'Patient', gender: 'robot' })).status).toBe(422);
    // The plan: not a plan (its JSON Schema), then a plan whose items break its rules.
    expect((await post('/transitions', readJson('invalid/wrong-types.json'), 'application/json')).status).toBe(400);
    expect((await post('/transitions', readJson('invalid/discharge-before-admission.json'), 'application/json')).status).toBe(422);
    expect((await fetch(`${server.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=password' })).status).toBe(400);

    const text = await scrape(server, METRICS_TOKEN);
    const failures = text.split('\n').filter((l) => l.startsWith('carebridge_validation_failures_total{'));
    expect(failures).toEqual([
      'carebridge_validation_failures_total{method="POST",route="/fhir/:type",status="422",issue="code-invalid"} 1',
      'carebridge_validation_failures_total{method="POST",route="/transitions",status="400",issue="value"} 1',
      'carebridge_validation_failures_total{method="POST",route="/transitions",status="422",issue="invariant"} 1',
    ]);
    expect(sample(text, 'carebridge_http_requests_total{method="POST",route="/auth/token",status="400"}')).toBe(1);
  });
});

describe('GET /readyz and /healthz', () => {
  it('ready: every check named ok, the schema at the version this code migrates to; no rate limit, no audit', async () => {
    const server = await startObservedServer({ limits: { rateLimitPerMinute: 3 } });
    try {
      const before = await auditEvents(server.store);
      for (let i = 0; i < 8; i++) {
        expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
        const ready = await fetch(`${server.url}/readyz`);
        expect(ready.status).toBe(200);
        expect(await ready.json()).toEqual({ status: 'ready', checks: { store: 'ok', migrations: 'ok', definitions: 'ok' }, store: 'sqlite', schemaVersion: EXPECTED_SCHEMA_VERSION });
      }
      // The limiter is on: the same client's fourth search in the minute is refused.
      const searches = [];
      for (let i = 0; i < 4; i++) {
        searches.push((await fetch(`${server.url}/fhir/Patient`, { headers: bearer(server.token) })).status);
      }
      expect(searches).toEqual([200, 200, 200, 429]);
      await server.close();
      // The three searches answered are audited (the limiter answers before the audit hook); sixteen probes are not.
      expect((await auditEvents(server.store)) - before).toBe(3);
    } finally {
      await server.dispose();
    }
  });

  it('a store with migrations missing: 503 naming "migrations"', async () => {
    const server = await startObservedServer();
    try {
      const db = new Database(server.file);
      db.prepare('DELETE FROM schema_migrations WHERE version = ?').run(EXPECTED_SCHEMA_VERSION);
      db.close();
      const answer = await fetch(`${server.url}/readyz`);
      expect(answer.status).toBe(503);
      expect(await answer.json()).toEqual({
        status: 'unavailable',
        failed: ['migrations'],
        checks: { store: 'ok', migrations: `schema version ${EXPECTED_SCHEMA_VERSION - 1}, this code needs ${EXPECTED_SCHEMA_VERSION}: run the migrations (carebridge serve runs them at start)`, definitions: 'ok' },
        store: 'sqlite',
        schemaVersion: EXPECTED_SCHEMA_VERSION - 1,
      });
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await server.dispose();
    }
  });

  it('a store that cannot answer: 503 naming "store", without its error; the log has it, once', async () => {
    const server = await startObservedServer();
    try {
      await server.store.close();
      for (let i = 0; i < 3; i++) {
        const answer = await fetch(`${server.url}/readyz`);
        expect(answer.status).toBe(503);
        const body = (await answer.json()) as { failed: string[]; checks: Record<string, string> };
        expect(body.failed).toEqual(['store', 'migrations']);
        expect(body.checks.store).toBe('unreachable');
        expect(JSON.stringify(body)).not.toMatch(/database|connection|open/i);
      }
      // /healthz asks nothing of the store.
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      const notReady = server.logs.map((l) => JSON.parse(l) as { message: string; storeError?: string }).filter((l) => l.message === 'not ready');
      expect(notReady).toEqual([expect.objectContaining({ failed: ['store', 'migrations'], storeError: expect.stringMatching(/not open/) })]);
    } finally {
      await server.dispose();
    }
  });

  it('/metrics still answers with the store down: the process counters, and carebridge_store_up 0', async () => {
    const server = await startObservedServer({ observability: { metricsToken: METRICS_TOKEN } });
    try {
      await server.store.close();
      const text = await scrape(server, METRICS_TOKEN);
      expect(sample(text, 'carebridge_store_up')).toBe(0);
      expect(text).not.toMatch(/^carebridge_outbox_pending\{/m);
      expect(sample(text, 'carebridge_http_requests_total{method="POST",route="/auth/token",status="200"}')).toBe(1);
    } finally {
      await server.dispose();
    }
  });
});
