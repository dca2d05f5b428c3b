// The plan's roll-up from its Tasks and follow-ups (pure).
import { describe, expect, it } from '@jest/globals';
import type { Appointment, CarePlan, Task } from '@medplum/fhirtypes';
import { PLACED_ELSEWHERE } from '../../src/workflow/referral-task.ts';
import { recordedReferralState, rollUp, withReferralState } from '../../src/workflow/roll-up.ts';

const plan: CarePlan = { resourceType: 'CarePlan', id: 'p', status: 'active', intent: 'plan', subject: { reference: 'Patient/x' } };
const referral = (status: Task['status'], extra: Partial<Task> = {}): Task => ({ resourceType: 'Task', status, intent: 'order', ...extra });
const toDo = (status: Task['status']): Task => ({ resourceType: 'Task', status, intent: 'plan' });
const visit = (status: Appointment['status']): Appointment => ({ resourceType: 'Appointment', status, participant: [] });
const placedElsewhere = referral('cancelled', { statusReason: { coding: [PLACED_ELSEWHERE], text: 'placed with another agency' } });

describe('rollUp', () => {
  it.each([
    ['none', []],
    ['open', [referral('requested'), referral('rejected', { statusReason: { text: 'full' } })]],
    ['placed', [referral('accepted'), placedElsewhere, placedElsewhere]],
    ['placed', [referral('completed'), placedElsewhere]],
    ['declined-by-all', [referral('rejected'), referral('rejected'), referral('failed')]],
    ['declined-by-all', [referral('failed'), placedElsewhere]],
    ['withdrawn', [referral('rejected'), referral('cancelled', { statusReason: { text: 'patient moved' } })]],
    ['none', [referral('entered-in-error')]],
  ] as const)('referral state %s', (state, tasks) => {
    expect(rollUp(plan, tasks as unknown as Task[], []).referral).toBe(state);
  });

  it('counts follow-ups done out of those not cancelled', () => {
    const result = rollUp(plan, [], [visit('fulfilled'), visit('booked'), visit('cancelled'), visit('noshow')]);
    expect(result.followUps).toEqual({ done: 1, total: 3 });
    expect(result.canComplete).toBe(false);
    expect(result.blockers).toEqual(['1 follow-up(s) still to happen']);
  });

  it('lets the plan complete when no referral is unsettled and no follow-up is still to happen', () => {
    expect(rollUp(plan, [referral('completed'), placedElsewhere, toDo('in-progress')], [visit('fulfilled'), visit('noshow')])).toEqual({
      referral: 'placed',
      followUps: { done: 1, total: 2 },
      toDos: { done: 0, total: 1, active: 1 },
      canComplete: true,
      blockers: [],
    });
    expect(rollUp(plan, [referral('in-progress')], []).blockers).toEqual(['1 referral(s) not finished (in-progress)']);
  });

  it('keeps the referral state as one extension among the others', () => {
    const other = { url: 'http://example.org/x', valueString: 'kept' };
    const marked = withReferralState({ ...plan, extension: [other] }, 'declined-by-all');
    expect(recordedReferralState(marked)).toBe('declined-by-all');
    expect(marked.extension?.[0]).toEqual(other);
    expect(withReferralState(marked, undefined).extension).toEqual([other]);
    expect(withReferralState(plan, undefined)).toEqual(plan);
  });
});
