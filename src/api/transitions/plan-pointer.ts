// Where in the planner's JSON a resource of the mapped Bundle came from. A push that the
// transaction refuses (a conflict, a profile, a tenant's rule) is named at Bundle.entry[i], a
// Bundle the planner never wrote: each issue also gets the plan's own place (location, a JSON
// pointer), as plan validation's issues have.
import { OperationOutcomeError } from '@medplum/core';
import type { Bundle, Identifier, Resource } from '@medplum/fhirtypes';
import { readPlanItem } from '../../mapping/identifiers.ts';
import type { TransitionPlan } from '../../model/transition-plan.ts';

/** The plan's list each plan-item kind comes from (its local id is the item's id). */
const LISTS: Partial<Record<string, 'careTeam' | 'goals' | 'caregiverTasks' | 'medications' | 'followUps' | 'referrals' | 'coverage'>> = {
  member: 'careTeam',
  goal: 'goals',
  'caregiver-task': 'caregiverTasks',
  medication: 'medications',
  'follow-up': 'followUps',
  location: 'followUps',
  referral: 'referrals',
  'referral-task': 'referrals',
  coverage: 'coverage',
};

const ENTRY = /^Bundle\.entry\[(\d+)\]\.resource(\.[A-Za-z]+)?/;

/** The JSON pointer of the plan item `resource` was mapped from; undefined when it names none. */
export function planPointerOf(plan: TransitionPlan, resource: Resource | undefined, element?: string): string | undefined {
  if (resource?.resourceType === 'Patient') {
    return '/patient';
  }
  if (resource?.resourceType === 'CarePlan') {
    // The plan itself: its identifier is the transition's (a second plan for one stay is a 409 there).
    return element === '.identifier' ? '/identifier' : '/';
  }
  const item = readPlanItem((resource as { identifier?: Identifier[] } | undefined)?.identifier);
  if (!item) {
    return undefined;
  }
  if (item.kind === 'encounter') {
    return '/hospitalStay';
  }
  if (item.kind === 'diagnosis') {
    const n = Number(item.localId);
    return n === 1 ? '/hospitalStay/principalDiagnosis' : `/hospitalStay/secondaryDiagnoses/${n - 2}`;
  }
  if (item.kind === 'care-team') {
    return '/careTeam';
  }
  const list = LISTS[item.kind];
  const index = list ? (plan[list] ?? []).findIndex((entry) => entry.id === item.localId) : -1;
  return list && index >= 0 ? `/${list}/${index}${item.kind === 'location' ? '/location' : ''}` : undefined;
}

/** The same error, each issue about an entry of `bundle` also located in the plan. */
export function locatedInPlan(error: OperationOutcomeError, plan: TransitionPlan, bundle: Bundle): OperationOutcomeError {
  const issue = (error.outcome.issue ?? []).map((i) => {
    const match = (i.expression ?? []).map((e) => ENTRY.exec(e)).find((m) => m !== null);
    const pointer = match ? planPointerOf(plan, bundle.entry?.[Number(match[1])]?.resource, match[2]) : undefined;
    return pointer !== undefined && !i.location?.length ? { ...i, location: [pointer] } : i;
  });
  return new OperationOutcomeError({ ...error.outcome, issue }, { cause: error });
}
