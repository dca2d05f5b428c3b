// POST /transitions: a discharge planner's plan JSON in, through the same write path as POST /fhir
// (map → validate → one store transaction, as the caller), the CarePlan and its referrals out.
import { OperationOutcomeError } from '@medplum/core';
import type { Bundle, BundleEntry, Task } from '@medplum/fhirtypes';
import { forbiddenError } from '../../auth/access/policy.ts';
import { organizationKey } from '../../auth/principal.ts';
import { defaultMappingContext } from '../../mapping/context.ts';
import { readPlanItem } from '../../mapping/identifiers.ts';
import { toFhir } from '../../mapping/to-fhir.ts';
import type { TransitionPlan } from '../../model/transition-plan.ts';
import type { FhirStore } from '../../store/fhir-store.ts';
import { toOutcome } from '../../validation/outcome.ts';
import { validatePlan } from '../../validation/plan.ts';
import { UNPROCESSABLE_ID } from '../fhir/handlers.ts';
import type { FhirRequest } from '../fhir/request.ts';
import { conditionSearch } from '../fhir/search-params.ts';
import { transaction } from '../fhir/transaction.ts';
import { locatedInPlan } from './plan-pointer.ts';

/**
 * What the agency owns on a Task (DESIGN.md, Ownership): a plan pushed again must not reset a
 * referral the agency accepted, nor a caregiver task it reported done.
 */
const AGENCY_OWNED_TASK_FIELDS = ['status', 'statusReason', 'businessStatus', 'output', 'executionPeriod', 'lastModified'] as const;

export interface PushedReferral {
  task: string;
  agency: { identifier: { system: string; value: string }; display: string };
  status: string;
}

export interface PushAnswer {
  /** 201 the first time the plan identifier was pushed, 200 after. */
  status: 201 | 200;
  body: { id: string; carePlan: string; referrals: PushedReferral[]; transactionResponse: Bundle };
}

/** The plan, or 400 (not a plan: wrong shape) / 422 (a plan that breaks the rules between its items). */
function checkedPlan(body: unknown): TransitionPlan {
  const { issues, plan, shapeIssues } = validatePlan(body);
  if (shapeIssues) {
    throw new OperationOutcomeError(toOutcome(shapeIssues));
  }
  if (!plan) {
    throw new OperationOutcomeError({ ...toOutcome(issues.filter((i) => i.severity === 'error' || i.severity === 'fatal')), id: UNPROCESSABLE_ID });
  }
  return plan;
}

/** Who may push: hospitals, for their own discharges, and admins. */
function checkPusher(request: FhirRequest, plan: TransitionPlan): void {
  const principal = request.principal;
  if (!principal || principal.role === 'admin') {
    return;
  }
  if (principal.role !== 'hospital') {
    throw forbiddenError('Only a hospital pushes transition plans');
  }
  const discharging = plan.hospitalStay.dischargingOrganization.identifier;
  if (organizationKey(principal.organization) !== organizationKey(discharging)) {
    throw forbiddenError("A hospital pushes the plans of its own discharges: this plan's discharging organization is another one");
  }
}

/**
 * Carries the agency-owned fields of Tasks already stored into the Bundle, and pins the version
 * they came from (If-Match): an agency's answer written meanwhile makes the push fail with 412
 * rather than be overwritten. Returns the entries it carried fields into.
 */
async function keepAgencyAnswers(store: FhirStore, bundle: Bundle): Promise<Set<BundleEntry>> {
  const carried = new Set<BundleEntry>();
  const tasks = (bundle.entry ?? []).flatMap((entry) => {
    const url = entry.request?.url ?? '';
    return entry.resource?.resourceType === 'Task' && entry.request?.method === 'PUT' && url.includes('?') ? [{ entry, condition: conditionSearch('Task', url.slice(url.indexOf('?') + 1)) }] : [];
  });
  // A plan pushed for the first time has none of its Tasks stored: one statement says so.
  const candidates = tasks.length > 0 ? await store.conditionCandidates(tasks.map((t) => t.condition)) : [];
  for (const [i, { entry, condition }] of tasks.entries()) {
    const task = entry.resource as Task;
    const found = candidates[i]?.length === 0 ? undefined : await store.search(condition);
    const stored = found?.resources[0] as Task | undefined;
    if (found?.resources.length !== 1 || !stored || !entry.request) {
      continue;
    }
    for (const field of AGENCY_OWNED_TASK_FIELDS) {
      if (stored[field] === undefined) {
        delete task[field];
      } else {
        (task as unknown as Record<string, unknown>)[field] = stored[field];
      }
    }
    entry.request.ifMatch = `W/"${stored.meta?.versionId}"`;
    carried.add(entry);
  }
  return carried;
}

function idOf(entry: BundleEntry | undefined): string | undefined {
  const location = entry?.response?.location ?? '';
  return /\/([A-Za-z]+)\/([^/]+)\/_history\//.exec(location)?.[2];
}

export async function pushTransition(store: FhirStore, request: FhirRequest, body: unknown): Promise<PushAnswer> {
  const plan = checkedPlan(body);
  checkPusher(request, plan);
  const bundle = toFhir(plan, defaultMappingContext());
  const carried = await keepAgencyAnswers(store, bundle);
  // The transaction validates the Bundle as POST /fhir does, but the mapper's own output with the
  // mapped tier (about a tenth of the CPU of full validation): for every plan validatePlan
  // accepts, full validation finds nothing more there (test/mapping/mapped-validation-property.test.ts).
  // A Task that carries an agency's stored answers is no longer the mapper's alone (Task inv-1
  // relates its lastModified to authoredOn): full validation for it.
  // The discharge is known: the write path's deadline rule (workflow/transition-deadlines.ts) sets
  // the TCM deadlines in the same transaction, as it does for every other way a discharge arrives.
  const response = await transaction(store, { ...request, headers: {} }, bundle, { tierOf: (entry) => (carried.has(entry) ? 'full' : 'mapped') }).catch((error: unknown) => {
    throw error instanceof OperationOutcomeError ? locatedInPlan(error, plan, bundle) : error;
  });
  const transactionResponse = response.body as Bundle;
  const entries = bundle.entry ?? [];
  const answers = transactionResponse.entry ?? [];
  const carePlanAt = entries.findIndex((e) => e.resource?.resourceType === 'CarePlan');
  const id = idOf(answers[carePlanAt]) as string;
  const referrals: PushedReferral[] = [];
  entries.forEach((entry, i) => {
    const item = readPlanItem((entry.resource as Task | undefined)?.identifier);
    if (entry.resource?.resourceType !== 'Task' || item?.kind !== 'referral-task') {
      return;
    }
    const referral = plan.referrals?.find((r) => r.id === item.localId);
    const answer = answers[i];
    referrals.push({
      task: `Task/${idOf(answer)}`,
      agency: { identifier: { ...(referral?.agency.identifier ?? { system: '', value: '' }) }, display: referral?.agency.name ?? '' },
      status: (answer?.resource as Task | undefined)?.status ?? (entry.resource as Task).status,
    });
  });
  return {
    status: answers[carePlanAt]?.response?.status === '201' ? 201 : 200,
    body: { id, carePlan: `CarePlan/${id}`, referrals, transactionResponse },
  };
}
