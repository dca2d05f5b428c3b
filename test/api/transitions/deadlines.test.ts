// The TCM deadline Tasks a push creates, over HTTP: one per deadline, owned by the care
// coordinator, due in the hospital's zone, searchable by code; their status is the clock's.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, CareTeam, Task } from '@medplum/fhirtypes';
import { withClockDefaults } from '../../../src/config/clock.ts';
import { SYSTEMS } from '../../../src/model/terminology.ts';
import type { AuthTestServer } from '../../auth/support/auth-server.ts';
import { startAuthTestServer } from '../../auth/support/auth-server.ts';
import { readPlan } from '../../support/fixtures.ts';
import { ADMIN, HOSPITAL, PARTIES } from './support.ts';

const codeOf = (t: Task): string | undefined => t.code?.coding?.[0]?.code;

describe('TCM deadline Tasks', () => {
  let server: AuthTestServer;
  const plan = readPlan('broadcast-three-agencies.json');
  let carePlan: string;

  beforeAll(async () => {
    // The discharging hospital (Baltimore) in its zone; one extra holiday to show the override.
    server = await startAuthTestServer({
      principals: PARTIES,
      tcmClock: withClockDefaults({ hospitals: [{ identifier: plan.hospitalStay.dischargingOrganization.identifier, timeZone: 'America/New_York' }], holidays: { add: ['2026-12-01'] } }),
    });
    const pushed = await server.http(HOSPITAL)('POST', '/transitions', plan, { 'content-type': 'application/json' });
    expect(pushed.status).toBe(201);
    carePlan = (pushed.body as { carePlan: string }).carePlan;
  });
  afterAll(() => server.stop());

  const deadlines = async (): Promise<Task[]> => {
    const found = await server.as(ADMIN)('GET', `Task?based-on=${carePlan}&code=${encodeURIComponent(SYSTEMS.tcmDeadline)}%7C&_count=50`);
    return ((found.body as Bundle).entry ?? []).map((e) => e.resource as Task);
  };

  it('creates one Task per deadline with the push, due at the end of the local day', async () => {
    // Discharged Monday 2026-11-30 16:20 EST, moderate complexity; Tuesday Dec 1 is a configured holiday.
    const tasks = await deadlines();
    expect(Object.fromEntries(tasks.map((t) => [codeOf(t), t.restriction?.period?.end]))).toEqual({
      'interactive-contact': '2026-12-03T23:59:59-05:00',
      'face-to-face-visit': '2026-12-14T23:59:59-05:00',
      'medication-reconciliation': '2026-12-14T23:59:59-05:00',
      'tcm-period-end': '2026-12-29T23:59:59-05:00',
    });
    expect(tasks.every((t) => t.status === 'requested' && t.intent === 'plan' && t.basedOn?.[0]?.reference === carePlan)).toBe(true);
  });

  it('makes the care coordinator on the CareTeam the owner and the patient the focus', async () => {
    const [task] = await deadlines();
    const careTeams = await server.as(ADMIN)('GET', `CareTeam?subject=${task?.for?.reference}`);
    const careTeam = ((careTeams.body as Bundle).entry ?? [])[0]?.resource as CareTeam;
    const coordinator = careTeam.participant?.find((p) => p.role?.[0]?.coding?.[0]?.code === 'care-coordinator');
    expect(task?.owner?.reference).toBe(coordinator?.member?.reference);
    expect(task?.for?.reference).toMatch(/^Patient\//);
  });

  it('finds open deadlines by due time (Task?open-deadline=lt…)', async () => {
    const found = await server.as(ADMIN)('GET', 'Task?open-deadline=lt2026-12-05&_count=50');
    expect(((found.body as Bundle).entry ?? []).map((e) => codeOf(e.resource as Task))).toEqual(['interactive-contact']);
  });

  it('refuses a client that ticks a deadline off: 422, met only by evidence', async () => {
    const [task] = await deadlines();
    const ticked = await server.as(HOSPITAL)('PUT', `Task/${task?.id}`, { ...task, status: 'completed' });
    expect(ticked.status).toBe(422);
    expect(JSON.stringify(ticked.body)).toContain('met by its evidence');
  });

  it('keeps the deadlines as they are when the same plan is pushed again', async () => {
    const before = await deadlines();
    const again = await server.http(HOSPITAL)('POST', '/transitions', plan, { 'content-type': 'application/json' });
    expect(again.status).toBe(200);
    expect((await deadlines()).map((t) => t.meta?.versionId)).toEqual(before.map((t) => t.meta?.versionId));
  });
});
