// The one rule that keeps a transition's TCM deadline Tasks: wherever its discharge becomes known
// or changes — a plan pushed (POST /transitions), a transaction Bundle or a CarePlan written
// through /fhir, a discharge notification ($process-message), an EHR poll — the write path calls
// it after the transaction's writes (write-rules.ts, afterWrites), in the same transaction.
// - The discharge is the transition CarePlan's period.start (else its finished Encounter's
//   period.end); the complexity its tcm-complexity category, else high: until a plan says
//   "moderate", the 7-day visit is the deadline that cannot be missed.
// - The owner is the care coordinator on the plan's CareTeam; while no CareTeam names one (a
//   discharge known from a notification only), the hospital (the Encounter's serviceProvider, or
//   the draft's author): the plan that arrives later makes its coordinator the owner.
// - Idempotent: the deadlines are found by the plan and their code (whatever identifier an older
//   write gave them) and created by a conditional create on an identifier keyed by the CarePlan id,
//   so re-delivery, a later plan push or two writers at once never make a second one.
// - A moved discharge re-dates the deadlines; one the clock had settled opens again for the sweep
//   to judge against its new due time (mapping/deadline-tasks.ts, alignedDeadline).
// - A transition revoked, entered in error or deleted cancels its deadlines that were not met.
import { parseSearchRequest } from '@medplum/core';
import type { SearchRequest } from '@medplum/core';
import type { CarePlan, CareTeam, CareTeamParticipant, Encounter, Identifier, Organization, Reference, Resource, Task } from '@medplum/fhirtypes';
import { isTransitionCarePlan } from '../mapping/careplan.ts';
import { codeIn } from '../mapping/datatypes.ts';
import { alignedDeadline, cancelledDeadline, deadlineKindOf, deadlineTasksOf, isDeadlineTask } from '../mapping/deadline-tasks.ts';
import { identifierToken, planKey } from '../mapping/identifiers.ts';
import { CAREBRIDGE_BASE, SYSTEMS } from '../model/terminology.ts';
import type { TcmComplexity } from '../model/transition-plan.ts';
import type { ClockRules } from './tcm-clock.ts';
import { US_FEDERAL } from './tcm-clock.ts';
import { isConflict } from './tcm-sweep.ts';

/** The clock rules of the hospital known by these identifiers (config/clock.ts makes one from the config file). */
export type ClockRulesOf = (hospital: readonly Identifier[]) => ClockRules;

/** US federal holidays, each discharge's own written UTC offset: the rules without a config file. */
export const DEFAULT_CLOCK_RULES: ClockRulesOf = () => ({ calendar: US_FEDERAL });

/** Transition statuses whose clock no longer runs. */
const STOPPED = new Set(['revoked', 'entered-in-error']);
/** Attempts at one deadline's write when the sweep settles it meanwhile (each sees the other's commit). */
const MAX_ATTEMPTS = 3;
/** The deadline Tasks of a plan: four, plus any an older write left twice. */
const MAX_DEADLINES = 50;

/** Where the rule's deadlines are keyed: a plan-item key of the CarePlan's id, the same on every path. */
const CAREPLAN_KEY_SYSTEM = `${CAREBRIDGE_BASE}/CarePlan`;

export interface DeadlineStore {
  read(resourceType: string, id: string): Promise<{ deleted: boolean; resource?: Resource } | undefined>;
  search(request: SearchRequest): Promise<{ resources: Resource[] }>;
  create(resource: Resource, options?: { ifNoneExist?: string }): Promise<unknown>;
  update(resource: Resource, options?: { ifMatch?: string }): Promise<unknown>;
}

/** The CareTeam participant whose role is care coordinator. */
export function careCoordinatorOf(careTeam: CareTeam | undefined): CareTeamParticipant | undefined {
  return careTeam?.participant?.find((p) => p.role?.some((r) => r.coding?.some((c) => c.system === SYSTEMS.careTeamRole && c.code === 'care-coordinator')));
}

async function readReference<T extends Resource>(store: DeadlineStore, reference: string | undefined, type: T['resourceType']): Promise<T | undefined> {
  if (!reference?.startsWith(`${type}/`)) {
    return undefined;
  }
  const version = await store.read(type, reference.slice(type.length + 1));
  return version && !version.deleted ? (version.resource as T | undefined) : undefined;
}

async function firstCareTeam(store: DeadlineStore, carePlan: CarePlan): Promise<CareTeam | undefined> {
  for (const reference of carePlan.careTeam ?? []) {
    const careTeam = await readReference<CareTeam>(store, reference.reference, 'CareTeam');
    if (careTeam) {
      return careTeam;
    }
  }
  return undefined;
}

/** The deadline Tasks the transition wants now ([] when its clock does not run or its discharge is not known). */
async function wantedDeadlines(store: DeadlineStore, carePlan: CarePlan, rulesOf: ClockRulesOf): Promise<Task[]> {
  const patient = carePlan.subject?.reference;
  if (STOPPED.has(carePlan.status) || !patient?.startsWith('Patient/')) {
    return [];
  }
  const encounter = await readReference<Encounter>(store, carePlan.encounter?.reference, 'Encounter');
  const dischargedAt = carePlan.period?.start ?? (encounter?.status === 'finished' ? encounter.period?.end : undefined);
  if (!dischargedAt) {
    return [];
  }
  const careTeam = await firstCareTeam(store, carePlan);
  const author = carePlan.author?.reference?.startsWith('Organization/') ? carePlan.author.reference : undefined;
  const hospitalReference = encounter?.serviceProvider?.reference ?? author ?? careTeam?.managingOrganization?.[0]?.reference;
  const hospital = await readReference<Organization>(store, hospitalReference, 'Organization');
  const coordinator = careCoordinatorOf(careTeam)?.member;
  const owner: Reference | undefined = coordinator?.reference ? coordinator : hospital ? { reference: hospitalReference, ...(hospital.name ? { display: hospital.name } : {}) } : undefined;
  const complexity = (codeIn(carePlan.category, SYSTEMS.tcmComplexity) === 'moderate' ? 'moderate' : 'high') satisfies TcmComplexity;
  return deadlineTasksOf(
    {
      key: planKey({ system: CAREPLAN_KEY_SYSTEM, value: carePlan.id as string }),
      dischargedAt,
      complexity,
      patient,
      carePlan: `CarePlan/${carePlan.id}`,
      encounter: carePlan.encounter?.reference,
      owner,
      requester: hospital ? hospitalReference : undefined,
      authoredOn: carePlan.created,
    },
    rulesOf(hospital?.identifier ?? []),
  );
}

/** Writes `change(current)` over the stored deadline with If-Match; a concurrent sweep's write is read again and the change made over it. */
async function writeOver(store: DeadlineStore, stored: Task, change: (current: Task) => Task | undefined): Promise<void> {
  let current: Task | undefined = stored;
  for (let attempt = 1; current; attempt++) {
    const next = change(current);
    if (!next) {
      return;
    }
    try {
      await store.update(next, { ifMatch: current.meta?.versionId });
      return;
    } catch (err) {
      if (!isConflict(err) || attempt >= MAX_ATTEMPTS) {
        throw err;
      }
      current = await readReference<Task>(store, `Task/${stored.id}`, 'Task');
    }
  }
}

async function storedDeadlines(store: DeadlineStore, carePlanId: string): Promise<Task[]> {
  const query = `Task?based-on=${encodeURIComponent(`CarePlan/${carePlanId}`)}&code=${encodeURIComponent(`${SYSTEMS.tcmDeadline}|`)}&_sort=_lastUpdated`;
  return ((await store.search({ ...parseSearchRequest(query), count: MAX_DEADLINES })).resources as Task[]).filter(isDeadlineTask);
}

/** A transition deleted, revoked or entered in error: its deadlines not met are cancelled (the sweep leaves them alone). */
export async function stopDeadlines(store: DeadlineStore, carePlanId: string): Promise<void> {
  for (const task of await storedDeadlines(store, carePlanId)) {
    await writeOver(store, task, cancelledDeadline);
  }
}

/** Brings the deadline Tasks of a transition CarePlan (as stored) in line with its discharge, owner and status. */
export async function keepDeadlines(store: DeadlineStore, carePlan: CarePlan, rulesOf: ClockRulesOf = DEFAULT_CLOCK_RULES): Promise<void> {
  if (!isTransitionCarePlan(carePlan) || !carePlan.id) {
    return;
  }
  if (STOPPED.has(carePlan.status)) {
    await stopDeadlines(store, carePlan.id);
    return;
  }
  const stored = await storedDeadlines(store, carePlan.id);
  const wanted = await wantedDeadlines(store, carePlan, rulesOf);
  for (const want of wanted) {
    const kind = deadlineKindOf(want);
    const existing = stored.find((t) => deadlineKindOf(t) === kind);
    if (existing) {
      await writeOver(store, existing, (current) => alignedDeadline(current, want));
    } else {
      await store.create(want, { ifNoneExist: `identifier=${encodeURIComponent(identifierToken(want.identifier?.[0] as Identifier))}` });
    }
  }
}
