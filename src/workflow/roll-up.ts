// What a care coordinator needs to know about a plan, computed from its Tasks and follow-up
// Appointments (pure). carebridge keeps the referral part on the CarePlan as an extension
// (REFERRAL_STATE_URL, written as carebridge itself, never by clients) so that "declined by all
// agencies" is visible to whoever reads the plan; the rest is computed when asked.
import type { Appointment, CarePlan, Extension, Task } from '@medplum/fhirtypes';
import { PROFILE_BASE } from '../model/terminology.ts';
import { isTerminal } from './lifecycle.ts';
import { CARE_TASK_LIFECYCLE, isCareTask } from './care-task.ts';
import { OPEN_STATUSES, PLACED_STATUSES, REFERRAL_LIFECYCLE, isReferralTask, wasPlacedElsewhere } from './referral-task.ts';

/**
 * - none: the plan refers no agency;
 * - open: some agency has not answered yet, and none took the patient;
 * - placed: an agency took the patient (accepted, in progress, on hold or completed);
 * - withdrawn: no referral is open or placed and the hospital cancelled at least one;
 * - declined-by-all: no referral is open or placed, every one was rejected or failed (or was
 *   cancelled because one that later failed was placed): the coordinator must find an agency.
 */
export type ReferralState = 'none' | 'open' | 'placed' | 'withdrawn' | 'declined-by-all';

export interface RollUp {
  referral: ReferralState;
  /** Follow-up Appointments fulfilled, out of those not cancelled or entered in error. */
  followUps: { done: number; total: number };
  /** Caregiver / coordinator to-dos completed, out of those not cancelled or entered in error. */
  toDos: { done: number; total: number; active: number };
  /** May the coordinator complete the plan now? See `blockers` when not. */
  canComplete: boolean;
  blockers: string[];
}

/** Appointment statuses still waiting to happen. */
const PENDING_APPOINTMENT = new Set<Appointment['status']>(['proposed', 'pending', 'booked', 'arrived', 'checked-in', 'waitlist']);
const VOID_APPOINTMENT = new Set<Appointment['status']>(['cancelled', 'entered-in-error']);

export const REFERRAL_STATE_URL = `${PROFILE_BASE}/referral-state`;

function referralState(referrals: Task[]): ReferralState {
  const live = referrals.filter((t) => t.status !== 'entered-in-error');
  if (live.length === 0) {
    return 'none';
  }
  if (live.some((t) => PLACED_STATUSES.has(t.status))) {
    return 'placed';
  }
  if (live.some((t) => OPEN_STATUSES.has(t.status))) {
    return 'open';
  }
  return live.some((t) => t.status === 'cancelled' && !wasPlacedElsewhere(t)) ? 'withdrawn' : 'declined-by-all';
}

/**
 * The roll-up of one plan. `tasks`: the Tasks based on it (referrals and to-dos; others are
 * ignored); `appointments`: its follow-ups. The CarePlan itself is not read yet (kept in the
 * signature so that rules about it need no change of callers).
 */
export function rollUp(_carePlan: CarePlan, tasks: readonly Task[], appointments: readonly Appointment[]): RollUp {
  const referrals = tasks.filter(isReferralTask);
  const toDos = tasks.filter((t) => !isReferralTask(t) && isCareTask(t)).filter((t) => t.status !== 'cancelled' && t.status !== 'entered-in-error');
  const visits = appointments.filter((a) => !VOID_APPOINTMENT.has(a.status));
  const referral = referralState(referrals);
  const blockers: string[] = [];
  const unsettled = referrals.filter((t) => !isTerminal(REFERRAL_LIFECYCLE, t.status));
  if (unsettled.length > 0) {
    blockers.push(`${unsettled.length} referral(s) not finished (${[...new Set(unsettled.map((t) => t.status))].join(', ')})`);
  }
  const pending = visits.filter((a) => PENDING_APPOINTMENT.has(a.status));
  if (pending.length > 0) {
    blockers.push(`${pending.length} follow-up(s) still to happen`);
  }
  return {
    referral,
    followUps: { done: visits.filter((a) => a.status === 'fulfilled').length, total: visits.length },
    toDos: { done: toDos.filter((t) => t.status === 'completed').length, total: toDos.length, active: toDos.filter((t) => !isTerminal(CARE_TASK_LIFECYCLE, t.status)).length },
    canComplete: blockers.length === 0,
    blockers,
  };
}

/** The referral state carebridge recorded on the CarePlan, if any. */
export function recordedReferralState(carePlan: CarePlan): ReferralState | undefined {
  return carePlan.extension?.find((e) => e.url === REFERRAL_STATE_URL)?.valueCode as ReferralState | undefined;
}

/** The CarePlan with carebridge's referral state set to `state` (removed when undefined), other extensions kept. */
export function withReferralState(carePlan: CarePlan, state: ReferralState | undefined): CarePlan {
  const others = (carePlan.extension ?? []).filter((e) => e.url !== REFERRAL_STATE_URL);
  const extension: Extension[] = state === undefined ? others : [...others, { url: REFERRAL_STATE_URL, valueCode: state }];
  const { extension: _old, ...rest } = carePlan;
  return extension.length > 0 ? { ...rest, extension } : rest;
}
