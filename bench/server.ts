// Server benchmark (issue 3, "Speed and scale"): the real server (`carebridge serve`) in its own
// process, loaded by autocannon from another process (bench/load-worker.ts), 127.0.0.1 only.
//   1. ingest of 20-entry transaction Bundles (one new patient each), 1 and 8 connections,
//      SQLite and PostgreSQL: resources/s validated and stored;
//   2. search at 32 connections over many different ids, on stores seeded with 10k and 100k
//      patients (written straight through the store, not over HTTP);
//   3. the ceiling: a bare express route answering the same bytes as a typical search response;
//   4. peak RSS of the server process in each run.
// Prints figures only; asserts nothing. Run: npm run bench:server (about 10 minutes).
// Environment: BENCH_SECONDS (per search run, default 10), BENCH_SQLITE_PATIENTS (default
// 10000,100000), BENCH_PG_PATIENTS (default 10000), BENCH_INGEST_SECONDS (default 10),
// BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test; "none" skips PostgreSQL),
// BENCH_CPU_PROF=<dir> (the server processes write V8 CPU profiles there),
// BENCH_LOG_LEVEL (server LOG_LEVEL, default info as deployed).
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Result } from 'autocannon';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { FhirStore } from '../src/store/fhir-store.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import type { LoadJob } from './load-worker.ts';
import { ENTRIES_PER_BUNDLE, agency, seedPatient, seedTemplates, shuffled } from './workload.ts';
import type { WriteLockReading } from './write-lock.ts';
import { readWriteLock } from './write-lock.ts';
import { section, table } from './print.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SEARCH_SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const INGEST_SECONDS = Number(process.env.BENCH_INGEST_SECONDS ?? 10);
const sizes = (value: string | undefined, fallback: string): number[] =>
  (value ?? fallback)
    .split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => a - b);
const SQLITE_PATIENTS = sizes(process.env.BENCH_SQLITE_PATIENTS, '10000,100000');
const PG_PATIENTS = sizes(process.env.BENCH_PG_PATIENTS, '10000');
const CPU_PROF = process.env.BENCH_CPU_PROF;
/** Which sections run (BENCH_SECTIONS=search,auth): all by default. */
const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? 'ingest,search,ceiling,auth,push').split(',').map((x) => x.trim()));
/** Patients per agency Organization: Task?owner=Organization/x finds the same amount at any size. */
const PATIENTS_PER_AGENCY = 10;
const SEARCH_CONNECTIONS = 32;
const TARGET_INGEST = 4000;
const TARGET_SEARCH_RPS = 6000;
const TARGET_SEARCH_P99 = 10;

// ---------------------------------------------------------------------------------------------
// Cleanup: child processes, PostgreSQL schemas, temp files — also on error and on Ctrl-C.

const cleanups: (() => Promise<void> | void)[] = [];
let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) {
    return;
  }
  cleaned = true;
  for (const step of cleanups.reverse()) {
    try {
      await step();
    } catch (err) {
      console.error(`  cleanup: ${(err as Error).message}`);
    }
  }
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

const tempDir = mkdtempSync(join(tmpdir(), 'carebridge-bench-'));
cleanups.push(() => rmSync(tempDir, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// Helpers

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-');
const mb = (kb: number): string => `${fmt(kb / 1024)} MB`;


async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * kB from /proc/<pid>/status (VmRSS now, VmHWM the peak so far), summed over the process and its
 * children: `carebridge serve` runs a cluster (a primary and one worker per core).
 */
function procStatus(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number {
  if (pid === undefined) {
    return NaN;
  }
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    let children: number[] = [];
    try {
      children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      // no children file: a single process
    }
    return (match ? Number(match[1]) : NaN) + children.reduce((sum, child) => sum + (procStatus(child, field) || 0), 0);
  } catch {
    return NaN;
  }
}

interface Child {
  process: ChildProcess;
  url: string;
  /** The last lines of its stderr, for error messages. */
  stderr: () => string;
  stop: () => Promise<number>;
}

/** Starts a Node process serving HTTP on a free port; resolves once `readyPath` answers 200. */
async function startChild(label: string, args: string[], env: Record<string, string>, readyPath: string): Promise<Child> {
  const port = await freePort();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    err = (err + chunk.toString('utf8')).slice(-4000);
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const stop = async (): Promise<number> => {
    const peak = procStatus(child.pid, 'VmHWM');
    if (!exited) {
      child.kill('SIGTERM');
      await Promise.race([exit, sleep(15_000)]);
      if (!exited) {
        child.kill('SIGKILL');
        await exit;
      }
    }
    return peak;
  };
  cleanups.push(async () => void (await stop()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) {
      throw new Error(`${label} exited before it was ready: ${err.trim().slice(-1500)}`);
    }
    try {
      const response = await fetch(`${url}${readyPath}`);
      await response.arrayBuffer();
      if (response.ok) {
        break;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${label} not ready after 60 s: ${err.trim().slice(-1500)}`);
    }
    await sleep(100);
  }
  return { process: child, url, stderr: () => err, stop };
}

function startCarebridge(database: string): Promise<Child> {
  // Development mode: the built-in client's token (devToken) spares the bench a key pair. Throughput
  // from one load generator (one client): the per-client rate limit would measure itself.
  const args = [...(CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : []), 'bin/carebridge.js', 'serve', '--dev'];
  return startChild('carebridge serve', args, { CAREBRIDGE_DATABASE: database, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', CAREBRIDGE_RATE_LIMIT: '0' }, '/readyz');
}

interface Run {
  result: Result;
  /** Highest VmRSS of the server sampled during the run, kB. */
  peakRssKb: number;
}

/** A fresh token of a development-mode client (tokens live 5 minutes; a bench runs longer). */
async function devToken(url: string, clientId = 'carebridge-dev'): Promise<string> {
  const response = await fetch(`${url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&client_id=${clientId}` });
  return ((await response.json()) as { access_token: string }).access_token;
}

/** The write lock's use so far (development mode: the built-in client is an admin, it may scrape). */
async function writeLockUse(server: Child): Promise<WriteLockReading | undefined> {
  return readWriteLock(server.url, await devToken(server.url));
}

/**
 * How busy the one write lock every worker shares was during a run of `seconds` (near 100 %: more
 * workers cannot write faster; readings just before and after it, so the index rows written
 * after its last request count too), '' on PostgreSQL.
 */
function lockUse(before: WriteLockReading | undefined, after: WriteLockReading | undefined, seconds: number, requests: number): string {
  if (!before || !after || seconds <= 0) {
    return '';
  }
  const held = after.held - before.held;
  const transactions = after.transactions - before.transactions;
  return `; SQLite write lock held ${fmt((100 * held) / seconds)}% of the run (${fmt((held * 1e3) / requests, 2)} ms per request; workers summed), waited for ${fmt(after.waited - before.waited, 1)} s in all; ${fmt(transactions)} write transactions (${fmt(requests / Math.max(1, transactions), 1)} requests each)`;
}

let jobs = 0;
/** Runs bench/load-worker.ts in its own process against `target`, sampling the server's RSS. */
async function load(target: Child, job: Omit<LoadJob, 'url'>, clientId?: string): Promise<Run> {
  const file = join(tempDir, `job-${++jobs}.json`);
  const token = target.process.spawnargs.includes('--dev') ? await devToken(target.url, clientId) : undefined;
  writeFileSync(file, JSON.stringify({ ...job, url: target.url, ...(token ? { token } : {}) }));
  let peakRssKb = procStatus(target.process.pid, 'VmRSS');
  const sampler = setInterval(() => {
    peakRssKb = Math.max(peakRssKb, procStatus(target.process.pid, 'VmRSS') || 0);
  }, 200);
  try {
    const worker = spawn(process.execPath, [join(ROOT, 'bench/load-worker.ts'), file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => void (worker.exitCode === null && worker.kill('SIGKILL')));
    let out = '';
    let err = '';
    worker.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    worker.stderr.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-4000)));
    const code = await new Promise<number | null>((resolve) => worker.once('exit', (c) => resolve(c)));
    const line = out.trim().split('\n').pop() ?? '';
    if (code !== 0 || !line.startsWith('{')) {
      throw new Error(`load worker failed (exit ${code}): ${err.trim().slice(-1500)}`);
    }
    return { result: JSON.parse(line) as Result, peakRssKb };
  } finally {
    clearInterval(sampler);
    rmSync(file, { force: true });
  }
}

async function getJson(url: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url, { headers: { accept: 'application/fhir+json', authorization: `Bearer ${await devToken(new URL(url).origin)}` } });
  return { status: response.status, text: await response.text() };
}

async function postgresReachable(): Promise<string | undefined> {
  if (PG_URL === 'none') {
    return 'BENCH_DATABASE_URL=none';
  }
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

interface Backend {
  name: 'SQLite' | 'PostgreSQL';
  /** CAREBRIDGE_DATABASE for the server. */
  database: string;
  open: () => Promise<FhirStore>;
  /** Drops its schema or removes its file (also done at the end, whatever happens). */
  discard: () => Promise<void>;
  /** Resources whose deferred index rows (the audit trail's) are not written yet. */
  backlog: () => Promise<number>;
}

/** Until the server has indexed what earlier runs left (so one run does not pay for another's). */
async function drainBacklog(backend: Backend): Promise<void> {
  for (const deadline = Date.now() + 120_000; (await backend.backlog()) > 0 && Date.now() < deadline; ) {
    await sleep(200);
  }
}

let schemas = 0;
function newBackend(name: Backend['name'], purpose: string): Backend {
  if (name === 'SQLite') {
    const file = join(tempDir, `${purpose}.db`);
    const discard = async (): Promise<void> => ['', '-wal', '-shm'].forEach((suffix) => rmSync(`${file}${suffix}`, { force: true }));
    const backlog = async (): Promise<number> => {
      const db = new Database(file, { readonly: true });
      try {
        return (db.prepare('SELECT COUNT(*) AS n FROM index_backlog').get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    return { name, database: `sqlite:${file}`, open: () => SqliteStore.open(file), discard, backlog };
  }
  const schema = `bench_${purpose}_${process.pid}_${++schemas}`;
  cleanups.push(() => dropSchema(schema));
  const url = new URL(PG_URL);
  url.searchParams.set('schema', schema);
  const backlog = async (): Promise<number> => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      return Number((await client.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${schema}.index_backlog`)).rows[0]?.n ?? 0);
    } finally {
      await client.end();
    }
  };
  return { name, database: url.toString(), open: () => PostgresStore.open(PG_URL, { schema, poolSize: 8 }), discard: () => dropSchema(schema), backlog };
}

// ---------------------------------------------------------------------------------------------
// Figures kept for the summary

interface Row {
  what: string;
  store: string;
  conns: number;
  rate: string;
  p50: string;
  p99: string;
  errors: string;
  rss: string;
}
const summary: Row[] = [];
const notes: string[] = [];

/** Wall time of a run: autocannon's `duration` is whole seconds, too coarse for runs of a few seconds. */
function elapsedSeconds(result: Result): number {
  const ms = (result as Result & { elapsedMs?: number }).elapsedMs;
  return ms !== undefined && ms > 0 ? ms / 1000 : result.duration;
}

/**
 * Requests/s of a closed-loop run (each connection sends its next request when the last one
 * answered): connections / mean latency. The wall time of an amount-bound run ends on
 * autocannon's one-second tick, which skewed rates over ~7 s runs by up to 15 %.
 */
function closedLoopRate(result: Result, connections: number): number {
  return result.latency.average > 0 ? (connections * 1000) / result.latency.average : result['2xx'] / elapsedSeconds(result);
}

function latency(result: Result): { p50: string; p99: string } {
  return { p50: `${fmt(result.latency.p50, 1)} ms`, p99: `${fmt(result.latency.p99, 1)} ms` };
}

function failures(result: Result): string {
  const bad = result.non2xx + result.errors + result.timeouts;
  return bad === 0 ? '0' : `${fmt(bad)} (${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts)`;
}

// ---------------------------------------------------------------------------------------------
// 1. Ingest

let ingestTags = 0;
async function ingest(backendName: Backend['name']): Promise<void> {
  const backend = newBackend(backendName, 'ingest');
  const server = await startCarebridge(backend.database);
  try {
    // Warm-up (JIT, statement caches) and a first rate, to size the measured runs.
    const warm = await load(server, { connections: 8, ingest: { count: 150, seed: 9000, tag: `w${++ingestTags}` } });
    const warmRate = closedLoopRate(warm.result, 8);
    console.log(`  ${backend.name}: warm-up ${fmt(warm.result['2xx'])} Bundles, ${fmt(warmRate, 1)} Bundles/s (failures: ${failures(warm.result)})`);
    let sent = warm.result['2xx'];
    for (const connections of [1, 8]) {
      const count = Math.max(100, Math.min(4000, Math.round(warmRate * INGEST_SECONDS * (connections === 1 ? 0.6 : 1))));
      const lockBefore = await writeLockUse(server);
      const run = await load(server, { connections, ingest: { count, seed: 1000 * connections + ingestTags, tag: `i${++ingestTags}` } });
      const r = run.result;
      const lock = lockUse(lockBefore, await writeLockUse(server), elapsedSeconds(r), r['2xx']);
      sent += r['2xx'];
      const bundlesPerSecond = closedLoopRate(r, connections);
      const resourcesPerSecond = bundlesPerSecond * ENTRIES_PER_BUNDLE;
      const { p50, p99 } = latency(r);
      console.log(
        `  ${backend.name}, ${connections} conn: ${fmt(r['2xx'])} Bundles in ${fmt(elapsedSeconds(r), 1)} s = ${fmt(bundlesPerSecond, 1)} Bundles/s = ${fmt(resourcesPerSecond)} resources/s; p50 ${p50}, p99 ${p99}; failures ${failures(r)}; server peak RSS ${mb(run.peakRssKb)}${lock}`,
      );
      summary.push({ what: `ingest (20-entry transaction)`, store: backend.name, conns: connections, rate: `${fmt(resourcesPerSecond)} res/s`, p50, p99, errors: failures(r), rss: mb(run.peakRssKb) });
    }
    // Every Bundle holds exactly one Patient: the store must hold one per accepted Bundle.
    const count = await getJson(`${server.url}/fhir/Patient?_summary=count`);
    const total = (JSON.parse(count.text) as { total?: number }).total;
    console.log(`  ${backend.name}: check: ${fmt(total ?? NaN)} Patients stored for ${fmt(sent)} accepted Bundles${total === sent ? ' (consistent)' : ' (MISMATCH)'}`);
  } finally {
    const peak = await server.stop();
    console.log(`  ${backend.name}: server VmHWM over the ingest runs ${mb(peak)}`);
    await backend.discard();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Search

interface Seeded {
  patients: string[];
  /** Organizations owning at least one requested Task. */
  owners: Set<string>;
  resources: number;
}

const templates = seedTemplates(300, 4242);

/** Writes patients [from, to) with their CareTeam, CarePlan and Tasks, in big transactions. */
async function seed(store: FhirStore, from: number, to: number, agencies: number, seeded: Seeded): Promise<number> {
  const start = performance.now();
  const batch = 500;
  const parallel = store.kind === 'postgres' ? 4 : 1;
  let next = from;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (;;) {
        const begin = next;
        next += batch;
        if (begin >= to) {
          return;
        }
        // Let timers and signals (Ctrl-C) in: the synchronous SQLite driver never yields otherwise.
        await new Promise((resolve) => setImmediate(resolve));
        await store.transaction(async (tx) => {
          for (let n = begin; n < Math.min(to, begin + batch); n++) {
            for (const { resource, id } of seedPatient(templates[n % templates.length] as (typeof templates)[number], n, agencies)) {
              await tx.create(resource, { assignedId: id });
              seeded.resources++;
              if (resource.resourceType === 'Patient') {
                seeded.patients.push(id);
              } else if (resource.resourceType === 'Task') {
                const task = resource as { status?: string; owner?: { reference?: string } };
                if (task.status === 'requested' && task.owner?.reference?.startsWith('Organization/')) {
                  seeded.owners.add(task.owner.reference.slice('Organization/'.length));
                }
              }
            }
          }
        });
      }
    }),
  );
  return performance.now() - start;
}

interface SearchFigure {
  rps: number;
  p50: number;
  p99: number;
}
const searchFigures = new Map<string, SearchFigure>();
/** One typical response per query (from the first SQLite size), for the ceiling. */
const typicalBodies = new Map<string, string>();

const QUERIES: { name: string; path: (seeded: Seeded) => string[] }[] = [
  { name: 'CarePlan?patient=…&_include=CarePlan:care-team', path: (s) => s.patients.map((id) => `/fhir/CarePlan?patient=Patient/${id}&_include=CarePlan:care-team`) },
  { name: 'Task?owner=Organization/…&status=requested', path: (s) => [...s.owners].map((id) => `/fhir/Task?owner=Organization/${id}&status=requested`) },
];

async function search(backendName: Backend['name'], patientCounts: number[]): Promise<void> {
  if (patientCounts.length === 0) {
    return;
  }
  const backend = newBackend(backendName, 'search');
  const seeded: Seeded = { patients: [], owners: new Set(), resources: 0 };
  let done = 0;
  for (const patients of patientCounts) {
    const agencies = Math.max(1, Math.round(patients / PATIENTS_PER_AGENCY));
    const store = await backend.open();
    try {
      const agencyStart = performance.now();
      const before = seeded.resources;
      await store.transaction(async (tx) => {
        for (let j = Math.round(done / PATIENTS_PER_AGENCY); j < agencies; j++) {
          await tx.create(agency(j), { assignedId: `org-${j}` });
          seeded.resources++;
        }
      });
      const ms = (performance.now() - agencyStart) + (await seed(store, done, patients, agencies, seeded));
      const written = seeded.resources - before;
      console.log(`  ${backend.name}: seeded ${fmt(patients - done)} patients (${fmt(written)} resources) in ${fmt(ms / 1000, 1)} s = ${fmt((written * 1000) / ms)} resources/s through the store; ${fmt(seeded.resources)} resources in all`);
    } finally {
      await store.close();
    }
    done = patients;

    const server = await startCarebridge(backend.database);
    try {
      for (const [qi, query] of QUERIES.entries()) {
        const paths = shuffled(query.path(seeded), patients + qi);
        // What the responses hold, on a few of them.
        const sample = await Promise.all(paths.slice(0, 20).map((p) => getJson(`${server.url}${p}`)));
        const entries = sample.map((s) => ((JSON.parse(s.text) as { entry?: unknown[] }).entry ?? []).length);
        const bytes = sample.reduce((n, s) => n + Buffer.byteLength(s.text), 0) / sample.length;
        if (backend.name === 'SQLite' && !typicalBodies.has(query.name)) {
          // The typical response: the one whose size is the median of the sample.
          const bySize = [...sample].sort((a, b) => a.text.length - b.text.length);
          typicalBodies.set(query.name, (bySize[Math.floor(bySize.length / 2)] as { text: string }).text);
        }
        // Warm-up, then the measured run.
        await load(server, { connections: SEARCH_CONNECTIONS, duration: 2, paths: paths.slice(-5000) });
        await drainBacklog(backend);
        const lockBefore = await writeLockUse(server);
        const run = await load(server, { connections: SEARCH_CONNECTIONS, duration: SEARCH_SECONDS, paths });
        const r = run.result;
        const lock = lockUse(lockBefore, await writeLockUse(server), elapsedSeconds(r), r.requests.total);
        // Audited requests leave AuditEvents whose index rows are written in the background: a
        // run that outpaces that would be measuring less than the requests cost.
        const left = await backend.backlog();
        const { p50, p99 } = latency(r);
        searchFigures.set(`${backend.name}|${query.name}|${patients}`, { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 });
        console.log(
          `  ${backend.name}, ${fmt(patients)} patients, ${query.name}: ${fmt(r.requests.average)} req/s, p50 ${p50}, p99 ${p99} over ${fmt(paths.length)} different ids (${fmt(r.requests.total)} requests; responses of ${fmt(Math.min(...entries))}–${fmt(Math.max(...entries))} entries, ~${fmt(bytes / 1024, 1)} kB); failures ${failures(r)}; server peak RSS ${mb(run.peakRssKb)}; AuditEvents not yet indexed at the end: ${fmt(left)}${lock}`,
        );
        await drainBacklog(backend);
        summary.push({ what: `${query.name} @ ${fmt(patients / 1000)}k`, store: backend.name, conns: SEARCH_CONNECTIONS, rate: `${fmt(r.requests.average)} req/s`, p50, p99, errors: failures(r), rss: mb(run.peakRssKb) });
      }
    } finally {
      await server.stop();
    }
  }
  await backend.discard();
}

// ---------------------------------------------------------------------------------------------
// 3. Ceiling

const ceilingFigures = new Map<string, SearchFigure>();
async function ceiling(): Promise<void> {
  for (const [name, body] of typicalBodies) {
    const file = join(tempDir, `ceiling-${ceilingFigures.size}.json`);
    writeFileSync(file, body);
    const server = await startChild('ceiling server', [join(ROOT, 'bench/ceiling-server.ts'), file], {}, '/');
    try {
      const paths = Array.from({ length: 1000 }, (_, i) => `/fhir/x?i=${i}`);
      await load(server, { connections: SEARCH_CONNECTIONS, duration: 2, paths });
      const run = await load(server, { connections: SEARCH_CONNECTIONS, duration: SEARCH_SECONDS, paths });
      const r = run.result;
      const { p50, p99 } = latency(r);
      ceilingFigures.set(name, { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 });
      console.log(`  bare express, the ${fmt(Buffer.byteLength(body) / 1024, 1)} kB of a typical ${name} response: ${fmt(r.requests.average)} req/s, p50 ${p50}, p99 ${p99}; peak RSS ${mb(run.peakRssKb)}`);
      summary.push({ what: `ceiling: bare express, bytes of ${name.split('?')[0]}`, store: '-', conns: SEARCH_CONNECTIONS, rate: `${fmt(r.requests.average)} req/s`, p50, p99, errors: failures(r), rss: mb(run.peakRssKb) });
    } finally {
      await server.stop();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 4. The cost of authentication + audit

const AUTH_PATIENTS = Number(process.env.BENCH_AUTH_PATIENTS ?? 2000);

/**
 * The same requests against one server process with everything on (bearer token checked,
 * tenancy, an AuditEvent durably written per request) and against bench/bare-fhir.ts, the same
 * router without them; one process each, so the difference is per-request work, not scheduling.
 */
async function authCost(): Promise<void> {
  const backend = newBackend('SQLite', 'auth');
  const seeded: Seeded = { patients: [], owners: new Set(), resources: 0 };
  const store = await backend.open();
  try {
    await store.transaction(async (tx) => {
      for (let j = 0; j < Math.max(1, Math.round(AUTH_PATIENTS / PATIENTS_PER_AGENCY)); j++) {
        await tx.create(agency(j), { assignedId: `org-${j}` });
      }
    });
    await seed(store, 0, AUTH_PATIENTS, Math.max(1, Math.round(AUTH_PATIENTS / PATIENTS_PER_AGENCY)), seeded);
  } finally {
    await store.close();
  }
  const requests: { name: string; paths: string[] }[] = [
    { name: 'GET Patient/{id}', paths: shuffled(seeded.patients.map((id) => `/fhir/Patient/${id}`), 7) },
    { name: 'CarePlan?patient=…&_include=CarePlan:care-team', paths: shuffled(seeded.patients.map((id) => `/fhir/CarePlan?patient=Patient/${id}&_include=CarePlan:care-team`), 11) },
  ];
  const env = { CAREBRIDGE_DATABASE: backend.database, CAREBRIDGE_WORKERS: '1', CAREBRIDGE_RATE_LIMIT: '0', LOG_LEVEL: 'warn' };
  const servers: [string, () => Promise<Child>][] = [
    ['with auth + audit', () => startChild('carebridge serve --dev', ['bin/carebridge.js', 'serve', '--dev'], env, '/readyz')],
    ['without (bench/bare-fhir.ts)', () => startChild('bare FHIR router', [join(ROOT, 'bench/bare-fhir.ts')], env, '/readyz')],
  ];
  const figures = new Map<string, SearchFigure>();
  for (const [label, start] of servers) {
    const server = await start();
    try {
      for (const request of requests) {
        await load(server, { connections: SEARCH_CONNECTIONS, duration: 2, paths: request.paths.slice(0, 500) });
        const run = await load(server, { connections: SEARCH_CONNECTIONS, duration: SEARCH_SECONDS, paths: request.paths });
        const r = run.result;
        const { p50, p99 } = latency(r);
        figures.set(`${label}|${request.name}`, { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 });
        console.log(`  ${label}, ${request.name}: ${fmt(r.requests.average)} req/s, p50 ${p50}, p99 ${p99}; failures ${failures(r)}; peak RSS ${mb(run.peakRssKb)}`);
        summary.push({ what: `${request.name.split('?')[0]} ${label === servers[0]?.[0] ? 'with' : 'without'} auth+audit (1 process)`, store: 'SQLite', conns: SEARCH_CONNECTIONS, rate: `${fmt(r.requests.average)} req/s`, p50, p99, errors: failures(r), rss: mb(run.peakRssKb) });
      }
    } finally {
      await server.stop();
    }
  }
  const after = await backend.open();
  try {
    const audited = await after.search({ resourceType: 'AuditEvent', count: 0, total: 'accurate' });
    console.log(`  AuditEvents written by the audited runs: ${fmt(audited.total ?? 0)}`);
  } finally {
    await after.close();
  }
  for (const request of requests) {
    const on = figures.get(`${servers[0]?.[0]}|${request.name}`);
    const off = figures.get(`${servers[1]?.[0]}|${request.name}`);
    if (on && off) {
      const costUs = 1e6 / on.rps - 1e6 / off.rps;
      console.log(`  ${request.name}: auth + audit keep ${fmt((100 * on.rps) / off.rps)}% of the throughput; ~${fmt(costUs)} µs of server time per request`);
      notes.push(`auth + audit on ${request.name}: ${fmt(on.rps)} vs ${fmt(off.rps)} req/s without (${fmt((100 * on.rps) / off.rps)}%), ~${fmt(costUs)} µs per request`);
    }
  }
  await backend.discard();
}

// ---------------------------------------------------------------------------------------------
// 5. Plans pushed end to end

const PUSH_PLANS = Number(process.env.BENCH_PUSH_PLANS ?? 1500);
const PUSH_CONNECTIONS = 8;
const TARGET_PLANS = 150;

/**
 * Discharge planners pushing whole transition plans (the broadcast example, 3 referrals, ~48
 * resources; each a new patient) to POST /transitions as the hospital: plan schema and rules, map,
 * FHIR validation, one transaction with tenancy, Provenance and AuditEvent.
 */
async function pushPlans(backendName: Backend['name']): Promise<void> {
  const backend = newBackend(backendName, 'push');
  const server = await startCarebridge(backend.database);
  try {
    await load(server, { connections: PUSH_CONNECTIONS, plans: { count: 50, plan: 'broadcast-three-agencies.json', tag: 'w' } }, 'carebridge-dev-hospital');
    const lockBefore = await writeLockUse(server);
    const run = await load(server, { connections: PUSH_CONNECTIONS, plans: { count: PUSH_PLANS, plan: 'broadcast-three-agencies.json', tag: 'm' } }, 'carebridge-dev-hospital');
    const r = run.result;
    const seconds = elapsedSeconds(r);
    const lock = lockUse(lockBefore, await writeLockUse(server), seconds, r['2xx']);
    const rate = closedLoopRate(r, PUSH_CONNECTIONS);
    const { p50, p99 } = latency(r);
    console.log(`  ${backend.name}, ${PUSH_CONNECTIONS} planners: ${fmt(r.requests.total)} plans in ${fmt(seconds, 1)} s = ${fmt(rate, 1)} plans/s; p50 ${p50}, p99 ${p99}; failures ${failures(r)}; server peak RSS ${mb(run.peakRssKb)}${lock}`);
    summary.push({ what: 'POST /transitions (broadcast plan)', store: backend.name, conns: PUSH_CONNECTIONS, rate: `${fmt(rate, 1)} plans/s`, p50, p99, errors: failures(r), rss: mb(run.peakRssKb) });
    notes.push(`push ≥ ${TARGET_PLANS} plans/s (${backend.name}, ${PUSH_CONNECTIONS} planners): ${fmt(rate, 1)} plans/s — ${rate >= TARGET_PLANS ? 'met' : 'not met'} (auth, audit and outbox routing on; no peers or Subscriptions in the bench, so no outbox rows)`);
  } finally {
    await server.stop();
    await backend.discard();
  }
}

// ---------------------------------------------------------------------------------------------
// Main

const totalStart = performance.now();
try {
  console.log('carebridge server benchmark (figures only, nothing asserted)');
  console.log(`node ${process.version} (${process.platform}/${process.arch}), CPU ${cpus()[0]?.model ?? 'unknown'} x ${cpus().length}, ${fmt(totalmem() / 2 ** 30, 1)} GB`);
  console.log('server: bin/carebridge.js serve in its own process; load: autocannon in another (bench/load-worker.ts); 127.0.0.1');
  const pgProblem = await postgresReachable();
  if (pgProblem) {
    notes.push(`PostgreSQL skipped: ${pgProblem}`);
    console.log(`PostgreSQL at ${PG_URL.replace(/\/\/[^@]*@/, '//***@')} not used: ${pgProblem}`);
  }
  const backends: Backend['name'][] = pgProblem ? ['SQLite'] : ['SQLite', 'PostgreSQL'];

  section(`1. Ingest: POST /fhir transaction Bundles of ${ENTRIES_PER_BUNDLE} entries (mapped plans, one new patient each), validated and stored`);
  for (const name of SECTIONS.has('ingest') ? backends : []) {
    await ingest(name);
  }

  section(`2. Search at ${SEARCH_CONNECTIONS} connections over many different ids (${SEARCH_SECONDS} s per run)`);
  console.log(`  seeding ${templates.length} mapped plans as templates: per patient a Patient, CareTeam, CarePlan and its Tasks; 1 agency Organization per ${PATIENTS_PER_AGENCY} patients owns the referral Tasks`);
  await search('SQLite', SECTIONS.has('search') ? SQLITE_PATIENTS : []);
  if (!pgProblem && SECTIONS.has('search')) {
    await search('PostgreSQL', PG_PATIENTS);
  }

  section('3. Ceiling: a bare express route answering the same bytes');
  if (SECTIONS.has('ceiling')) {
    await ceiling();
  }

  section(`4. The cost of authentication + audit: one server process with and without them (${fmt(AUTH_PATIENTS)} patients)`);
  if (SECTIONS.has('auth')) {
    await authCost();
  }

  section(`5. Plans pushed end to end: POST /transitions at ${PUSH_CONNECTIONS} concurrent planners, ${fmt(PUSH_PLANS)} plans`);
  for (const name of SECTIONS.has('push') ? backends : []) {
    await pushPlans(name);
  }

  section('Summary');
  table(
    ['run', 'store', 'conns', 'throughput', 'p50', 'p99', 'failures', 'server peak RSS'],
    summary.map((r) => [r.what, r.store, String(r.conns), r.rate, r.p50, r.p99, r.errors, r.rss]),
    2,
  );
  console.log('');
  const verdicts: string[][] = [];
  for (const row of summary.filter((r) => r.what.startsWith('ingest') && r.conns === 8)) {
    verdicts.push([`ingest ≥ ${fmt(TARGET_INGEST)} resources/s (${row.store}, 8 conns)`, row.rate, Number(row.rate.replace(/[^\d.]/g, '')) >= TARGET_INGEST ? 'met' : 'not met']);
  }
  for (const backend of backends) {
    const counts = backend === 'SQLite' ? SQLITE_PATIENTS : PG_PATIENTS;
    const small = counts[0];
    const big = counts[counts.length - 1];
    for (const query of QUERIES) {
      const a = searchFigures.get(`${backend}|${query.name}|${small}`);
      if (!a) {
        continue;
      }
      const ok = a.rps >= TARGET_SEARCH_RPS && a.p99 <= TARGET_SEARCH_P99;
      verdicts.push([`${query.name} @ ${fmt((small ?? 0) / 1000)}k (${backend}): ≥ ${fmt(TARGET_SEARCH_RPS)} req/s, p99 ≤ ${TARGET_SEARCH_P99} ms`, `${fmt(a.rps)} req/s, p99 ${fmt(a.p99, 1)} ms`, ok ? 'met' : 'not met']);
      const b = searchFigures.get(`${backend}|${query.name}|${big}`);
      if (b && big !== small) {
        const slower = Math.max(a.rps / b.rps, b.p99 / a.p99);
        verdicts.push([`  ${fmt((big ?? 0) / 1000)}k vs ${fmt((small ?? 0) / 1000)}k within 1.2x`, `req/s x ${fmt(b.rps / a.rps, 2)}, p50 x ${fmt(b.p50 / a.p50, 2)}, p99 x ${fmt(b.p99 / a.p99, 2)}`, slower <= 1.2 ? 'met' : 'not met']);
      }
      const c = ceilingFigures.get(query.name);
      if (c) {
        verdicts.push([`  our/ceiling (bare express, same bytes)`, `${fmt(a.rps)} / ${fmt(c.rps)} req/s = ${fmt(a.rps / c.rps, 2)}`, '']);
      }
    }
  }
  table(['target', 'measured', ''], verdicts);
  notes.forEach((n) => console.log(`  note: ${n}`));
} finally {
  await cleanup();
  console.log(`\n(total run ${fmt((performance.now() - totalStart) / 1000, 1)} s)`);
}
