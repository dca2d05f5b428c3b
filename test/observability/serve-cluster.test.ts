// /metrics of a real two-worker `carebridge serve` (child process, SQLite file): whichever worker
// a scrape reaches, the request counters are the sum over both workers, the store-backed gauges
// are the store's numbers (computed once, not once per worker), and the deliveries the
// background worker settles show up (latency to the agency that answers; retries to one that is down).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { SimulatedFhirPeer } from '../../src/sync/simulated/fhir-peer.ts';
import { startSimulatedFhirPeer } from '../../src/sync/simulated/fhir-peer.ts';
import { freePort } from '../api/support/child-server.ts';
import type { TestClient } from '../support/auth.ts';
import { makeClient, tokenFor, writeConfigFile } from '../support/auth.ts';
import { HOSPITAL_NPI, NPI, agencyNpi, broadcastPlan } from '../workflow/support/broadcast.ts';
import { sample } from './support/server.ts';
import type { ServeChild } from './support/serve-child.ts';
import { startServe } from './support/serve-child.ts';

const METRICS_TOKEN = 'cluster-metrics-token-0123456789abcdef';
const PROBES = 20;

/** GET on a connection of its own (no keep-alive): the primary hands each connection to the next worker. */
function getFresh(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

/** The soft limit of open files this process (and so each child) has: prom-client's process_max_fds per worker. */
function maxOpenFiles(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s{2,}/)[1]);
}

describe('/metrics of a two-worker cluster', () => {
  let dir: string;
  let config: string;
  let agency: SimulatedFhirPeer;
  let hospital: TestClient;
  let serve: ServeChild;
  let startedAt: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'carebridge-cluster-metrics-'));
    agency = await startSimulatedFhirPeer({ name: 'Charm City Home Health' });
    hospital = await makeClient('hospital', { system: NPI, value: HOSPITAL_NPI }, ['system/*.cruds'], { clientId: 'cluster-hospital' });
    const push = { resourceTypes: ['Patient', 'CarePlan'] };
    config = writeConfigFile([hospital], {
      peers: [
        { name: 'charm-city', kind: 'agency', organization: { system: NPI, value: agencyNpi(0) }, fhirBaseUrl: agency.baseUrl, push },
        // Nothing listens there: its deliveries stay pending, retried once a minute.
        { name: 'inner-harbor', kind: 'agency', organization: { system: NPI, value: agencyNpi(1) }, fhirBaseUrl: `http://127.0.0.1:${await freePort()}/fhir`, push, limits: { timeoutMs: 2000, retry: { initialDelayMs: 60_000, maxDelayMs: 60_000 } } },
      ],
    });
    startedAt = performance.now();
    serve = await startServe({ CAREBRIDGE_WORKERS: '2', CAREBRIDGE_DATABASE: `sqlite:${join(dir, 'carebridge.db')}`, CAREBRIDGE_CONFIG: config, CAREBRIDGE_METRICS_TOKEN: METRICS_TOKEN, LOG_LEVEL: 'info' });
    // The primary announces the first worker listening; wait for the second too.
    const deadline = Date.now() + 30_000;
    while ((serve.output().match(/"message":"listening"/g) ?? []).length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }, 60_000);

  afterAll(async () => {
    await serve?.kill();
    await agency?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(dirname(config), { recursive: true, force: true });
  });

  const scrape = async (): Promise<string> => {
    const answer = await getFresh(`${serve.url}/metrics`, { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(answer.status).toBe(200);
    return answer.body;
  };

  it('sums both workers\' counters whichever answers, and reads the store\'s gauges once', async () => {
    for (let i = 0; i < PROBES; i++) {
      expect((await getFresh(`${serve.url}/healthz`)).status).toBe(200);
    }
    const pushed = await fetch(`${serve.url}/transitions`, { method: 'POST', headers: { authorization: `Bearer ${await tokenFor(serve, hospital)}`, 'content-type': 'application/json' }, body: JSON.stringify(broadcastPlan('cluster', 2)) });
    expect(pushed.status).toBe(201);

    // The background worker delivers to the agency that answers and retries the one that is down.
    let text: string;
    const deadline = Date.now() + 30_000;
    do {
      text = await scrape();
      if ((sample(text, 'carebridge_outbox_pending{destination="charm-city"}') ?? 1) === 0 && (sample(text, 'carebridge_outbox_settled_total{destination="inner-harbor",outcome="retry"}') ?? 0) > 0) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    } while (Date.now() < deadline);
    expect(sample(text, 'carebridge_delivery_latency_seconds_count{destination="charm-city"}')).toBeGreaterThan(0);
    expect(sample(text, 'carebridge_outbox_settled_total{destination="inner-harbor",outcome="retry"}')).toBeGreaterThan(0);

    const store = await SqliteStore.open(join(dir, 'carebridge.db'));
    let counts;
    try {
      counts = await store.countDeliveries();
    } finally {
      await store.close();
    }
    const waiting = counts.find((c) => c.destination === 'inner-harbor')?.pending;
    expect(waiting).toBeGreaterThan(0);

    // Several scrapes, each on a new connection, so both workers answer some.
    for (let i = 0; i < 4; i++) {
      const text = await scrape();
      expect(sample(text, 'carebridge_http_requests_total{method="GET",route="/healthz",status="200"}')).toBe(PROBES);
      expect(sample(text, 'carebridge_http_requests_total{method="POST",route="/transitions",status="201"}')).toBe(1);
      // Summed over two workers: each worker's own limit, twice.
      expect(sample(text, 'process_max_fds')).toBe(2 * maxOpenFiles());
      // From the store, once: not doubled by the two workers.
      expect(sample(text, 'carebridge_outbox_pending{destination="inner-harbor"}')).toBe(waiting);
      expect(sample(text, 'carebridge_store_up')).toBe(1);
      expect(text.match(/^# TYPE carebridge_outbox_pending gauge$/gm)).toHaveLength(1);
    }
  }, 90_000);

  it('sums both workers\' use of the SQLite write lock they share: never held longer than they have run', async () => {
    // Each worker records the AuditEvent of a search it answers: a write transaction.
    const token = await tokenFor(serve, hospital);
    for (let i = 0; i < PROBES; i++) {
      expect((await getFresh(`${serve.url}/fhir/Patient?_count=1`, { authorization: `Bearer ${token}` })).status).toBe(200);
    }
    const text = await scrape();
    const held = sample(text, 'carebridge_sqlite_write_lock_held_seconds_total') ?? NaN;
    expect(sample(text, 'carebridge_sqlite_write_transactions_total')).toBeGreaterThan(0);
    expect(held).toBeGreaterThan(0);
    // One lock: the two workers' held times add up to at most the time since they started.
    expect(held).toBeLessThanOrEqual((performance.now() - startedAt) / 1000);
    expect(sample(text, 'carebridge_sqlite_write_lock_wait_seconds_total')).toBeGreaterThanOrEqual(0);
    expect(text.match(/^# TYPE carebridge_sqlite_write_lock_held_seconds_total counter$/gm)).toHaveLength(1);
  }, 30_000);
});
