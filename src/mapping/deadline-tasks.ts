// A transition's TCM deadlines as Tasks (pure): one Task per deadline, based on the CarePlan, for
// the patient, owned by the care coordinator (or, until a CareTeam names one, the hospital),
// Task.code from carebridge's tcm-deadline CodeSystem, the discharge as restriction.period.start
// and the due time as restriction.period.end. workflow/transition-deadlines.ts writes them
// wherever a transition's discharge becomes known, and moves them when it changes.
import type { Reference, Task } from '@medplum/fhirtypes';
import type { TcmComplexity, TransitionPlan } from '../model/transition-plan.ts';
import { SYSTEMS, TCM_DEADLINES } from '../model/terminology.ts';
import type { ClockRules, DeadlineKind } from '../workflow/tcm-clock.ts';
import { tcmDeadlines } from '../workflow/tcm-clock.ts';
import { planItemIdentifier, planKey, readPlanItem } from './identifiers.ts';

/** Is this Task one of carebridge's deadline Tasks (not evidence carrying the same code)? */
export function isDeadlineTask(task: Task): boolean {
  return readPlanItem(task.identifier)?.kind === 'deadline' && deadlineKindOf(task) !== undefined;
}

/** The deadline a Task or Communication is about, by its tcm-deadline code. */
export function deadlineKindOf(task: Task): DeadlineKind | undefined {
  const code = task.code?.coding?.find((c) => c.system === SYSTEMS.tcmDeadline)?.code;
  return code !== undefined && code in TCM_DEADLINES && code !== 'overdue' && code !== 'period-ended' ? (code as DeadlineKind) : undefined;
}

export function deadlineCode(kind: DeadlineKind): Task['code'] {
  return { coding: [{ system: SYSTEMS.tcmDeadline, code: kind, display: TCM_DEADLINES[kind].display }], text: TCM_DEADLINES[kind].display };
}

/** What one transition's deadline Tasks are made of. */
export interface DischargeFacts {
  /** The plan-item key the Tasks are identified under ("<key>/deadline/<kind>"). */
  key: string;
  dischargedAt: string;
  complexity: TcmComplexity;
  patient: string;
  carePlan: string;
  encounter?: string;
  /** The care coordinator (or the hospital while no CareTeam names one). */
  owner?: Reference;
  /** The hospital. */
  requester?: string;
  authoredOn?: string;
}

/** The deadline Tasks of a discharge (none when the discharge time is not a dateTime). */
export function deadlineTasksOf(discharge: DischargeFacts, rules: ClockRules): Task[] {
  return tcmDeadlines(discharge.dischargedAt, discharge.complexity, rules).map(
    (deadline): Task => ({
      resourceType: 'Task',
      identifier: [planItemIdentifier(discharge.key, 'deadline', deadline.kind)],
      basedOn: [{ reference: discharge.carePlan }],
      status: 'requested',
      // A to-do carebridge puts in the plan, not an order; isCareTask leaves deadlines out (their status is the clock's).
      intent: 'plan',
      code: deadlineCode(deadline.kind),
      description: TCM_DEADLINES[deadline.kind].definition,
      for: { reference: discharge.patient },
      ...(discharge.encounter ? { encounter: { reference: discharge.encounter } } : {}),
      ...(discharge.authoredOn ? { authoredOn: discharge.authoredOn } : {}),
      ...(discharge.requester ? { requester: { reference: discharge.requester } } : {}),
      ...(discharge.owner?.reference ? { owner: { reference: discharge.owner.reference, ...(discharge.owner.display ? { display: discharge.owner.display } : {}) } } : {}),
      restriction: { period: { start: discharge.dischargedAt, end: deadline.due } },
    }),
  );
}

/** The deadline Tasks of a plan (tests and the bench build stores of them). */
export function deadlineTasks(plan: TransitionPlan, rules: ClockRules, refs: { patient: string; carePlan: string; encounter?: string; coordinator?: Reference; hospital?: string }): Task[] {
  return deadlineTasksOf(
    { key: planKey(plan.identifier), dischargedAt: plan.hospitalStay.dischargedAt, complexity: plan.tcmComplexity, patient: refs.patient, carePlan: refs.carePlan, encounter: refs.encounter, owner: refs.coordinator, requester: refs.hospital, authoredOn: plan.created },
    rules,
  );
}

/** Has the clock (or a cancellation) settled this deadline: met, marked overdue, ended or cancelled? */
export function isSettled(task: Task): boolean {
  return task.status !== 'requested' || task.businessStatus !== undefined || (task.output?.length ?? 0) > 0;
}

function withoutVersion(task: Task): Task {
  const { meta, ...rest } = task;
  return meta?.profile ? { ...rest, meta: { profile: meta.profile } } : rest;
}

/**
 * The stored deadline brought in line with the one the transition wants now, or undefined when it
 * is in line. A moved discharge moves the due time; a deadline the clock had settled is then open
 * again (its overdue mark, evidence and completion cleared), so the sweep judges it anew against
 * the new due time — cleared for good if that lies ahead, marked again if it has passed too. A
 * new owner (the plan's coordinator replacing the hospital) changes nothing else.
 */
export function alignedDeadline(stored: Task, wanted: Task): Task | undefined {
  const period = stored.restriction?.period;
  const moved = period?.end !== wanted.restriction?.period?.end || period?.start !== wanted.restriction?.period?.start;
  const reopen = stored.status === 'cancelled' || (moved && isSettled(stored));
  const owner = wanted.owner ?? stored.owner;
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  if (!moved && !reopen && same(owner, stored.owner) && same(wanted.encounter ?? stored.encounter, stored.encounter) && same(wanted.requester ?? stored.requester, stored.requester)) {
    return undefined;
  }
  const next: Task = {
    ...withoutVersion(stored),
    restriction: { ...stored.restriction, period: wanted.restriction?.period },
    ...(owner ? { owner } : {}),
    ...(wanted.encounter ?? stored.encounter ? { encounter: wanted.encounter ?? stored.encounter } : {}),
    ...(wanted.requester ?? stored.requester ? { requester: wanted.requester ?? stored.requester } : {}),
  };
  if (reopen) {
    next.status = 'requested';
    delete next.businessStatus;
    delete next.statusReason;
    delete next.output;
  }
  return next;
}

/** The text a deadline cancelled with its transition carries. */
export const TRANSITION_STOPPED_TEXT = 'The transition was revoked, entered in error or deleted: the deadline no longer runs';

/** A deadline of a transition that was revoked, entered in error or deleted: cancelled unless it was met (undefined: nothing to do). */
export function cancelledDeadline(stored: Task): Task | undefined {
  if (stored.status === 'completed' || stored.status === 'cancelled') {
    return undefined;
  }
  return { ...withoutVersion(stored), status: 'cancelled', statusReason: { text: TRANSITION_STOPPED_TEXT } };
}
