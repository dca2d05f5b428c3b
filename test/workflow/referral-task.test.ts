// One referral and the plan's to-dos over HTTP with real tokens: If-Match, reasons, the caregiver
// to-do lifecycle, and completing the CarePlan only when its roll-up allows.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Appointment, CarePlan, OperationOutcome, Task } from '@medplum/fhirtypes';
import type { AuthTestServer, Call } from '../auth/support/auth-server.ts';
import { startAuthTestServer } from '../auth/support/auth-server.ts';
import type { Principal } from '../../src/auth/principal.ts';
import type { PushedPlan } from './support/broadcast.ts';
import { HOSPITAL, agencies, agencyNpi, broadcastPlan, ifMatch, pushPlan } from './support/broadcast.ts';

const [AGENCY] = agencies(1) as [Principal];
let server: AuthTestServer;
let hospital: Call;
let agency: Call;

beforeAll(async () => {
  server = await startAuthTestServer({ principals: [HOSPITAL, AGENCY] });
  hospital = server.as(HOSPITAL);
  agency = server.as(AGENCY);
});
afterAll(async () => {
  await server?.stop();
});

const text = (body: unknown): string => ((body as OperationOutcome | undefined)?.issue ?? []).map((i) => i.details?.text ?? '').join(' ');

async function referralOf(tag: string): Promise<{ plan: PushedPlan; task: Task }> {
  const plan = await pushPlan(hospital, broadcastPlan(tag, 1));
  return { plan, task: plan.referrals.get(agencyNpi(0)) as Task };
}

/** PUT the Task with a new status as `who`, If-Match its version; returns the stored Task. */
async function move(who: Call, task: Task, status: Task['status'], extra: Partial<Task> = {}): Promise<Task> {
  const answer = await who('PUT', `Task/${task.id}`, { ...task, status, ...extra }, ifMatch(task));
  if (answer.status !== 200) {
    throw new Error(`PUT Task/${task.id} ${task.status} → ${status}: ${answer.status} ${answer.text}`);
  }
  return answer.body as Task;
}

describe('a referral Task', () => {
  it('changes status only with If-Match (428), and not with a stale one (412)', async () => {
    const { task } = await referralOf('if-match');
    const missing = await agency('PUT', `Task/${task.id}`, { ...task, status: 'accepted' });
    expect({ status: missing.status, text: text(missing.body) }).toEqual({ status: 428, text: expect.stringContaining('If-Match') });
    const noted = await move(hospital, task, 'requested', { note: [{ text: 'ring the side door' }] });
    const stale = await agency('PUT', `Task/${task.id}`, { ...noted, status: 'accepted' }, ifMatch(task));
    expect(stale.status).toBe(412);
    expect((await agency('PUT', `Task/${task.id}`, { ...noted, status: 'accepted' }, ifMatch(noted))).status).toBe(200);
  });

  it('needs a reason to be rejected, cancelled, put on hold or failed (422)', async () => {
    const { task } = await referralOf('reasons');
    const answers = [await agency('PUT', `Task/${task.id}`, { ...task, status: 'rejected' }, ifMatch(task)), await hospital('PUT', `Task/${task.id}`, { ...task, status: 'cancelled' }, ifMatch(task))];
    const accepted = await move(agency, task, 'accepted');
    answers.push(await agency('PUT', `Task/${task.id}`, { ...accepted, status: 'on-hold' }, ifMatch(accepted)), await agency('PUT', `Task/${task.id}`, { ...accepted, status: 'failed', statusReason: { text: '  ' } }, ifMatch(accepted)));
    expect(answers.map((a) => a.status)).toEqual([422, 422, 422, 422]);
    expect(text(answers[0]?.body)).toContain('statusReason');
  });

  it('rejected with a reason: the agency loses the patient', async () => {
    const { plan, task } = await referralOf('reject');
    await move(agency, task, 'rejected', { statusReason: { coding: [{ system: 'http://example.org/reason', code: 'no-capacity' }] } });
    expect((await agency('GET', `Patient/${plan.patient}`)).status).toBe(404);
    expect(((await hospital('GET', `Task/${task.id}`)).body as Task).status).toBe('rejected');
  });

  it('tells the caller what it may set instead', async () => {
    const { task } = await referralOf('choices');
    const answer = await agency('PUT', `Task/${task.id}`, { ...task, status: 'completed' }, ifMatch(task));
    expect({ status: answer.status, text: text(answer.body) }).toEqual({ status: 409, text: expect.stringContaining('From requested, agency may set: received, accepted, rejected') });
    const hospitalAnswer = await hospital('PUT', `Task/${task.id}`, { ...task, status: 'accepted' }, ifMatch(task));
    expect({ status: hospitalAnswer.status, text: text(hospitalAnswer.body) }).toEqual({ status: 403, text: expect.stringContaining('From requested, hospital may set: cancelled, entered-in-error') });
  });

  it('starts as draft or requested', async () => {
    const { plan, task } = await referralOf('initial');
    const { id: _id, meta: _meta, identifier: _identifier, ...content } = task;
    expect((await hospital('POST', 'Task', { ...content, status: 'accepted' })).status).toBe(422);
    expect((await hospital('POST', 'Task', { ...content, status: 'requested' })).status).toBe(201);
    expect(plan.carePlan.id).toBeDefined();
  });
});

describe('a caregiver to-do', () => {
  it('is readied by the coordinator, reported on by the agency, cancelled only by the coordinator', async () => {
    const { plan } = await referralOf('to-do');
    let todo = plan.caregiverTasks[0] as Task;
    expect(todo.status).toBe('requested');
    const cancel = await agency('PUT', `Task/${todo.id}`, { ...todo, status: 'cancelled' });
    expect(cancel.status).toBe(403);
    todo = await move(hospital, todo, 'ready');
    todo = await move(agency, todo, 'in-progress');
    todo = await move(agency, todo, 'on-hold');
    todo = await move(hospital, todo, 'in-progress');
    todo = await move(agency, todo, 'completed');
    const reopen = await agency('PUT', `Task/${todo.id}`, { ...todo, status: 'in-progress' });
    expect({ status: reopen.status, text: text(reopen.body) }).toEqual({ status: 409, text: expect.stringContaining('From completed, agency may set: nothing') });
  });
});

describe('completing the CarePlan', () => {
  it('is refused while a referral or a follow-up is open, allowed once all are done', async () => {
    const { plan, task } = await referralOf('complete');
    const carePlan = (await hospital('GET', `CarePlan/${plan.carePlan.id}`)).body as CarePlan;
    const early = await hospital('PUT', `CarePlan/${carePlan.id}`, { ...carePlan, status: 'completed' }, ifMatch(carePlan));
    expect({ status: early.status, text: text(early.body) }).toEqual({ status: 409, text: expect.stringMatching(/1 referral\(s\) not finished \(requested\); 2 follow-up\(s\) still to happen/) });
    let referral = await move(agency, task, 'accepted');
    referral = await move(agency, referral, 'in-progress');
    await move(agency, referral, 'completed');
    for (const activity of carePlan.activity ?? []) {
      const reference = activity.reference?.reference ?? '';
      if (reference.startsWith('Appointment/')) {
        const appointment = (await hospital('GET', reference)).body as Appointment;
        expect((await hospital('PUT', reference, { ...appointment, status: 'fulfilled' }, ifMatch(appointment))).status).toBe(200);
      }
    }
    const current = (await hospital('GET', `CarePlan/${plan.carePlan.id}`)).body as CarePlan;
    const done = await hospital('PUT', `CarePlan/${current.id}`, { ...current, status: 'completed' }, ifMatch(current));
    expect(done.status).toBe(200);
    expect((done.body as CarePlan).extension).toEqual(current.extension);
  });

  it('keeps carebridge\'s referral state whatever the client sends', async () => {
    const { plan, task } = await referralOf('keep-state');
    await move(agency, task, 'accepted');
    const current = (await hospital('GET', `CarePlan/${plan.carePlan.id}`)).body as CarePlan;
    const state = current.extension?.find((e) => e.url.endsWith('/referral-state'));
    expect(state?.valueCode).toBe('placed');
    const forged = await hospital('PUT', `CarePlan/${current.id}`, { ...current, title: 'renamed', extension: [{ ...state, valueCode: 'declined-by-all' }] }, ifMatch(current));
    expect(forged.status).toBe(200);
    expect((forged.body as CarePlan).extension).toEqual([{ url: state?.url, valueCode: 'placed' }]);
  });
});
