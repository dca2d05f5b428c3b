// Delivery benchmark (issue 6, "Speed"): `carebridge serve` (SQLite, its own process, the outbox
// dispatcher in its background worker) pushes to a simulated agency FHIR server (fhir-router,
// 127.0.0.1, in this process) while plans arrive over HTTP.
//   1. steady load: plans pushed at a fixed rate; the time from a change's commit (its outbox
//      row) to its arrival at the peer, p50/p95/p99, and deliveries per second;
//   2. outage and catch-up: the peer answers 503 while plans keep coming until 10,000
//      deliveries wait; then it is back, and the time until the queue is empty is measured.
// Prints figures only; asserts nothing. Run: node bench/delivery.ts (about 2 minutes).
// Environment: BENCH_DELIVERY_RATE (plans/s in the steady phase, default 5),
// BENCH_DELIVERY_SECONDS (steady phase, default 30), BENCH_BACKLOG (default 10000),
// BENCH_OUTAGE_SECONDS (keep the peer down at least this long, default 0: as long as queueing
// the backlog takes; 600 reproduces the 10-minute outage).
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/api/support/child-server.ts';
import { makeClient, tokenFor, writeConfigFile } from '../test/support/auth.ts';
import { HOSPITAL_NPI, NPI, agencyNpi, broadcastPlan } from '../test/workflow/support/broadcast.ts';
import type { Delivery } from '../src/store/outbox.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { startSimulatedFhirPeer } from '../src/sync/simulated/fhir-peer.ts';
import { section, table } from './print.ts';

const RATE = Number(process.env.BENCH_DELIVERY_RATE ?? 5);
const STEADY_SECONDS = Number(process.env.BENCH_DELIVERY_SECONDS ?? 30);
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 10_000);
const OUTAGE_SECONDS = Number(process.env.BENCH_OUTAGE_SECONDS ?? 0);
const TARGET_P95_MS = 1000;
const TARGET_CATCH_UP_S = 120;
const PUSHED_TYPES = ['Patient', 'CarePlan', 'CareTeam', 'Goal', 'Task', 'ServiceRequest', 'Appointment'];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number);
}

const dir = mkdtempSync(join(tmpdir(), 'carebridge-bench-delivery-'));
const database = join(dir, 'carebridge.db');
const peer = await startSimulatedFhirPeer({ name: 'Charm City Home Health' });
const hospital = await makeClient('hospital', { system: NPI, value: HOSPITAL_NPI }, ['system/*.cruds'], { clientId: 'bench-hospital' });
const config = writeConfigFile([hospital], {
  peers: [{ name: 'charm-city', kind: 'agency', organization: { system: NPI, value: agencyNpi(0) }, fhirBaseUrl: peer.baseUrl, push: { resourceTypes: PUSHED_TYPES } }],
});
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const { PUBLIC_URL: _p, CAREBRIDGE_DEV_MODE: _d, ...env } = process.env;
const child: ChildProcess = spawn(process.execPath, ['bin/carebridge.js', 'serve'], {
  cwd: new URL('..', import.meta.url),
  env: { ...env, PORT: String(port), HOST: '127.0.0.1', CAREBRIDGE_DATABASE: `sqlite:${database}`, CAREBRIDGE_CONFIG: config, LOG_LEVEL: 'error', CAREBRIDGE_RATE_LIMIT: '0' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise<void>((resolve, reject) => {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (output.includes('carebridge listening on')) {
      resolve();
    }
  });
  child.once('exit', (code) => reject(new Error(`carebridge serve exited with ${code}`)));
});
const store = await SqliteStore.open(database);

let token = await tokenFor({ url }, hospital);
let tokenAt = Date.now();
let planNumber = 0;
async function pushPlan(): Promise<void> {
  if (Date.now() - tokenAt > 200_000) {
    token = await tokenFor({ url }, hospital);
    tokenAt = Date.now();
  }
  const response = await fetch(`${url}/transitions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(broadcastPlan(`bench-delivery-${(planNumber += 1)}`, 1)),
  });
  await response.text();
  if (response.status !== 201) {
    throw new Error(`push answered ${response.status}`);
  }
}

async function pending(): Promise<number> {
  return (await store.countDeliveries()).reduce((n, c) => n + c.pending, 0);
}

async function drained(timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while ((await pending()) > 0) {
    if (Date.now() > deadline) {
      return false;
    }
    await sleep(100);
  }
  return true;
}

/** Arrival at the peer of each delivery (first time its event id came, answered 2xx). */
function arrivals(): Map<string, number> {
  const first = new Map<string, number>();
  for (const request of peer.requests) {
    const eventId = request.headers['x-carebridge-event-id'];
    if (eventId && request.status !== undefined && request.status < 300 && !first.has(eventId)) {
      first.set(eventId, Date.parse(request.time));
    }
  }
  return first;
}

async function allDeliveries(): Promise<Delivery[]> {
  const rows: Delivery[] = [];
  for (;;) {
    const page = await store.listDeliveries({ afterId: rows.at(-1)?.id ?? 0, limit: 5000 });
    rows.push(...page);
    if (page.length < 5000) {
      return rows;
    }
  }
}

try {
  // 1. Steady load.
  section(`Delivery to a local agency FHIR server: ${RATE} plans/s for ${STEADY_SECONDS} s`);
  const steadyStart = Date.now();
  const pushes: Promise<void>[] = [];
  for (let i = 0; i < RATE * STEADY_SECONDS; i += 1) {
    const due = steadyStart + (i * 1000) / RATE;
    await sleep(Math.max(0, due - Date.now()));
    pushes.push(pushPlan());
  }
  await Promise.all(pushes);
  const steadyPushed = Date.now();
  await drained(120_000);
  const steadyEnd = Date.now();
  const seen = arrivals();
  const steadyRows = (await allDeliveries()).filter((d) => d.state === 'delivered');
  const latencies = steadyRows.flatMap((d) => {
    const at = seen.get(d.eventId);
    return at === undefined ? [] : [at - d.createdMs];
  });
  latencies.sort((a, b) => a - b);
  const superseded = (await allDeliveries()).filter((d) => d.state === 'superseded').length;
  table(
    ['measure', 'value'],
    [
      ['plans pushed', String(planNumber)],
      ['deliveries sent (superseded skipped)', `${steadyRows.length} (${superseded})`],
      ['deliveries/s over the run', ((steadyRows.length / (steadyEnd - steadyStart)) * 1000).toFixed(1)],
      ['queue empty after the last push', `${steadyEnd - steadyPushed} ms`],
      ['commit → arrival p50', `${percentile(latencies, 50)} ms`],
      ['commit → arrival p95', `${percentile(latencies, 95)} ms (target ≤ ${TARGET_P95_MS})`],
      ['commit → arrival p99', `${percentile(latencies, 99)} ms`],
      ['commit → arrival max', `${latencies.at(-1)} ms`],
    ],
  );

  // 2. Outage and catch-up.
  section(`Outage: the peer answers 503 until ${BACKLOG} deliveries wait, then comes back`);
  const before = steadyRows.length;
  peer.setDown('unavailable');
  const outageStart = Date.now();
  while ((await pending()) < BACKLOG) {
    await Promise.all(Array.from({ length: 4 }, () => pushPlan()));
  }
  await sleep(Math.max(0, outageStart + OUTAGE_SECONDS * 1000 - Date.now()));
  const queued = await pending();
  const outageSeconds = (Date.now() - outageStart) / 1000;
  peer.setDown(false);
  const back = Date.now();
  // A probe gets through within the pause (30 s at most), then everything waiting is due at once.
  const caughtUp = await drained(600_000);
  const catchUp = (Date.now() - back) / 1000;
  const delivered = (await allDeliveries()).filter((d) => d.state === 'delivered').length - before;
  const refused = peer.requests.filter((r) => r.status === 503).length;
  table(
    ['measure', 'value'],
    [
      ['outage', `${outageSeconds.toFixed(0)} s (${planNumber} plans pushed in all)`],
      ['deliveries waiting when the peer came back', String(queued)],
      ['requests refused during the outage (503)', `${refused} (paused after 5 failures, probed every 30 s)`],
      ['queue empty after the peer came back', `${catchUp.toFixed(1)} s${caughtUp ? '' : ' (not empty after 10 minutes)'} (target < ${TARGET_CATCH_UP_S} s)`],
      ['deliveries sent in the catch-up', String(delivered)],
      ['deliveries/s in the catch-up', (delivered / catchUp).toFixed(0)],
    ],
  );
  console.log(`\nserver: 2 workers, SQLite; peer: @medplum/fhir-router in-memory, one request at a time; ${new Date().toISOString()}`);
} finally {
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  await store.close();
  await peer.close();
  rmSync(dir, { recursive: true, force: true });
}
