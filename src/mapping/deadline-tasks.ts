// A transition's TCM deadlines as Tasks (pure), added to the plan's transaction Bundle so they are
// written with the plan, in the same store transaction: one Task per deadline, owned by the care
// coordinator, based on the CarePlan, for the patient, Task.code from carebridge's tcm-deadline
// CodeSystem and the due time as restriction.period.end. Keyed by a plan-item identifier
// ("<plan>/deadline/<kind>"): a plan pushed again moves the due times (a corrected discharge time),
// never the status the clock gave them (api/transitions/push.ts keeps it).
import type { Bundle, CareTeam, CarePlan, Encounter, Reference, Task } from '@medplum/fhirtypes';
import type { TransitionPlan } from '../model/transition-plan.ts';
import { SYSTEMS, TCM_DEADLINES } from '../model/terminology.ts';
import type { ClockRules, DeadlineKind } from '../workflow/tcm-clock.ts';
import { tcmDeadlines } from '../workflow/tcm-clock.ts';
import type { MappingContext } from './context.ts';
import { identifierQuery, planItemIdentifier, planKey, readPlanItem } from './identifiers.ts';

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

/** The deadline Tasks of a plan with a known discharge (none when the discharge time is not a dateTime). */
export function deadlineTasks(plan: TransitionPlan, rules: ClockRules, refs: { patient: string; carePlan: string; encounter?: string; coordinator?: Reference; hospital?: string }): Task[] {
  const key = planKey(plan.identifier);
  return tcmDeadlines(plan.hospitalStay.dischargedAt, plan.tcmComplexity, rules).map(
    (deadline): Task => ({
      resourceType: 'Task',
      identifier: [planItemIdentifier(key, 'deadline', deadline.kind)],
      basedOn: [{ reference: refs.carePlan }],
      status: 'requested',
      // A to-do carebridge puts in the plan, not an order; isCareTask leaves deadlines out (their status is the clock's).
      intent: 'plan',
      code: deadlineCode(deadline.kind),
      description: TCM_DEADLINES[deadline.kind].definition,
      for: { reference: refs.patient },
      ...(refs.encounter ? { encounter: { reference: refs.encounter } } : {}),
      authoredOn: plan.created,
      ...(refs.hospital ? { requester: { reference: refs.hospital } } : {}),
      ...(refs.coordinator?.reference ? { owner: { reference: refs.coordinator.reference, ...(refs.coordinator.display ? { display: refs.coordinator.display } : {}) } } : {}),
      restriction: { period: { start: plan.hospitalStay.dischargedAt, end: deadline.due } },
    }),
  );
}

/** Adds the deadline Tasks to a Bundle made by toFhir(plan): conditional updates by their identifier. */
export function addDeadlineTasks(bundle: Bundle, plan: TransitionPlan, rules: ClockRules, ctx: MappingContext): void {
  const entries = bundle.entry ?? [];
  const urlOf = (type: string): string | undefined => entries.find((e) => e.resource?.resourceType === type)?.fullUrl;
  const carePlan = urlOf('CarePlan');
  const patient = urlOf('Patient');
  if (!carePlan || !patient) {
    return;
  }
  const careTeam = entries.find((e) => e.resource?.resourceType === 'CareTeam')?.resource as CareTeam | undefined;
  const coordinator = careTeam?.participant?.find((p) => p.role?.some((r) => r.coding?.some((c) => c.system === SYSTEMS.careTeamRole && c.code === 'care-coordinator')))?.member;
  const encounterEntry = entries.find((e) => e.resource?.resourceType === 'Encounter');
  const hospital = (encounterEntry?.resource as Encounter | undefined)?.serviceProvider?.reference;
  const carePlanResource = entries.find((e) => e.fullUrl === carePlan)?.resource as CarePlan;
  for (const task of deadlineTasks(plan, rules, { patient, carePlan, encounter: encounterEntry?.fullUrl ?? carePlanResource.encounter?.reference, coordinator, hospital })) {
    entries.push({ fullUrl: `urn:uuid:${ctx.newUuid()}`, resource: task, request: { method: 'PUT', url: identifierQuery('Task', task.identifier?.[0] ?? {}) } });
  }
  bundle.entry = entries;
}
