// Who is sent what: a broadcast plan pushed over HTTP with real tokens, routed to three agency
// peers and the hospital's EHR by carebridge's tenancy rules — each agency its own referral and
// its referred patient, the EHR what others changed about its patients, nobody its own writes.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Appointment, Task } from '@medplum/fhirtypes';
import type { AuthTestServer } from '../auth/support/auth-server.ts';
import { startAuthTestServer } from '../auth/support/auth-server.ts';
import { withPeerDefaults } from '../../src/config/peers.ts';
import type { Delivery } from '../../src/store/outbox.ts';
import { peerRouter } from '../../src/sync/outbox/peer-router.ts';
import { ADMIN, HOSPITAL, HOSPITAL_NPI, NPI, agencies, agencyNpi, broadcastPlan, ifMatch, pushPlan } from '../workflow/support/broadcast.ts';

const AGENCIES = agencies(3);
const PUSHED = ['Patient', 'CarePlan', 'CareTeam', 'Goal', 'Task', 'ServiceRequest', 'Appointment'];
const peers = [
  ...AGENCIES.map((_, i) => withPeerDefaults({ name: `agency-${i}`, kind: 'agency', organization: { system: NPI, value: agencyNpi(i) }, fhirBaseUrl: `http://127.0.0.1:1/agency-${i}`, push: { resourceTypes: PUSHED } })),
  withPeerDefaults({ name: 'ehr', kind: 'ehr', organization: { system: NPI, value: HOSPITAL_NPI }, fhirBaseUrl: 'http://127.0.0.1:1/ehr', push: { resourceTypes: ['Task', 'Appointment', 'Observation'] } }),
];

let server: AuthTestServer;
let seen = 0;

beforeAll(async () => {
  server = await startAuthTestServer({ principals: [HOSPITAL, ADMIN, ...AGENCIES] });
  server.store.configure({ outboxRouter: peerRouter(peers) });
});
afterAll(async () => {
  await server?.stop();
});

/** Deliveries queued since the last call, as "destination Type/id". */
async function queuedSinceLast(): Promise<Delivery[]> {
  const rows = await server.store.listDeliveries({ afterId: seen, limit: 10_000 });
  seen = rows.at(-1)?.id ?? seen;
  return rows;
}

const to = (rows: Delivery[], destination: string): string[] => rows.filter((r) => r.destination === destination).map((r) => `${r.resourceType}/${r.resourceId}`);

describe('the peer router', () => {
  it('sends each agency its referral and its referred patient, never another agency\'s referral, and the EHR nothing of its own push', async () => {
    const plan = await pushPlan(server.as(HOSPITAL), broadcastPlan('routing'));
    const rows = await queuedSinceLast();
    expect(to(rows, 'ehr')).toEqual([]);
    for (let i = 0; i < 3; i += 1) {
      const mine = to(rows, `agency-${i}`);
      expect(mine).toEqual(expect.arrayContaining([`Patient/${plan.patient}`, `CarePlan/${plan.carePlan.id}`, `Task/${plan.referrals.get(agencyNpi(i))?.id}`]));
      for (let j = 0; j < 3; j += 1) {
        if (j !== i) {
          expect(mine).not.toContain(`Task/${plan.referrals.get(agencyNpi(j))?.id}`);
        }
      }
      expect(new Set(rows.filter((r) => r.destination === `agency-${i}`).map((r) => r.patientId))).toEqual(new Set([plan.patient]));
    }
    // The resources of the plan go out in the order they were written: the Patient first.
    expect(to(rows, 'agency-0')[0]).toBe(`Patient/${plan.patient}`);

    // Agency 0 accepts: the EHR hears of it, agency 0 does not hear its own write back, and the
    // agencies whose referrals carebridge cancelled are told (they own those Tasks), nothing else.
    const task = plan.referrals.get(agencyNpi(0)) as Task;
    expect((await server.as(AGENCIES[0] as typeof HOSPITAL)('PUT', `Task/${task.id}`, { ...task, status: 'accepted' }, ifMatch(task))).status).toBe(200);
    const afterAccept = await queuedSinceLast();
    expect(to(afterAccept, 'agency-0')).not.toContain(`Task/${task.id}`);
    expect(to(afterAccept, 'ehr')).toEqual(expect.arrayContaining([`Task/${task.id}`]));
    for (const i of [1, 2]) {
      expect(to(afterAccept, `agency-${i}`)).toEqual([`Task/${plan.referrals.get(agencyNpi(i))?.id}`]);
    }

    // Later changes of the plan go to the agency that has the patient, not to the ones that lost it.
    const carePlan = (await server.as(HOSPITAL)('GET', `CarePlan/${plan.carePlan.id}`)).body as NonNullable<typeof plan.carePlan>;
    expect((await server.as(HOSPITAL)('PUT', `CarePlan/${carePlan.id}`, { ...carePlan, description: 'Follow-up moved to Tuesday' })).status).toBe(200);
    const afterUpdate = await queuedSinceLast();
    expect(to(afterUpdate, 'agency-0')).toContain(`CarePlan/${carePlan.id}`);
    expect(to(afterUpdate, 'agency-1')).toEqual([]);
    expect(to(afterUpdate, 'agency-2')).toEqual([]);
    expect(to(afterUpdate, 'ehr')).toEqual([]);
  });

  it('tells only the parties concerned what changed when the hospital pushes a new version of the plan', async () => {
    const plan = broadcastPlan('update-after-discharge');
    const first = await server.http(HOSPITAL)('POST', '/transitions', plan, { 'content-type': 'application/json' });
    expect(first.status).toBe(201);
    const pushed = first.body as { carePlan: string; referrals: { task: string; agency: { identifier: { value: string } } }[] };
    const mine = pushed.referrals.find((r) => r.agency.identifier.value === agencyNpi(0)) as (typeof pushed.referrals)[number];
    const task = (await server.as(HOSPITAL)('GET', mine.task)).body as Task;
    expect((await server.as(AGENCIES[0] as typeof HOSPITAL)('PUT', mine.task, { ...task, status: 'accepted' }, ifMatch(task))).status).toBe(200);
    await queuedSinceLast();

    // The follow-up visit moves by a day: nothing else in the plan changes.
    const followUps = plan.followUps ?? [];
    const moved = followUps[1] as NonNullable<typeof plan.followUps>[number];
    const changed = { ...plan, followUps: followUps.map((f) => (f === moved ? { ...f, start: '2026-12-11T09:00:00-05:00' } : f)) };
    expect((await server.http(HOSPITAL)('POST', '/transitions', changed, { 'content-type': 'application/json' })).status).toBe(200);
    const rows = await queuedSinceLast();
    const appointments = rows.filter((r) => r.resourceType === 'Appointment');
    expect(appointments.map((r) => r.destination)).toEqual(['agency-0']);
    const appointment = (await server.as(HOSPITAL)('GET', `Appointment/${appointments[0]?.resourceId}`)).body as Appointment;
    expect(appointment.start).toBe('2026-12-11T09:00:00-05:00');
    // The agencies whose referrals were cancelled hear nothing; the hospital's EHR does not hear its own push.
    expect(rows.filter((r) => r.destination !== 'agency-0')).toEqual([]);
    // Only what changed: no resource of the plan that stayed the same is sent again.
    expect(rows.every((r) => r.resourceType === 'Appointment' || r.resourceType === 'CarePlan')).toBe(true);
  });
});
