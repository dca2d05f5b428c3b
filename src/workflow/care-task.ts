// The lifecycle of a caregiver or coordinator to-do (Task intent "plan"): simpler than a
// referral. The care coordinator (hospital side) plans, readies and cancels it; the agency reports
// the caregiver's progress, and so may the coordinator (89% of caregivers are family, who tell the
// coordinator by phone). No reason is required: a progress report is welcome without one.
import type { Task } from '@medplum/fhirtypes';
import { SYSTEMS } from '../model/terminology.ts';
import type { Lifecycle } from './lifecycle.ts';
import { withEnteredInError } from './lifecycle.ts';

const R = ['requester'] as const;
const BOTH = ['requester', 'performer'] as const;

export const CARE_TASK_LIFECYCLE: Lifecycle = {
  name: 'to-do',
  actors: { requester: 'hospital', performer: 'agency' },
  // The mapping writes caregiver tasks as requested (planned, not yet confirmed with the caregiver).
  initial: ['draft', 'requested', 'ready'],
  reasonRequired: new Set(),
  edges: withEnteredInError({
    draft: [
      { to: 'requested', by: R, why: 'the coordinator puts the to-do in the plan' },
      { to: 'ready', by: R, why: 'the coordinator confirms it with the caregiver at once' },
      { to: 'cancelled', by: R, why: 'dropped before it was planned' },
    ],
    requested: [
      { to: 'ready', by: R, why: 'the caregiver knows and can start' },
      { to: 'in-progress', by: BOTH, why: 'the caregiver already started' },
      { to: 'cancelled', by: R, why: 'no longer needed' },
    ],
    ready: [
      { to: 'in-progress', by: BOTH, why: 'the caregiver started' },
      { to: 'on-hold', by: BOTH, why: 'cannot start now (patient away, caregiver ill)' },
      { to: 'completed', by: BOTH, why: 'a one-off to-do done without a start being reported' },
      { to: 'cancelled', by: R, why: 'no longer needed' },
    ],
    'in-progress': [
      { to: 'on-hold', by: BOTH, why: 'paused' },
      { to: 'completed', by: BOTH, why: 'done, or the patient manages alone (the "31st day")' },
      { to: 'failed', by: BOTH, why: 'the caregiver cannot go on: the coordinator must adjust the plan' },
      { to: 'cancelled', by: R, why: 'the coordinator changed the plan' },
    ],
    'on-hold': [
      { to: 'in-progress', by: BOTH, why: 'resumed' },
      { to: 'failed', by: BOTH, why: 'will not resume' },
      { to: 'cancelled', by: R, why: 'the coordinator changed the plan' },
    ],
    // Terminal: the plan gets a new to-do instead.
    completed: [],
    cancelled: [],
    failed: [],
    // Referral-only statuses.
    received: [],
    accepted: [],
    rejected: [],
  }),
};

/** A to-do of the plan: a caregiver's daily task or a coordinator's task. */
export function isCareTask(task: Task): boolean {
  // A TCM deadline (intent "plan" too) is met by evidence, not moved along this lifecycle (write-rules.ts).
  return task.intent === 'plan' && !(task.code?.coding ?? []).some((c) => c.system === SYSTEMS.tcmDeadline) ;
}
