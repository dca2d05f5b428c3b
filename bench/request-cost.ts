// Server CPU time per request: the figure to compare before and after a change when the machine
// is shared (req/s moves with everyone else's load; the CPU a request costs the server does not,
// much). One `carebridge serve --dev` process (CAREBRIDGE_WORKERS=1, auth, tenancy, audit and
// outbox on) on a seeded SQLite file, loaded by autocannon from another process
// (bench/load-worker.ts); CPU = utime + stime of the server process (all its threads) from
// /proc/<pid>/stat over a fixed number of requests, after a warm-up, up to the moment the audit
// trail's deferred index rows of those requests are all written.
// Prints figures only. Run: node bench/request-cost.ts
// Environment: BENCH_PATIENTS (default 10000), BENCH_REQUESTS (per search run, default 20000),
// BENCH_ONLY (comma-separated run names: patient,careplan,task,ingest,push; default all),
// BENCH_CPU_PROF=<dir> (the server writes a V8 CPU profile there at exit), BENCH_SQL_AFTER_SEED (SQL run on
// the seeded file before the server starts: what-if experiments, e.g. "DROP INDEX …" to price an index).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Result } from 'autocannon';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { freePort } from '../test/api/support/child-server.ts';
import type { LoadJob } from './load-worker.ts';
import { ENTRIES_PER_BUNDLE, agency, seedPatient, seedTemplates, shuffled } from './workload.ts';
import { readWriteLock } from './write-lock.ts';
import { section, table } from './print.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const PATIENTS = Number(process.env.BENCH_PATIENTS ?? 10_000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const ONLY = new Set((process.env.BENCH_ONLY ?? 'patient,careplan,task,ingest,push').split(','));
const CPU_PROF = process.env.BENCH_CPU_PROF;
const PATIENTS_PER_AGENCY = 10;
const TICKS_PER_SECOND = 100;

const dir = mkdtempSync(join(tmpdir(), 'carebridge-bench-cost-'));
const file = join(dir, 'cost.db');
const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** CPU seconds (user + system) of a process so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Read and write system calls and bytes written of a process so far (all its threads; /proc/<pid>/io). */
function io(pid: number): { syscalls: number; written: number } {
  const fields = Object.fromEntries(
    readFileSync(`/proc/${pid}/io`, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(': ') as [string, string]),
  );
  return { syscalls: Number(fields.syscr) + Number(fields.syscw), written: Number(fields.wchar) };
}

// ---------------------------------------------------------------------------------------------
// Seed: per patient a Patient, CareTeam, CarePlan and its Tasks; 1 agency per 10 patients.

const templates = seedTemplates(300, 4242);
const patients: string[] = [];
const owners = new Set<string>();
{
  const store = await SqliteStore.open(file);
  const agencies = Math.max(1, Math.round(PATIENTS / PATIENTS_PER_AGENCY));
  await store.transaction(async (tx) => {
    for (let j = 0; j < agencies; j++) {
      await tx.create(agency(j), { assignedId: `org-${j}` });
    }
  });
  for (let from = 0; from < PATIENTS; from += 500) {
    await store.transaction(async (tx) => {
      for (let n = from; n < Math.min(PATIENTS, from + 500); n++) {
        for (const { resource, id } of seedPatient(templates[n % templates.length] as (typeof templates)[number], n, agencies)) {
          await tx.create(resource, { assignedId: id });
          if (resource.resourceType === 'Patient') {
            patients.push(id);
          }
          const task = resource as { resourceType: string; status?: string; owner?: { reference?: string } };
          if (task.resourceType === 'Task' && task.status === 'requested' && task.owner?.reference?.startsWith('Organization/')) {
            owners.add(task.owner.reference);
          }
        }
      }
    });
  }
  await store.close();
}
if (process.env.BENCH_SQL_AFTER_SEED) {
  const db = new Database(file);
  db.exec(process.env.BENCH_SQL_AFTER_SEED);
  db.close();
}

/** Resources stored with deferred index rows not yet written (the audit trail's). */
function backlog(): number {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM index_backlog').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Until the server has written every deferred index row: that work is part of what the requests cost. */
async function drained(): Promise<void> {
  for (const deadline = Date.now() + 300_000; backlog() > 0 && Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// ---------------------------------------------------------------------------------------------
// Server and load

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const BARE = process.env.BENCH_BARE === '1';
const server: ChildProcess = spawn(process.execPath, [...(CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : []), ...(BARE ? ['bench/bare-fhir.ts'] : ['bin/carebridge.js', 'serve', '--dev'])], {
  cwd: ROOT,
  env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CAREBRIDGE_DATABASE: `sqlite:${file}`, CAREBRIDGE_WORKERS: '1', CAREBRIDGE_RATE_LIMIT: '0', LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
for (let ready = false; !ready; ) {
  await new Promise((resolve) => setTimeout(resolve, 100));
  ready = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
}

async function token(clientId: string): Promise<string> {
  if (BARE) {
    return 'none';
  }
  const response = await fetch(`${url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&client_id=${clientId}` });
  return ((await response.json()) as { access_token: string }).access_token;
}

/** Seconds the server has held the SQLite write lock so far (/metrics); 0 for the bare server. */
async function lockHeldSeconds(): Promise<number> {
  return BARE ? 0 : ((await readWriteLock(url, await token('carebridge-dev')))?.held ?? NaN);
}

let jobs = 0;
async function load(job: Omit<LoadJob, 'url'>, clientId = 'carebridge-dev'): Promise<Result> {
  const jobFile = join(dir, `job-${++jobs}.json`);
  writeFileSync(jobFile, JSON.stringify({ ...job, url, token: await token(clientId) }));
  const worker = spawn(process.execPath, [join(ROOT, 'bench/load-worker.ts'), jobFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  worker.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  await new Promise((resolve) => worker.once('exit', resolve));
  return JSON.parse(out.trim().split('\n').pop() as string) as Result;
}

interface Run {
  name: string;
  unit: string;
  perRequest: number;
  job: (measured: boolean) => Omit<LoadJob, 'url'>;
  clientId?: string;
}

const RUNS: Run[] = [
  { name: 'patient', unit: 'GET Patient/{id}', perRequest: 1, job: () => ({ connections: 32, amount: REQUESTS, paths: shuffled(patients.map((id) => `/fhir/Patient/${id}`), 7) }) },
  { name: 'careplan', unit: 'CarePlan?patient&_include', perRequest: 1, job: () => ({ connections: 32, amount: REQUESTS, paths: shuffled(patients.map((id) => `/fhir/CarePlan?patient=Patient/${id}&_include=CarePlan:care-team`), 11) }) },
  { name: 'task', unit: 'Task?owner&status=requested', perRequest: 1, job: () => ({ connections: 32, amount: REQUESTS, paths: shuffled([...owners].map((o) => `/fhir/Task?owner=${o}&status=requested`), 13) }) },
  { name: 'ingest', unit: `ingest Bundle (${ENTRIES_PER_BUNDLE} resources)`, perRequest: ENTRIES_PER_BUNDLE, job: (m) => ({ connections: 8, ingest: { count: m ? 600 : 100, seed: m ? 77 : 9000, tag: m ? 'm' : 'w' } }) },
  { name: 'push', unit: 'POST /transitions (broadcast plan)', perRequest: 1, clientId: 'carebridge-dev-hospital', job: (m) => ({ connections: 8, plans: { count: m ? 400 : 50, plan: 'broadcast-three-agencies.json', tag: m ? 'm' : 'w' } }) },
];

section(`Server CPU per request: one carebridge serve process, SQLite, ${fmt(PATIENTS)} patients (load average ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);
const rows: string[][] = [];
try {
  for (const run of RUNS.filter((r) => ONLY.has(r.name))) {
    await load(run.job(false), run.clientId);
    await drained();
    const pid = server.pid as number;
    // Read outside the CPU window: it asks for a token (an audited write) and scrapes.
    const heldBefore = await lockHeldSeconds();
    const before = cpuSeconds(pid);
    const ioBefore = io(pid);
    const result = await load(run.job(true), run.clientId);
    const left = backlog();
    await drained();
    const cpu = cpuSeconds(pid) - before;
    const ioAfter = io(pid);
    const held = (await lockHeldSeconds()) - heldBefore;
    const ok = result['2xx'];
    const wall = (result as Result & { elapsedMs: number }).elapsedMs / 1000;
    rows.push([run.unit, fmt(ok), fmt(result.non2xx + result.errors), fmt((cpu * 1e6) / ok), fmt((held * 1e6) / ok), fmt(ok / cpu / (run.perRequest === 1 ? 1 : 1 / run.perRequest)), fmt((ioAfter.syscalls - ioBefore.syscalls) / ok), fmt((ioAfter.written - ioBefore.written) / ok / 1024, 1), fmt(ok / wall, 0), `${fmt(result.latency.p50, 1)} / ${fmt(result.latency.p99, 1)}`, fmt(left)]);
  }
  table(['request', 'answered 2xx', 'failed', 'server CPU µs/req', 'write lock µs/req', 'per CPU-second', 'I/O calls/req', 'kB written/req', 'req/s (wall)', 'p50 / p99 ms', 'backlog at end'], rows, 1);
  console.log('  per CPU-second: requests (ingest: resources) one core of server time would answer');
  console.log('  write lock: how long the server held the SQLite write lock per request; every process on the file shares that lock, so no number of workers writes more than 1 s / that per second');
  console.log('  I/O calls and kB written: read and write system calls (files and sockets) and bytes written by the server, per request');
  console.log('  CPU and I/O include writing the deferred index rows left at the end of the run (backlog at end) until none is left');
} finally {
  server.kill('SIGTERM');
  await exited;
  if (process.env.BENCH_KEEP) {
    console.log(`  kept ${file}`);
  } else {
    rmSync(dir, { recursive: true, force: true });
  }
}
