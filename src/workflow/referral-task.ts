// The referral Task's lifecycle (FHIR R4 Task state machine, as the Gravity SDOH referral pattern
// uses it): the hospital (requester) sends and withdraws, the agency (owner) answers and reports.
// Every edge says why it exists; any other change of status is refused.
import type { Coding, Task } from '@medplum/fhirtypes';
import { CODE_SYSTEM_BASE, STANDARD_CODES } from '../model/terminology.ts';
import type { Lifecycle } from './lifecycle.ts';
import { withEnteredInError } from './lifecycle.ts';

const R = ['requester'] as const;
const P = ['performer'] as const;

export const REFERRAL_LIFECYCLE: Lifecycle = {
  name: 'referral',
  actors: { requester: 'hospital', performer: 'agency' },
  initial: ['draft', 'requested'],
  reasonRequired: new Set(['rejected', 'cancelled', 'on-hold', 'failed']),
  edges: withEnteredInError({
    draft: [
      { to: 'requested', by: R, why: 'the hospital sends the referral it prepared' },
      { to: 'cancelled', by: R, why: 'the hospital drops a referral it never sent' },
    ],
    requested: [
      { to: 'received', by: P, why: 'Gravity: the agency acknowledges the referral before deciding' },
      { to: 'accepted', by: P, why: 'the agency takes the patient' },
      { to: 'rejected', by: P, why: 'the agency declines (no capacity, not in area, payer): with a reason' },
      { to: 'cancelled', by: R, why: 'the hospital withdraws the referral before an answer: with a reason' },
    ],
    received: [
      { to: 'accepted', by: P, why: 'the agency takes the patient after looking' },
      { to: 'rejected', by: P, why: 'the agency declines after looking: with a reason' },
      { to: 'cancelled', by: R, why: 'the hospital withdraws while the agency decides: with a reason' },
    ],
    accepted: [
      { to: 'in-progress', by: P, why: 'start of care: the first visit happened' },
      { to: 'on-hold', by: P, why: 'care cannot start yet (patient readmitted, not home): with a reason' },
      { to: 'failed', by: P, why: 'the agency cannot deliver after all: with a reason' },
      { to: 'cancelled', by: R, why: 'the hospital withdraws before care started (plan changed): with a reason' },
    ],
    'in-progress': [
      { to: 'on-hold', by: P, why: 'care paused (readmission, travel): with a reason' },
      { to: 'completed', by: P, why: 'the episode of home care ended as planned' },
      { to: 'failed', by: P, why: 'care stopped before its end: with a reason' },
      // No cancel once care started: visits under way are ended by the agency, not cut off by the sender.
    ],
    'on-hold': [
      { to: 'in-progress', by: P, why: 'care resumes' },
      { to: 'failed', by: P, why: 'care will not resume: with a reason' },
      { to: 'cancelled', by: R, why: 'the hospital withdraws a paused referral (patient went elsewhere): with a reason' },
    ],
    // Terminal: a new answer needs a new referral (the record of the old one stays true).
    completed: [],
    rejected: [],
    cancelled: [],
    failed: [],
    // Not used by referrals: a referral is answered (accepted), not made ready.
    ready: [],
  }),
};

/** Statuses in which a referral holds (or may still get) the patient: another agency's acceptance is blocked by it. */
export const PLACED_STATUSES = new Set<Task['status']>(['accepted', 'in-progress', 'on-hold', 'completed']);
/** Statuses still waiting for an agency's answer. */
export const OPEN_STATUSES = new Set<Task['status']>(['draft', 'requested', 'received']);

/** statusReason of the referrals carebridge cancels when another agency of a broadcast accepts. */
export const PLACED_ELSEWHERE: Coding = { system: `${CODE_SYSTEM_BASE}/referral-status-reason`, code: 'placed-elsewhere', display: 'placed with another agency' };
export const PLACED_ELSEWHERE_TEXT = 'placed with another agency';

/** A referral Task (Gravity pattern): intent order, code fulfill. Anything else with intent order counts too: it opens a patient to its owner. */
export function isReferralTask(task: Task): boolean {
  return task.intent === 'order' || (task.code?.coding ?? []).some((c) => c.system === STANDARD_CODES.fulfill.system && c.code === STANDARD_CODES.fulfill.code);
}

/** Was this referral cancelled by carebridge because another agency accepted? */
export function wasPlacedElsewhere(task: Task): boolean {
  return task.status === 'cancelled' && (task.statusReason?.coding ?? []).some((c) => c.system === PLACED_ELSEWHERE.system && c.code === PLACED_ELSEWHERE.code);
}

/** The CarePlan a Task belongs to ("CarePlan/<id>"), if any. */
export function carePlanOf(task: Task): string | undefined {
  return task.basedOn?.map((r) => r.reference).find((r): r is string => typeof r === 'string' && /^CarePlan\/[^/]+$/.test(r));
}
