// The outbox's counts and retention at 10,000, 100,000 and 1,000,000 rows: what a /metrics scrape
// and countDeliveries cost before (one GROUP BY over every row ever written, the query this
// replaced) and now (totals rows, dead rows per destination, pending rows grouped), then a
// retention run with a week's age over 30 days of rows: rows deleted per second and each
// batch's time (how long SQLite's writer is held at once), and the counts again after it.
// Rows are written straight into the outbox (80% to 4 peers, 20% to 50 Subscriptions as numbered
// events; 97% delivered, 1% superseded, 1% dead, 1% pending), settled evenly over the last 30 days.
// SQLite in-process; PostgreSQL too when BENCH_PG_URL is set (a schema of its own, dropped at the
// end; vacuumed after the seed and after the prune, as autovacuum would). Prints figures only.
// Run: node bench/outbox-prune.ts (about 3 minutes with PostgreSQL).
// Environment: BENCH_OUTBOX_SIZES (default 10000,100000,1000000).
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DEFAULT_OUTBOX } from '../src/config/outbox.ts';
import { StoreGauges } from '../src/observability/store-gauges.ts';
import type { FhirStore } from '../src/store/fhir-store.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { OUTBOX_TOTALS_BACKFILL } from '../src/store/sql/outbox-retention-sql.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { BATCH_ROWS, pruneOutbox } from '../src/sync/outbox/retention-job.ts';
import { loadDefinitions } from '../src/validation/definitions.ts';
import { section, table } from './print.ts';

loadDefinitions();
const SIZES = (process.env.BENCH_OUTBOX_SIZES ?? '10000,100000,1000000').split(',').map(Number);
const DAY_MS = 24 * 3600_000;
const SPAN_DAYS = 30;
const SUBSCRIPTIONS = 50;
const REPEAT = 5;
/** The count this change replaced: every row ever written, grouped. */
const BEFORE_COUNT =
  "SELECT destination, state, COUNT(*) AS n, MIN(CASE WHEN state = 'pending' THEN created_ms END) AS oldest, MAX(CASE WHEN state = 'delivered' THEN done_ms END) AS last_done FROM outbox GROUP BY destination, state ORDER BY destination";

/** The raw connection the bench seeds through and times the old query on. */
interface Raw {
  exec(sql: string): Promise<void>;
  query(sql: string): Promise<unknown[]>;
  close(): Promise<void>;
}

/**
 * `n` rows, ids in creation order, created over the last SPAN_DAYS; the i-th row's columns from i:
 * 4 of 5 rows to the 4 peers, 1 of 5 to the 50 Subscriptions (the j-th such row is event j / 50 + 1
 * of Subscription j % 50).
 */
function seedSql(dialect: 'sqlite' | 'postgres', n: number, nowMs: number): string {
  const step = Math.floor((SPAN_DAYS * DAY_MS) / n);
  const created = `(${nowMs - SPAN_DAYS * DAY_MS} + i * ${step})`;
  const numbered = 'i % 5 = 0';
  const j = '(i / 5)';
  const state = `CASE WHEN i % 100 = 1 THEN 'pending' WHEN i % 100 = 2 THEN 'dead' WHEN i % 100 = 3 THEN 'superseded' ELSE 'delivered' END`;
  const text = (e: string): string => (dialect === 'postgres' ? `(${e})::text` : `(${e})`);
  const select = `SELECT 'e' || ${text('i')}, CASE WHEN ${numbered} THEN 'subscription/s' || ${text(`${j} % ${SUBSCRIPTIONS}`)} ELSE 'peer-' || ${text('i % 4')} END,
      CASE WHEN ${numbered} THEN '' ELSE 'p' || ${text('i % 5000')} END, 'Patient', 'r' || ${text('i')}, 1, ${state}, 1,
      ${created}, ${created}, ${created}, CASE WHEN i % 100 = 1 THEN NULL ELSE ${created} + 1000 END,
      CASE WHEN ${numbered} THEN ${j} / ${SUBSCRIPTIONS} + 1 END`;
  const columns = 'event_id, destination, patient_id, resource_type, resource_id, version_id, state, attempts, created_ms, window_start_ms, next_attempt_ms, done_ms, event_number';
  return dialect === 'postgres'
    ? `INSERT INTO outbox (${columns}) ${select} FROM generate_series(1::bigint, ${n}) AS g(i)`
    : `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ${n}) INSERT INTO outbox (${columns}) ${select} FROM g`;
}

async function seed(raw: Raw, dialect: 'sqlite' | 'postgres', n: number, nowMs: number): Promise<number> {
  const started = performance.now();
  await raw.exec(seedSql(dialect, n, nowMs));
  await raw.exec("INSERT INTO outbox_streams (destination, last_number) SELECT destination, MAX(event_number) FROM outbox WHERE event_number IS NOT NULL GROUP BY destination");
  await raw.exec('DELETE FROM outbox_totals');
  await raw.exec(OUTBOX_TOTALS_BACKFILL);
  // PostgreSQL: as autovacuum leaves a table (index-only scans need the visibility map).
  await raw.exec(dialect === 'postgres' ? 'VACUUM ANALYZE outbox' : 'ANALYZE');
  if (dialect === 'sqlite') {
    // The seed's own WAL is not the prune's to checkpoint.
    await raw.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  }
  return (performance.now() - started) / 1000;
}

/** The median of REPEAT timings, in ms. */
async function median(work: () => Promise<unknown>): Promise<number> {
  await work();
  const times: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const started = performance.now();
    await work();
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[Math.floor(REPEAT / 2)] as number;
}

const ms = (value: number): string => (value < 10 ? value.toFixed(2) : value.toFixed(0));

async function measure(kind: string, store: FhirStore, raw: Raw, dialect: 'sqlite' | 'postgres', n: number): Promise<string[]> {
  const nowMs = Date.now();
  const seedS = await seed(raw, dialect, n, nowMs);
  const gauges = new StoreGauges({ store });
  const before = await median(() => raw.query(BEFORE_COUNT));
  const count = await median(() => store.countDeliveries());
  const scrape = await median(() => gauges.metrics());
  const counts = await store.countDeliveries();
  // Each batch timed on its own: on SQLite, how long the writer is held at once.
  const batchMs: number[] = [];
  const timed: Pick<FhirStore, 'pruneDeliveries' | 'claimLease' | 'releaseLease'> = {
    claimLease: (...args) => store.claimLease(...args),
    releaseLease: (...args) => store.releaseLease(...args),
    pruneDeliveries: async (options) => {
      const started = performance.now();
      const batch = await store.pruneDeliveries(options);
      batchMs.push(performance.now() - started);
      return batch;
    },
  };
  const started = performance.now();
  // With the job's own pause between batches (the checkpointer thread and other writers get their turn).
  const pruned = await pruneOutbox(timed, { settledBeforeMs: nowMs - DEFAULT_OUTBOX.retention.deliveredDays * DAY_MS, keepEvents: DEFAULT_OUTBOX.retention.keepEvents });
  const pruneS = (performance.now() - started) / 1000;
  const again = await pruneOutbox(store, { settledBeforeMs: nowMs - DEFAULT_OUTBOX.retention.deliveredDays * DAY_MS, keepEvents: DEFAULT_OUTBOX.retention.keepEvents, pauseMs: 0 });
  if (dialect === 'postgres') {
    await raw.exec('VACUUM ANALYZE outbox'); // autovacuum's doing after a quarter of the table went
  }
  const left = Number(((await raw.query('SELECT COUNT(*) AS n FROM outbox'))[0] as { n: number | string }).n);
  const beforeAfter = await median(() => raw.query(BEFORE_COUNT));
  const countAfter = await median(() => store.countDeliveries());
  const after = await store.countDeliveries();
  const same = JSON.stringify(after.map((c) => [c.destination, c.pending, c.dead, c.delivered, c.superseded])) === JSON.stringify(counts.map((c) => [c.destination, c.pending, c.dead, c.delivered, c.superseded]));
  return [
    kind,
    n.toLocaleString('en-US'),
    seedS.toFixed(1),
    ms(before),
    ms(count),
    ms(scrape),
    pruned.deleted.toLocaleString('en-US'),
    `${pruned.batches}`,
    pruneS.toFixed(1),
    Math.round(pruned.deleted / pruneS).toLocaleString('en-US'),
    [0.5, 0.99, 1].map((q) => ms(batchMs.sort((a, b) => a - b)[Math.min(batchMs.length - 1, Math.floor(q * batchMs.length))] as number)).join(' / '),
    `${again.batches} (${again.deleted})`,
    left.toLocaleString('en-US'),
    ms(beforeAfter),
    ms(countAfter),
    same ? 'yes' : 'NO',
  ];
}

const rows: string[][] = [];
section(`Outbox counts and retention (${DEFAULT_OUTBOX.retention.deliveredDays}-day age over ${SPAN_DAYS} days of rows, batches of ${BATCH_ROWS})`);
for (const n of SIZES) {
  const dir = mkdtempSync(join(tmpdir(), 'carebridge-bench-outbox-'));
  const file = join(dir, 'carebridge.db');
  const store = await SqliteStore.open(file);
  const db = new Database(file);
  const raw: Raw = { exec: async (sql) => void db.exec(sql), query: async (sql) => db.prepare(sql).all(), close: async () => void db.close() };
  try {
    rows.push(await measure('sqlite', store, raw, 'sqlite', n));
  } finally {
    await raw.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
  if (process.env.BENCH_PG_URL) {
    const schema = `bench_outbox_${process.pid}_${n}`;
    const pgStore = await PostgresStore.open(process.env.BENCH_PG_URL, { schema });
    const client = new pg.Client({ connectionString: process.env.BENCH_PG_URL, options: `-c search_path=${schema}` });
    await client.connect();
    const pgRaw: Raw = { exec: async (sql) => void (await client.query(sql)), query: async (sql) => (await client.query(sql)).rows, close: () => client.end() };
    try {
      rows.push(await measure('postgres', pgStore, pgRaw, 'postgres', n));
    } finally {
      await pgRaw.close();
      await pgStore.dropSchema(schema);
      await pgStore.close();
    }
  }
}
table(
  ['store', 'rows', 'seed s', 'before: count ms', 'now: count ms', 'scrape ms', 'pruned', 'batches', 'prune s', 'rows/s', 'batch ms p50 / p99 / max', 'next run: batches (deleted)', 'rows left', 'before, after prune ms', 'now, after prune ms', 'counts kept'],
  rows,
  1,
);
console.log(`
  before: the GROUP BY over every row that countDeliveries ran until now (on SQLite it blocks the
  event loop as long); now: countDeliveries as it is; scrape: a whole /metrics store-gauge refresh
  (the outbox counts, two Task counts, the poll status). The next run reads only the old rows that
  stay (pending, dead, each Subscription's last ${DEFAULT_OUTBOX.retention.keepEvents} events) and stops at the first young row.`);
