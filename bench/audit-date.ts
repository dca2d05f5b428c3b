// What an admin asks of the audit trail: "what happened since…, newest first". BENCH_EVENTS
// AuditEvents (default 20,000 and 200,000; 100,000 a day, a busy server's rate) are stored on a
// SQLite temp file, then each search runs 7 times and the median is printed. A search driven by
// its date costs the same at any size of the trail; one that checked every event grew with it.
// Prints figures only. Run: node bench/audit-date.ts
import { parseSearchRequest } from '@medplum/core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditEventFor } from '../src/audit/audit-event.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../src/validation/definitions.ts';
import { BENCH_AGENCY } from './bench-principal.ts';
import { section, table } from './print.ts';

const SIZES = (process.env.BENCH_EVENTS ?? '20000,200000').split(',').map(Number);
const START = Date.parse('2026-11-20T00:00:00Z');
/** 100,000 events a day. */
const STEP_MS = 864;

const event = (i: number) =>
  auditEventFor({
    interaction: 'search-type',
    principal: BENCH_AGENCY,
    resourceType: 'Task',
    query: 'status=requested',
    patients: [`Patient/p-${i % 5000}`],
    status: 200,
    address: '10.0.0.8',
    requestId: `req-${i}`,
    recorded: new Date(START + i * STEP_MS),
    observer: { site: 'bench' },
  });

loadDefinitions();
const dir = mkdtempSync(join(tmpdir(), 'carebridge-bench-audit-date-'));
const store = await SqliteStore.open(join(dir, 'audit-date.db'));
const rows: string[][] = [];
try {
  let stored = 0;
  for (const size of SIZES) {
    while (stored < size) {
      await store.transaction(async (tx) => {
        for (let k = 0; k < 1000 && stored < size; k++, stored++) {
          await tx.create(event(stored));
        }
      });
    }
    const at = (i: number): string => new Date(START + i * STEP_MS).toISOString();
    const searches: [string, string][] = [
      ['since 10 minutes ago, newest first', `AuditEvent?date=ge${at(size - 700)}&_sort=-date&_count=20`],
      ['since an hour ago, newest first', `AuditEvent?date=ge${at(size - 4200)}&_sort=-date&_count=20`],
      ['since 10 minutes ago, in order stored', `AuditEvent?date=ge${at(size - 700)}&_count=20`],
      ['an hour, 10 minutes ago back, oldest first', `AuditEvent?date=ge${at(size - 4900)}&date=le${at(size - 700)}&_sort=date&_count=20`],
    ];
    for (const [name, query] of searches) {
      const times: number[] = [];
      for (let run = 0; run < 7; run++) {
        const started = performance.now();
        await store.search(parseSearchRequest(query));
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      rows.push([size.toLocaleString('en-US'), name, ((times[3] as number) * 1000).toFixed(0)]);
    }
  }
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
section('Searching the audit trail by date (SQLite, median of 7)');
table(['events', 'search', 'µs'], rows);
