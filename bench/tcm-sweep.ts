// The TCM overdue sweep over many open transitions: 100,000 transitions (4 deadline Tasks each)
// seeded straight through the store, of which a small share fell due (half with the evidence that
// meets their contact). The sweep reads only what fell due (Task?open-deadline, an index holding
// open deadlines only), so its time follows the due deadlines, not the transitions: measured at
// 10,000 and at 100,000 transitions with the same number due. SQLite in-process; PostgreSQL too
// when BENCH_PG_URL is set (a schema of its own, dropped at the end).
import type { Communication, Resource } from '@medplum/fhirtypes';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CLOCK, clockRulesFor } from '../src/config/clock.ts';
import { deadlineTasks } from '../src/mapping/deadline-tasks.ts';
import type { TransitionPlan } from '../src/model/transition-plan.ts';
import { SYSTEMS } from '../src/model/terminology.ts';
import type { FhirStore } from '../src/store/fhir-store.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../src/validation/definitions.ts';
import { sweepDeadlines } from '../src/workflow/tcm-sweep.ts';
import { section, table } from './print.ts';

loadDefinitions();
const TRANSITIONS = Number(process.env.BENCH_TCM_TRANSITIONS ?? 100_000);
/** Transitions whose contact deadline has passed at the sweep's clock, per size measured. */
const DUE = Number(process.env.BENCH_TCM_DUE ?? 500);
const BATCH = 1000;
const plan = JSON.parse(readFileSync(new URL('../fixtures/plans/broadcast-three-agencies.json', import.meta.url), 'utf8')) as TransitionPlan;
const rules = clockRulesFor(DEFAULT_CLOCK, undefined);
// Discharged 2026-11-30 (due: contact 2026-12-02); the others are discharged a month later.
const DUE_DISCHARGE = plan.hospitalStay.dischargedAt;
const LATER_DISCHARGE = '2026-12-30T16:20:00-05:00';
const SWEEP_AT = Date.parse('2026-12-03T12:00:00Z');
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

async function seed(store: FhirStore, from: number, to: number, due: number): Promise<number> {
  const started = performance.now();
  for (let start = from; start < to; start += BATCH) {
    await store.transaction(async (tx) => {
      for (let n = start; n < Math.min(start + BATCH, to); n++) {
        const isDue = n - from < due;
        const p: TransitionPlan = { ...plan, identifier: { system: 'urn:bench', value: `t${n}` }, hospitalStay: { ...plan.hospitalStay, dischargedAt: isDue ? DUE_DISCHARGE : LATER_DISCHARGE } };
        for (const task of deadlineTasks(p, rules, { patient: `Patient/p${n}`, carePlan: `CarePlan/c${n}`, coordinator: { reference: 'Practitioner/coordinator' } })) {
          await tx.create(task);
        }
        if (isDue && n % 2 === 0) {
          const contact: Communication = { resourceType: 'Communication', status: 'completed', subject: { reference: `Patient/p${n}` }, sent: '2026-12-01T10:00:00-05:00', category: [{ coding: [{ system: SYSTEMS.tcmDeadline, code: 'interactive-contact' }] }] };
          await tx.create(contact as Resource);
        }
      }
    });
  }
  return (performance.now() - started) / 1000;
}

async function sweep(store: FhirStore): Promise<string[]> {
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const started = performance.now();
  const result = await sweepDeadlines(store, SWEEP_AT);
  const seconds = (performance.now() - started) / 1000;
  const peak = process.memoryUsage().rss;
  const again = performance.now();
  const second = await sweepDeadlines(store, SWEEP_AT);
  const secondMs = performance.now() - again;
  return [String(result.due), `${result.met}/${result.overdue}`, seconds.toFixed(2), `${((seconds * 1000) / Math.max(1, result.due)).toFixed(2)}`, `${secondMs.toFixed(1)} (${second.due})`, mb(rssBefore), mb(peak)];
}

async function run(label: string, store: FhirStore): Promise<string[][]> {
  const rows: string[][] = [];
  const small = Math.min(10_000, TRANSITIONS);
  const seeded1 = await seed(store, 0, small, DUE);
  rows.push([label, small.toLocaleString('en-US'), seeded1.toFixed(0), ...(await sweep(store))]);
  console.log(`  ${rows.at(-1)?.join(' | ')}`);
  if (TRANSITIONS > small) {
    const seeded2 = await seed(store, small, TRANSITIONS, DUE);
    rows.push([label, TRANSITIONS.toLocaleString('en-US'), (seeded1 + seeded2).toFixed(0), ...(await sweep(store))]);
    console.log(`  ${rows.at(-1)?.join(' | ')}`);
  }
  return rows;
}

section(`TCM overdue sweep: ${DUE} transitions due per size, half of them with the contact's evidence`);
const rows: string[][] = [];
const dir = mkdtempSync(join(tmpdir(), 'carebridge-bench-tcm-'));
const sqlite = await SqliteStore.open(join(dir, 'carebridge.db'));
try {
  rows.push(...(await run('sqlite', sqlite)));
} finally {
  await sqlite.close();
  rmSync(dir, { recursive: true, force: true });
}
if (process.env.BENCH_PG_URL) {
  const schema = `bench_tcm_${process.pid}`;
  const pg = await PostgresStore.open(process.env.BENCH_PG_URL, { schema });
  try {
    rows.push(...(await run('postgres', pg)));
  } finally {
    await pg.dropSchema(schema);
    await pg.close();
  }
}
table(['store', 'open transitions', 'seed s', 'due', 'met/overdue', 'sweep s', 'ms/due', 'again ms (due)', 'RSS before', 'RSS after'], rows, 1);
console.log('\n  The second sweep finds nothing: a settled deadline leaves the open-deadline index.');
