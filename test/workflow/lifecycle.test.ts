// The lifecycle tables (pure): answers and the sentences that explain them.
import { describe, expect, it } from '@jest/globals';
import { CARE_TASK_LIFECYCLE } from '../../src/workflow/care-task.ts';
import { TASK_STATUSES, allowedNext, checkInitial, checkTransition, isTerminal } from '../../src/workflow/lifecycle.ts';
import { REFERRAL_LIFECYCLE } from '../../src/workflow/referral-task.ts';

describe('the referral lifecycle', () => {
  it('names what each side may set next', () => {
    expect(allowedNext(REFERRAL_LIFECYCLE, 'performer', 'requested')).toEqual(['received', 'accepted', 'rejected']);
    expect(allowedNext(REFERRAL_LIFECYCLE, 'requester', 'requested')).toEqual(['cancelled', 'entered-in-error']);
    expect(checkTransition(REFERRAL_LIFECYCLE, 'performer', 'requested', 'completed', true)).toEqual({
      status: 409,
      allowed: ['received', 'accepted', 'rejected'],
      text: 'A referral Task cannot go from requested to completed. From requested, agency may set: received, accepted, rejected',
    });
  });

  it('refuses a missing reason only where one is required', () => {
    expect(checkTransition(REFERRAL_LIFECYCLE, 'performer', 'requested', 'rejected', false)?.status).toBe(422);
    expect(checkTransition(REFERRAL_LIFECYCLE, 'performer', 'requested', 'accepted', false)).toBeUndefined();
    expect(checkTransition(CARE_TASK_LIFECYCLE, 'performer', 'in-progress', 'failed', false)).toBeUndefined();
  });

  it('ends in completed, rejected, cancelled, failed and entered-in-error', () => {
    expect(TASK_STATUSES.filter((s) => isTerminal(REFERRAL_LIFECYCLE, s) && s !== 'ready')).toEqual(['rejected', 'cancelled', 'failed', 'completed', 'entered-in-error']);
  });

  it('gives every edge a reason', () => {
    for (const lifecycle of [REFERRAL_LIFECYCLE, CARE_TASK_LIFECYCLE]) {
      for (const edges of Object.values(lifecycle.edges)) {
        for (const edge of edges) {
          expect(edge.why.length).toBeGreaterThan(5);
        }
      }
    }
  });

  it('lets a new Task start only where its lifecycle starts', () => {
    expect(checkInitial(REFERRAL_LIFECYCLE, 'requested')).toBeUndefined();
    expect(checkInitial(REFERRAL_LIFECYCLE, 'accepted')?.status).toBe(422);
    expect(checkInitial(CARE_TASK_LIFECYCLE, 'ready')).toBeUndefined();
  });
});
