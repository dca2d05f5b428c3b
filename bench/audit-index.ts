// How fast the audit trail's deferred index rows are written: BENCH_EVENTS AuditEvents of a
// search over 10 patients (the common audited request; ~35 index rows each) are stored with
// deferred index rows, then indexDeferred() runs (as the server's background indexer does,
// with its time budget per transaction) until none is left. A server answering more audited
// requests per second than this falls behind: its AuditEvents become searchable late. SQLite
// on a temp file; PostgreSQL too when BENCH_PG_URL is set (a schema of its own, dropped at the
// end). Prints figures only. Run: node bench/audit-index.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditEventFor } from '../src/audit/audit-event.ts';
import type { FhirStore } from '../src/store/fhir-store.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../src/validation/definitions.ts';
import { BENCH_AGENCY } from './bench-principal.ts';
import { section, table } from './print.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 5000);
const PATIENTS_PER_EVENT = 10;


function searchEvent(i: number) {
  return auditEventFor({
    interaction: 'search-type',
    principal: BENCH_AGENCY,
    resourceType: 'Task',
    query: `owner=Organization/org-${i % 1000}&status=requested`,
    patients: Array.from({ length: PATIENTS_PER_EVENT }, (_, k) => `Patient/p-${(i * PATIENTS_PER_EVENT + k) % 10_000}`),
    status: 200,
    address: '10.0.0.8',
    requestId: `req-${i}`,
    recorded: new Date(),
    observer: { site: 'bench' },
  });
}

async function measure(name: string, store: FhirStore): Promise<string[]> {
  for (let from = 0; from < EVENTS; from += 100) {
    await store.transaction(async (tx) => {
      for (let i = from; i < Math.min(EVENTS, from + 100); i++) {
        await tx.create(searchEvent(i), { deferIndex: true });
      }
    });
  }
  const started = performance.now();
  let indexed = 0;
  let transactions = 0;
  for (let done = await store.indexDeferred(); done > 0; done = await store.indexDeferred()) {
    indexed += done;
    transactions++;
  }
  const seconds = (performance.now() - started) / 1000;
  const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 0 });
  return [name, fmt(indexed), fmt(transactions), fmt(indexed / seconds), fmt((seconds * 1e6) / indexed)];
}

loadDefinitions();
const rows: string[][] = [];
const dir = mkdtempSync(join(tmpdir(), 'carebridge-bench-audit-index-'));
const sqlite = await SqliteStore.open(join(dir, 'audit-index.db'));
try {
  rows.push(await measure('SQLite', sqlite));
} finally {
  await sqlite.close();
  rmSync(dir, { recursive: true, force: true });
}
if (process.env.BENCH_PG_URL) {
  const schema = `bench_audit_index_${process.pid}`;
  const pg = await PostgresStore.open(process.env.BENCH_PG_URL, { schema });
  try {
    rows.push(await measure('PostgreSQL', pg));
  } finally {
    await pg.dropSchema(schema);
    await pg.close();
  }
}
section(`Deferred audit indexing: ${EVENTS.toLocaleString('en-US')} AuditEvents of a ${PATIENTS_PER_EVENT}-patient search`);
table(['store', 'events', 'transactions', 'events/s', 'µs/event'], rows);
