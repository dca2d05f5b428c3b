// What auditing every request costs on SQLite: records/s and latency of writing AuditEvents by
// group commit (AuditTrail, setImmediate or a 2 ms timer) against one transaction per event,
// with 1, 16 and 128 requests in flight. Each run gets a fresh temp file. Prints figures only.
// Run: node bench/audit.ts (about 16 s); BENCH_DIR=/dev/shm takes the disk out of it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AuditEvent } from '@medplum/fhirtypes';
import { auditEventFor } from '../src/audit/audit-event.ts';
import { AuditTrail } from '../src/audit/audit-trail.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { BENCH_AGENCY } from './bench-principal.ts';
import { section, table } from './print.ts';

const SECONDS_PER_RUN = 1.5;
const CONCURRENCY = [1, 16, 128];


function event(i: number): AuditEvent {
  return auditEventFor({
    interaction: 'read',
    principal: BENCH_AGENCY,
    resourceType: 'Task',
    references: [`Task/t-${i}`],
    patients: [`Patient/p-${i % 100}`],
    status: 200,
    address: '10.0.0.8',
    requestId: `req-${i}`,
    recorded: new Date(),
    observer: { site: 'bench' },
  });
}

interface Mode {
  name: string;
  open: (store: SqliteStore) => { write: (e: AuditEvent) => Promise<void>; close: () => Promise<void>; transactions: () => number };
}

const MODES: Mode[] = [
  {
    name: 'one transaction per event',
    open: (store) => {
      let transactions = 0;
      return {
        write: async (e) => {
          transactions++;
          await store.transaction((tx) => tx.create(e));
        },
        close: async () => undefined,
        transactions: () => transactions,
      };
    },
  },
  ...[0, 2].map((flushDelayMs): Mode => ({
    name: `group commit, ${flushDelayMs === 0 ? 'setImmediate' : `${flushDelayMs} ms timer`}`,
    open: (store) => {
      const trail = new AuditTrail(store, { flushDelayMs });
      return { write: (e) => trail.record(e), close: () => trail.close(), transactions: () => trail.stats().transactions };
    },
  })),
];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

async function run(mode: Mode, concurrency: number, seconds = SECONDS_PER_RUN): Promise<string[]> {
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'carebridge-bench-audit-'));
  const store = await SqliteStore.open(join(dir, 'audit.db'));
  const writer = mode.open(store);
  const latencies: number[] = [];
  let next = 0;
  const until = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const began = performance.now();
        await writer.write(event(next++));
        latencies.push(performance.now() - began);
        // A request's response goes out before the client's next request comes in.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  await writer.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  return [
    mode.name,
    String(concurrency),
    Math.round(latencies.length / elapsed).toLocaleString('en-US'),
    (latencies.length / Math.max(1, writer.transactions())).toFixed(1),
    percentile(latencies, 0.5).toFixed(2),
    percentile(latencies, 0.99).toFixed(2),
  ];
}

section(`AuditEvent writes on SQLite (WAL, synchronous=NORMAL) in ${process.env.BENCH_DIR ?? tmpdir()}`);
// Warm-up: the first run would otherwise pay for the JIT and the page cache.
for (const mode of MODES) {
  await run(mode, 16, 0.3);
}
const rows: string[][] = [];
for (const concurrency of CONCURRENCY) {
  for (const mode of MODES) {
    rows.push(await run(mode, concurrency));
  }
}
table(['writer', 'in flight', 'records/s', 'events/tx', 'p50 ms', 'p99 ms'], rows, 1);
