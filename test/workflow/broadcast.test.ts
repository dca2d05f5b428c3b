// Broadcast referrals over HTTP with real tokens: the first agency to accept gets the patient, the
// others' referrals are cancelled by carebridge ("placed with another agency") and they lose sight
// of the patient; of many simultaneous acceptances exactly one wins.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { CarePlan, OperationOutcome, Task } from '@medplum/fhirtypes';
import type { AuthTestServer } from '../auth/support/auth-server.ts';
import { startAuthTestServer } from '../auth/support/auth-server.ts';
import { PLACED_ELSEWHERE } from '../../src/workflow/referral-task.ts';
import { REFERRAL_STATE_URL } from '../../src/workflow/roll-up.ts';
import { ADMIN, HOSPITAL, agencies, agencyNpi, broadcastPlan, ifMatch, pushPlan } from './support/broadcast.ts';

const RACERS = 20;
const AGENCIES = agencies(RACERS);

let server: AuthTestServer;

beforeAll(async () => {
  server = await startAuthTestServer({ principals: [HOSPITAL, ADMIN, ...AGENCIES] });
});
afterAll(async () => {
  await server?.stop();
});

const text = (body: unknown): string => ((body as OperationOutcome | undefined)?.issue ?? []).map((i) => i.details?.text ?? '').join(' ');
const referralState = (plan: CarePlan | undefined): string | undefined => plan?.extension?.find((e) => e.url === REFERRAL_STATE_URL)?.valueCode;

describe('a broadcast referral', () => {
  it('placed with the first agency to accept: the others are cancelled with the reason and lose the patient', async () => {
    const plan = await pushPlan(server.as(HOSPITAL), broadcastPlan('accept'));
    const [first, second, third] = AGENCIES as [typeof HOSPITAL, typeof HOSPITAL, typeof HOSPITAL];
    const mine = plan.referrals.get(agencyNpi(0)) as Task;
    const accepted = await server.as(first)('PUT', `Task/${mine.id}`, { ...mine, status: 'accepted' }, ifMatch(mine));
    expect(accepted.status).toBe(200);
    for (const [i, agency] of [[1, second], [2, third]] as const) {
      const theirs = plan.referrals.get(agencyNpi(i)) as Task;
      const seen = (await server.as(HOSPITAL)('GET', `Task/${theirs.id}`)).body as Task;
      expect(seen.status).toBe('cancelled');
      expect(seen.statusReason?.text).toBe('placed with another agency');
      expect(seen.statusReason?.coding).toEqual([PLACED_ELSEWHERE]);
      expect((await server.as(agency)('GET', `Patient/${plan.patient}`)).status).toBe(404);
      const late = await server.as(agency)('PUT', `Task/${theirs.id}`, { ...theirs, status: 'accepted' }, ifMatch(theirs));
      expect({ status: late.status, text: text(late.body) }).toEqual({ status: 409, text: expect.stringContaining('another agency accepted this referral') });
    }
    expect((await server.as(first)('GET', `Patient/${plan.patient}`)).status).toBe(200);
    const carePlan = (await server.as(HOSPITAL)('GET', `CarePlan/${plan.carePlan.id}`)).body as CarePlan;
    expect(referralState(carePlan)).toBe('placed');
  });

  it('declined by every agency: the plan says so', async () => {
    const plan = await pushPlan(server.as(HOSPITAL), broadcastPlan('declined'));
    for (let i = 0; i < 3; i++) {
      const task = plan.referrals.get(agencyNpi(i)) as Task;
      const answer = await server.as(AGENCIES[i] as typeof HOSPITAL)('PUT', `Task/${task.id}`, { ...task, status: 'rejected', statusReason: { text: 'no capacity' } }, ifMatch(task));
      expect(answer.status).toBe(200);
      expect((await server.as(AGENCIES[i] as typeof HOSPITAL)('GET', `Patient/${plan.patient}`)).status).toBe(404);
    }
    const carePlan = (await server.as(HOSPITAL)('GET', `CarePlan/${plan.carePlan.id}`)).body as CarePlan;
    expect(referralState(carePlan)).toBe('declined-by-all');
  });

  it('withdrawn by the hospital: the agency loses the patient', async () => {
    const plan = await pushPlan(server.as(HOSPITAL), broadcastPlan('withdrawn', 1));
    const task = plan.referrals.get(agencyNpi(0)) as Task;
    const agency = server.as(AGENCIES[0] as typeof HOSPITAL);
    expect((await agency('GET', `Patient/${plan.patient}`)).status).toBe(200);
    const refused = await server.as(HOSPITAL)('PUT', `Task/${task.id}`, { ...task, status: 'cancelled' }, ifMatch(task));
    expect(refused.status).toBe(422);
    const withdrawn = await server.as(HOSPITAL)('PUT', `Task/${task.id}`, { ...task, status: 'cancelled', statusReason: { text: 'patient chose a family caregiver' } }, ifMatch(task));
    expect(withdrawn.status).toBe(200);
    expect((await agency('GET', `Patient/${plan.patient}`)).status).toBe(404);
    expect(referralState((await server.as(HOSPITAL)('GET', `CarePlan/${plan.carePlan.id}`)).body as CarePlan)).toBe('withdrawn');
  });

  it(`accepted by ${RACERS} agencies at the same instant: exactly one wins, the others hear why`, async () => {
    const plan = await pushPlan(server.as(HOSPITAL), broadcastPlan('race', RACERS));
    const answers = await Promise.all(
      AGENCIES.map((agency, i) => {
        const task = plan.referrals.get(agencyNpi(i)) as Task;
        return server.as(agency)('PUT', `Task/${task.id}`, { ...task, status: 'accepted' }, ifMatch(task));
      }),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, ...Array<number>(RACERS - 1).fill(409)]);
    for (const lost of answers.filter((a) => a.status === 409)) {
      expect(text(lost.body)).toContain('another agency accepted this referral');
    }
    const tasks = await Promise.all([...plan.referrals.values()].map(async (t) => ((await server.as(HOSPITAL)('GET', `Task/${t.id}`)).body as Task).status));
    expect(tasks.filter((s) => s === 'accepted')).toHaveLength(1);
    expect(tasks.filter((s) => s === 'cancelled')).toHaveLength(RACERS - 1);
  });
});
