// The overdue sweep on a real SQLite store and fixed clocks: it settles exactly the deadlines that
// fell due, judges evidence against the due time (so a late run agrees with a punctual one), and
// a second run finds nothing to do.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Communication, Task } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CLOCK, clockRulesFor, withClockDefaults } from '../../src/config/clock.ts';
import { deadlineTasks } from '../../src/mapping/deadline-tasks.ts';
import { SYSTEMS } from '../../src/model/terminology.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../../src/validation/definitions.ts';
import { sweepDeadlines } from '../../src/workflow/tcm-sweep.ts';
import { readPlan } from '../support/fixtures.ts';

const plan = readPlan('broadcast-three-agencies.json'); // discharged Mon 2026-11-30 16:20 EST, moderate
const rules = clockRulesFor(withClockDefaults({ timeZone: 'America/New_York' }), undefined);
const at = (iso: string): number => Date.parse(iso);

describe('overdue sweep', () => {
  let dir: string;
  let store: SqliteStore;

  beforeEach(async () => {
    loadDefinitions();
    dir = mkdtempSync(join(tmpdir(), 'carebridge-sweep-'));
    store = await SqliteStore.open(join(dir, 'carebridge.db'));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function openTransition(n: number): Promise<Task[]> {
    const out: Task[] = [];
    for (const task of deadlineTasks(plan, rules, { patient: `Patient/p${n}`, carePlan: `CarePlan/c${n}`, coordinator: { reference: `Practitioner/coord${n}` } })) {
      out.push((await store.create(task)).version.resource as Task);
    }
    return out;
  }
  const read = async (id: string | undefined): Promise<Task> => (await store.read('Task', id as string))?.resource as Task;
  const contactCommunication = (patient: string, sent: string, status: Communication['status'] = 'completed'): Communication => ({
    resourceType: 'Communication',
    status,
    subject: { reference: patient },
    sent,
    category: [{ coding: [{ system: SYSTEMS.tcmDeadline, code: 'interactive-contact' }] }],
  });

  it('does nothing before a deadline ends', async () => {
    await openTransition(1);
    expect(await sweepDeadlines(store, at('2026-12-02T23:59:00-05:00'))).toMatchObject({ due: 0 });
  });

  it('completes a contact met in time with its evidence, marks an unmet one overdue, and finds nothing the second time', async () => {
    const [met] = await openTransition(1);
    const [missed] = await openTransition(2);
    const evidence = (await store.create(contactCommunication('Patient/p1', '2026-12-01T11:00:00-05:00'))).version.resource as Communication;
    const result = await sweepDeadlines(store, at('2026-12-03T00:01:00-05:00'));
    expect(result).toEqual({ due: 2, met: 1, overdue: 1, ended: 0, skipped: 0 });
    const done = await read(met?.id);
    expect(done.status).toBe('completed');
    expect(done.output?.[0]?.valueReference?.reference).toBe(`Communication/${evidence.id}`);
    const late = await read(missed?.id);
    expect([late.status, late.businessStatus?.coding?.[0]?.code]).toEqual(['requested', 'overdue']);
    expect(await sweepDeadlines(store, at('2026-12-03T00:06:00-05:00'))).toMatchObject({ due: 0 });
  });

  it('counts two unsuccessful attempts as the contact', async () => {
    const [contact] = await openTransition(1);
    await store.create(contactCommunication('Patient/p1', '2026-12-01T11:00:00-05:00', 'not-done'));
    await store.create(contactCommunication('Patient/p1', '2026-12-02T11:00:00-05:00', 'not-done'));
    expect(await sweepDeadlines(store, at('2026-12-03T00:01:00-05:00'))).toMatchObject({ met: 1 });
    expect((await read(contact?.id)).output).toHaveLength(2);
  });

  it('judges a late run by the due time: evidence after the deadline is late, and every due deadline settles at once', async () => {
    const [contact, visit, medRec, periodEnd] = await openTransition(1);
    await store.create(contactCommunication('Patient/p1', '2026-12-04T11:00:00-05:00'));
    await store.create({ resourceType: 'Appointment', status: 'fulfilled', start: '2026-12-10T10:00:00-05:00', participant: [{ actor: { reference: 'Patient/p1' }, status: 'accepted' }] });
    const result = await sweepDeadlines(store, at('2027-01-15T12:00:00Z'));
    expect(result).toEqual({ due: 4, met: 1, overdue: 2, ended: 1, skipped: 0 });
    const c = await read(contact?.id);
    expect([c.status, c.businessStatus?.coding?.[0]?.code]).toEqual(['completed', 'overdue']);
    expect((await read(visit?.id)).status).toBe('completed');
    expect((await read(medRec?.id)).businessStatus?.coding?.[0]?.code).toBe('overdue');
    expect((await read(periodEnd?.id)).businessStatus?.coding?.[0]?.code).toBe('period-ended');
  });

  it('pages through more due deadlines than one page holds', async () => {
    for (let n = 0; n < 7; n++) {
      await openTransition(n);
    }
    expect(await sweepDeadlines(store, at('2026-12-03T00:01:00-05:00'), { pageSize: 3 })).toMatchObject({ due: 7, overdue: 7 });
  });

  it('uses the default clock rules when nothing is configured', () => {
    expect(clockRulesFor(DEFAULT_CLOCK, { system: 'x', value: 'y' })).toEqual({ calendar: DEFAULT_CLOCK.holidays });
  });
});
