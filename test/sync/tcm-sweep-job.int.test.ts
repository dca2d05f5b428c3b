// The TCM sweep on PostgreSQL with two instances on one schema: the lease keeps the job to one
// instance at a time (the other's trigger is "busy" while the first sweeps, and takes over once a
// dead holder's lease expires), and two sweeps that do overlap — a lease lost mid-run — still
// settle every deadline exactly once: each write carries If-Match against the row the other locked.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Communication, Task } from '@medplum/fhirtypes';
import { clockRulesFor, withClockDefaults } from '../../src/config/clock.ts';
import { deadlineTasks } from '../../src/mapping/deadline-tasks.ts';
import { SYSTEMS } from '../../src/model/terminology.ts';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SWEEP_LEASE, SweepJob } from '../../src/sync/tcm-sweep-job.ts';
import { loadDefinitions } from '../../src/validation/definitions.ts';
import { sweepDeadlines } from '../../src/workflow/tcm-sweep.ts';
import { readPlan } from '../support/fixtures.ts';
import { DATABASE_URL, postgresStores } from '../support/postgres.ts';

const TRANSITIONS = 40;
const plan = readPlan('broadcast-three-agencies.json'); // discharged Mon 2026-11-30 16:20 EST: contact due Wed Dec 2
const rules = clockRulesFor(withClockDefaults({ timeZone: 'America/New_York' }), undefined);
const AFTER_CONTACT_DUE = Date.parse('2026-12-03T00:01:00-05:00');
const AFTER_VISIT_DUE = Date.parse('2026-12-15T00:01:00-05:00');
const stores = postgresStores('carebridge_tcm_sweep');

let first: FhirStore;
let second: FhirStore;

beforeAll(async () => {
  loadDefinitions();
  first = await stores.open();
  second = await PostgresStore.open(DATABASE_URL, { schema: stores.schemaOf(first) });
});

afterAll(async () => {
  await second?.close();
  await stores.dispose(first);
});

/** `n` transitions' deadlines, a tag apart; the even ones have their contact made in time. */
async function seed(tag: string, n: number): Promise<Task[]> {
  const tasks: Task[] = [];
  for (let i = 0; i < n; i++) {
    const patient = `Patient/${tag}-${i}`;
    for (const task of deadlineTasks(plan, rules, { patient, carePlan: `CarePlan/${tag}-${i}`, coordinator: { reference: 'Practitioner/coordinator' } })) {
      tasks.push((await first.create(task)).version.resource as Task);
    }
    if (i % 2 === 0) {
      const contact: Communication = { resourceType: 'Communication', status: 'completed', subject: { reference: patient }, sent: '2026-12-01T11:00:00-05:00', category: [{ coding: [{ system: SYSTEMS.tcmDeadline, code: 'interactive-contact' }] }] };
      await first.create(contact);
    }
  }
  return tasks;
}

const contactsOf = (tasks: Task[]): Task[] => tasks.filter((t) => t.code?.coding?.[0]?.code === 'interactive-contact');

/** The store, with its first search held until `release` is called: a sweep caught mid-run. */
function held(store: FhirStore): { store: FhirStore; started: Promise<void>; release: () => void } {
  let release!: () => void;
  let started!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const entered = new Promise<void>((resolve) => (started = resolve));
  let waited = false;
  const wrapped = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (property === 'search' && !waited) {
        return async (...args: Parameters<FhirStore['search']>) => {
          waited = true;
          started();
          await gate;
          return target.search(...args);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: wrapped, started: entered, release };
}

describe('the TCM sweep job on two instances of one PostgreSQL store', () => {
  it('runs on one instance at a time: the other is busy while the first sweeps, then finds nothing left', async () => {
    const tasks = contactsOf(await seed('lease', TRANSITIONS));
    const a = held(first);
    const jobA = new SweepJob({ store: a.store, now: () => AFTER_CONTACT_DUE, holder: 'instance-a' });
    const jobB = new SweepJob({ store: second, now: () => AFTER_CONTACT_DUE, holder: 'instance-b' });
    const running = jobA.trigger();
    await a.started; // A holds the lease and is in its first search
    expect(await jobB.trigger()).toEqual({ outcome: 'busy' });
    a.release();
    expect(await running).toEqual({ outcome: 'swept', result: { due: TRANSITIONS, met: TRANSITIONS / 2, overdue: TRANSITIONS / 2, ended: 0, skipped: 0 } });
    // Run again, on the other instance, late: nothing left to do, nothing written.
    expect(await jobB.trigger()).toMatchObject({ outcome: 'swept', result: { due: 0 } });
    const after = await Promise.all(tasks.map(async (t) => (await second.read('Task', t.id as string))?.resource as Task));
    expect(after.map((t) => t.meta?.versionId)).toEqual(tasks.map(() => '2'));
    await Promise.all([jobA.stop(), jobB.stop()]);
  });

  it('a dead instance\'s lease expires: the other takes the job over', async () => {
    expect(await first.claimLease(SWEEP_LEASE, 'dead-instance', 200)).toBe(true);
    const job = new SweepJob({ store: second, now: () => AFTER_VISIT_DUE, holder: 'instance-b', leaseTtlMs: 60_000 });
    expect(await job.trigger()).toEqual({ outcome: 'busy' });
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await job.trigger()).toMatchObject({ outcome: 'swept' });
    await job.stop();
  });

  it('two sweeps that overlap (no lease between them) settle each deadline exactly once', async () => {
    const tasks = contactsOf(await seed('overlap', TRANSITIONS));
    const [x, y] = await Promise.all([sweepDeadlines(first, AFTER_CONTACT_DUE, { pageSize: 7 }), sweepDeadlines(second, AFTER_CONTACT_DUE, { pageSize: 7 })]);
    // Between them every deadline was settled once; what one settled, the other skipped or never saw.
    expect(x.met + y.met).toBe(TRANSITIONS / 2);
    expect(x.overdue + y.overdue).toBe(TRANSITIONS / 2);
    const after = await Promise.all(tasks.map(async (t) => (await first.read('Task', t.id as string))?.resource as Task));
    expect(after.map((t) => t.meta?.versionId)).toEqual(tasks.map(() => '2'));
    expect(after.filter((t) => t.status === 'completed')).toHaveLength(TRANSITIONS / 2);
    expect(after.filter((t) => t.businessStatus?.coding?.[0]?.code === 'overdue')).toHaveLength(TRANSITIONS / 2);
    expect(await sweepDeadlines(second, AFTER_CONTACT_DUE)).toMatchObject({ due: 0 });
  });
});
