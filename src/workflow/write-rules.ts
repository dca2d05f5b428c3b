// The workflow's rules on the one write path (store hooks, see StoreCaller.writeLocks/beforeWrite):
// - a Task changes status only along its lifecycle, by the side that owns that status;
// - a referral's change of status carries If-Match (428 without it);
// - when an agency accepts a broadcast referral, the plan's other open referrals are cancelled in
//   the same transaction, written as carebridge ("placed with another agency"); a second agency
//   accepting gets 409. Writers of one plan's Tasks hold the plan's lock (PostgreSQL: an advisory
//   lock taken before any row lock), so on several instances exactly one acceptance wins;
// - the plan's referral state is kept on the CarePlan (roll-up.ts), and a CarePlan is completed
//   only when its roll-up allows it; its recorded readmissions (readmission.ts) and its plan
//   identifier survive every client write;
// - once a transaction's writes are stored (afterWrites, same transaction, written as carebridge):
//   an admission Encounter is checked for a readmission (readmission-rule.ts), a transition CarePlan
//   (or its CareTeam) gets its TCM deadlines (transition-deadlines.ts), and an Observation is
//   checked for red flags (red-flag-rule.ts) — whichever path wrote them.
import { OperationOutcomeError, parseSearchRequest } from '@medplum/core';
import type { SearchRequest } from '@medplum/core';
import type { Appointment, CarePlan, Encounter, Observation, OperationOutcome, Resource, Task } from '@medplum/fhirtypes';
import { isDeadlineTask } from '../mapping/deadline-tasks.ts';
import { CARE_TASK_LIFECYCLE, isCareTask } from './care-task.ts';
import type { Lifecycle, Refusal, WorkflowActor } from './lifecycle.ts';
import { checkInitial, checkTransition, isTerminal } from './lifecycle.ts';
import { PLACED_ELSEWHERE, PLACED_ELSEWHERE_TEXT, PLACED_STATUSES, REFERRAL_LIFECYCLE, carePlanOf, isReferralTask, wasPlacedElsewhere } from './referral-task.ts';
import { keepReadmissions } from './readmission.ts';
import { recordReadmission } from './readmission-rule.ts';
import { raiseRedFlags } from './red-flag-rule.ts';
import type { ClockRulesOf } from './transition-deadlines.ts';
import { DEFAULT_CLOCK_RULES, keepDeadlines, stopDeadlines } from './transition-deadlines.ts';
import { recordedReferralState, rollUp, withReferralState } from './roll-up.ts';

/** What the rules need from a store transaction (the store port's StoreTransaction is one: the core does not import the store). */
export interface WorkflowStore {
  read(resourceType: string, id: string): Promise<{ deleted: boolean; resource?: Resource } | undefined>;
  update(resource: Resource, options?: { ifMatch?: string }): Promise<{ outcome: string; version: { id: string; resource?: Resource } }>;
  search(request: SearchRequest): Promise<{ resources: Resource[] }>;
  create(resource: Resource, options?: { ifNoneExist?: string }): Promise<{ outcome: string; version: { id: string; resource?: Resource } }>;
}

/** A version a transaction stored (the store port's StoredVersion is one). */
export interface WrittenVersion {
  resourceType: string;
  id: string;
  deleted: boolean;
  resource?: Resource;
}

/** What the workflow's rules need to know of the deployment. */
export interface WorkflowSettings {
  /** The TCM clock rules of a hospital (config file `clock`); default US federal holidays, the written UTC offset. */
  clockRules?: ClockRulesOf;
}

/** A write as the store's beforeWrite hook describes it (StoreCaller.beforeWrite). */
export interface WorkflowChange {
  resourceType: string;
  current?: Resource;
  next: Resource;
  ifMatch?: string;
}

/** The store hooks the rules plug into (StoreCaller.writeLocks, beforeWrite and explainHidden). */
export interface WorkflowHooks {
  writeLocks: (resource: Resource) => string[];
  beforeWrite: (change: WorkflowChange, context: { system: WorkflowStore }) => Promise<Resource | void>;
  explainHidden: (target: { resourceType: string; id: string }, context: { system: WorkflowStore; organizationIds: readonly string[] }) => Promise<void>;
  afterWrites: (written: WrittenVersion[], context: { caller: WorkflowStore; system: WorkflowStore }) => Promise<void>;
}

/** The outcome id carebridge answers 428 Precondition Required for (see api/fhir/request.ts). */
export const PRECONDITION_REQUIRED_ID = 'precondition-required';

/** Tasks of one plan read at once; a plan has a handful (three referrals, ten to-dos). */
const MAX_PLAN_TASKS = 1000;

export const ANOTHER_AGENCY_ACCEPTED = 'another agency accepted this referral';

// Outcome ids @medplum/core's getStatus maps to 403, 409 and 422 (428 is mapped by api/fhir/request.ts).
const OUTCOME_IDS = { 403: 'forbidden', 409: 'conflict', 422: 'business-rule', 428: PRECONDITION_REQUIRED_ID } as const;
const ISSUE_CODES = { 403: 'forbidden', 409: 'conflict', 422: 'business-rule', 428: 'required' } as const;

function refuse(status: keyof typeof OUTCOME_IDS, text: string, expression = 'Task.status'): OperationOutcomeError {
  const ids = OUTCOME_IDS;
  const codes = ISSUE_CODES;
  const outcome: OperationOutcome = { resourceType: 'OperationOutcome', id: ids[status], issue: [{ severity: 'error', code: codes[status], details: { text }, expression: [expression] }] };
  return new OperationOutcomeError(outcome);
}

function fromRefusal(refusal: Refusal): OperationOutcomeError {
  return refuse(refusal.status, refusal.text, refusal.status === 422 && refusal.text.includes('statusReason') ? 'Task.statusReason' : 'Task.status');
}

/** Which lifecycle rules a Task (as stored, when it is) follows; undefined: none (other intents). */
export function lifecycleOf(task: Task): Lifecycle | undefined {
  return isReferralTask(task) ? REFERRAL_LIFECYCLE : isCareTask(task) ? CARE_TASK_LIFECYCLE : undefined;
}

function hasReason(task: Task): boolean {
  const reason = task.statusReason;
  return Boolean(reason?.text?.trim() || reason?.coding?.some((c) => c.code));
}

/** The lock name of a plan's group of Tasks. */
export function planLock(carePlan: string): string {
  return `carebridge:plan:${carePlan}`;
}

/** Every Task based on the plan, as carebridge sees them. */
async function planTasks(system: WorkflowStore, carePlan: string): Promise<Task[]> {
  const found = await system.search({ ...parseSearchRequest(`Task?based-on=${encodeURIComponent(carePlan)}`), count: MAX_PLAN_TASKS });
  return found.resources as Task[];
}

async function planAppointments(system: WorkflowStore, carePlan: CarePlan): Promise<Appointment[]> {
  const out: Appointment[] = [];
  for (const activity of carePlan.activity ?? []) {
    const reference = activity.reference?.reference;
    if (reference?.startsWith('Appointment/')) {
      const version = await system.read('Appointment', reference.slice('Appointment/'.length));
      if (version?.resource) {
        out.push(version.resource as Appointment);
      }
    }
  }
  return out;
}

/**
 * An agency accepts: the plan's other unanswered referrals are cancelled as carebridge. If another
 * referral of the plan is placed already, this acceptance is the one that lost.
 */
async function placeReferral(system: WorkflowStore, task: Task, carePlan: string): Promise<Task[]> {
  const siblings = (await planTasks(system, carePlan)).filter((t) => t.id !== task.id && isReferralTask(t));
  if (siblings.some((t) => PLACED_STATUSES.has(t.status) && t.status !== 'completed')) {
    throw refuse(409, `Task/${task.id}: ${ANOTHER_AGENCY_ACCEPTED}`);
  }
  const after: Task[] = [];
  for (const sibling of siblings) {
    if (isTerminal(REFERRAL_LIFECYCLE, sibling.status) || PLACED_STATUSES.has(sibling.status)) {
      after.push(sibling);
      continue;
    }
    // Its profile and tags stay (only the store's versionId/lastUpdated go), or the next push of
    // the same plan would see a change and send every party a new version of nothing.
    const content = withoutVersion(sibling);
    // No lastModified: meta.lastUpdated says when, and plans may be authored ahead of the clock (Task inv-1).
    const cancelled: Task = { ...content, status: 'cancelled', statusReason: { coding: [{ ...PLACED_ELSEWHERE }], text: PLACED_ELSEWHERE_TEXT } };
    after.push((await system.update(cancelled)).version.resource as Task);
  }
  return after;
}

/** The resource without the store's version stamp (meta.versionId, meta.lastUpdated); its profile and tags kept. */
function withoutVersion<T extends Task | CarePlan>(resource: T): T {
  const { versionId: _v, lastUpdated: _l, ...meta } = resource.meta ?? {};
  const { meta: _meta, ...rest } = resource;
  return (Object.keys(meta).length > 0 ? { ...rest, meta } : rest) as T;
}

/** Records the plan's referral state on the CarePlan (as carebridge) when it changed. */
async function recordReferralState(system: WorkflowStore, carePlan: string, tasks: Task[]): Promise<void> {
  const version = await system.read('CarePlan', carePlan.slice('CarePlan/'.length));
  const plan = version?.resource as CarePlan | undefined;
  if (!plan || version?.deleted) {
    return;
  }
  const state = rollUp(plan, tasks, []).referral;
  if (recordedReferralState(plan) !== state) {
    await system.update(withReferralState(withoutVersion(plan), state));
  }
}

/** What the clock owns on a deadline Task: a client (the hospital pushing the plan included) changes none of it. */
const CLOCK_OWNED = ['status', 'statusReason', 'businessStatus', 'output'] as const;

/** Deadlines are met by evidence (a Communication, an Appointment, a Task), not by ticking a box. */
function checkDeadlineWrite(current: Task | undefined, next: Task): void {
  if (!current) {
    if (next.status !== 'requested' || next.businessStatus !== undefined || next.output !== undefined) {
      throw refuse(422, 'A TCM deadline Task starts requested, with no businessStatus or output: the clock settles it from the evidence');
    }
    return;
  }
  for (const field of CLOCK_OWNED) {
    if (JSON.stringify(current[field] ?? null) !== JSON.stringify(next[field] ?? null)) {
      throw refuse(422, `Task.${field} of a TCM deadline is the clock's: a deadline is met by its evidence (a completed Communication or Task of its code, a fulfilled Appointment), not by a write to the deadline`, `Task.${field}`);
    }
  }
}

async function beforeTaskWrite(actor: WorkflowActor | undefined, current: Task | undefined, next: Task, ifMatch: string | undefined, system: WorkflowStore): Promise<Resource | void> {
  if ((current && isDeadlineTask(current)) || isDeadlineTask(next)) {
    if (current && JSON.stringify(current.code ?? null) !== JSON.stringify(next.code ?? null)) {
      throw refuse(422, 'A TCM deadline Task keeps its code; create a new Task instead', 'Task.code');
    }
    checkDeadlineWrite(current, next);
    return;
  }
  const before = current ? lifecycleOf(current) : undefined;
  const after = lifecycleOf(next);
  // What a Task is (its intent and code) decides its lifecycle: changing it would step around the
  // rules (a proposal turned into an accepted referral; an accepted referral hidden from its siblings).
  if (current && (before || after) && (current.intent !== next.intent || JSON.stringify(current.code ?? null) !== JSON.stringify(next.code ?? null))) {
    throw refuse(422, `A ${(before ?? after)?.name ?? 'workflow'} Task keeps its intent and code; create a new Task instead`);
  }
  const lifecycle = after ?? before;
  if (!lifecycle) {
    return;
  }
  if (!current) {
    const refusal = checkInitial(lifecycle, next.status);
    if (refusal) {
      throw fromRefusal(refusal);
    }
    return;
  }
  if (current.status === next.status) {
    return;
  }
  const referral = lifecycle === REFERRAL_LIFECYCLE;
  if (referral && ifMatch === undefined) {
    throw refuse(428, `Changing a referral's status needs If-Match with the version you last read (ETag W/"${current.meta?.versionId ?? '1'}" now)`);
  }
  if (!actor) {
    throw refuse(403, `This client may not change the status of a ${lifecycle.name} Task`);
  }
  if (referral && next.status === 'accepted' && wasPlacedElsewhere(current)) {
    throw refuse(409, `Task/${current.id}: ${ANOTHER_AGENCY_ACCEPTED}`);
  }
  const refusal = checkTransition(lifecycle, actor, current.status, next.status, hasReason(next));
  if (refusal) {
    throw fromRefusal(refusal);
  }
  const carePlan = carePlanOf(current);
  if (!referral || !carePlan) {
    return;
  }
  const siblings = next.status === 'accepted' ? await placeReferral(system, current, carePlan) : (await planTasks(system, carePlan)).filter((t) => t.id !== current.id);
  await recordReferralState(system, carePlan, [...siblings, next]);
  return undefined;
}

/** The plan identifier a CarePlan is pushed under ("official"), as system|value. */
function officialIdentifier(carePlan: CarePlan): string | undefined {
  const official = carePlan.identifier?.find((i) => i.use === 'official');
  return official ? `${official.system ?? ''}|${official.value ?? ''}` : undefined;
}

/**
 * CarePlan writes by clients: carebridge's referral state and recorded readmissions are kept; the
 * plan identifier, once set, stays (a discharge notification's draft gets one from the plan that
 * fills it in, but a second plan for the same stay does not take over the first one's CarePlan);
 * completion needs the roll-up's consent.
 */
async function beforeCarePlanWrite(current: CarePlan | undefined, next: CarePlan, system: WorkflowStore): Promise<Resource | void> {
  const was = current ? officialIdentifier(current) : undefined;
  if (current && was !== undefined && was !== officialIdentifier(next)) {
    throw refuse(409, `CarePlan/${current.id} is the transition of another plan: a transition keeps its plan identifier (one transition per hospital stay)`, 'CarePlan.identifier');
  }
  const kept = keepReadmissions(withReferralState(next, current ? recordedReferralState(current) : undefined), current);
  if (current && next.status === 'completed' && current.status !== 'completed') {
    const reference = `CarePlan/${current.id}`;
    const summary = rollUp(next, await planTasks(system, reference), await planAppointments(system, next));
    if (!summary.canComplete) {
      throw refuse(409, `${reference} cannot be completed yet: ${summary.blockers.join('; ')}`, 'CarePlan.status');
    }
  }
  return kept;
}

/** The workflow's store hooks for a caller acting as `actor` (undefined: may not move any Task). */
export function workflowRules(actor: WorkflowActor | undefined, settings: WorkflowSettings = {}): WorkflowHooks {
  const beforeWrite: WorkflowHooks['beforeWrite'] = async ({ resourceType, current, next, ifMatch }, { system }) => {
    if (resourceType === 'Task') {
      return beforeTaskWrite(actor, current as Task | undefined, next as Task, ifMatch, system);
    }
    if (resourceType === 'CarePlan') {
      return beforeCarePlanWrite(current as CarePlan | undefined, next as CarePlan, system);
    }
    return undefined;
  };
  const writeLocks = (resource: Resource): string[] => {
    if (resource.resourceType === 'CarePlan' && resource.id) {
      return [planLock(`CarePlan/${resource.id}`)];
    }
    if (resource.resourceType === 'Observation') {
      // Two readings of one patient at the same instant must not both open a red-flag episode:
      // writers of a patient's Observations take turns (PostgreSQL; SQLite has one writer anyway).
      const subject = (resource as Observation).subject?.reference;
      return subject?.startsWith('Patient/') ? [`red-flags:${subject}`] : [];
    }
    const carePlan = resource.resourceType === 'Task' ? carePlanOf(resource) : undefined;
    return carePlan ? [planLock(carePlan)] : [];
  };
  // The agencies that lost a broadcast lose sight of their referral with it: the one that owned it
  // is told why its acceptance failed instead of a bare 404.
  const explainHidden: WorkflowHooks['explainHidden'] = async ({ resourceType, id }, { system, organizationIds }) => {
    if (resourceType !== 'Task') {
      return;
    }
    const task = (await system.read('Task', id))?.resource as Task | undefined;
    const owner = task?.owner?.reference;
    if (task && isReferralTask(task) && wasPlacedElsewhere(task) && owner && organizationIds.some((org) => owner === `Organization/${org}`)) {
      throw refuse(409, `Task/${id}: ${ANOTHER_AGENCY_ACCEPTED}`);
    }
  };
  const clockRules = settings.clockRules ?? DEFAULT_CLOCK_RULES;
  const afterWrites: WorkflowHooks['afterWrites'] = async (written, { caller, system }) => {
    const carePlans = new Map<string, CarePlan>();
    const deletedPlans = new Set<string>();
    for (const { resourceType, id, deleted, resource } of written) {
      if (deleted && resourceType === 'CarePlan') {
        deletedPlans.add(id);
      }
      if (deleted || !resource) {
        continue;
      }
      if (resourceType === 'Encounter') {
        // An admission, however it arrived (pushed, in a plan, polled from the EHR), is a readmission
        // of the patient's latest transition within 30 days, as an admit notification's is.
        const encounter = resource as Encounter;
        const patient = encounter.subject?.reference;
        if (patient?.startsWith('Patient/') && encounter.period?.start) {
          await recordReadmission({ reader: caller, writer: system }, { patient: patient.slice('Patient/'.length), encounter: `Encounter/${id}`, admittedAt: encounter.period.start, admissionClass: encounter.class });
        }
      } else if (resourceType === 'Observation') {
        // A caregiver's or agency's report crossing a red flag: an urgent Task for the coordinator,
        // pointing at the Observation as stored (its id is known now, even for a urn:uuid entry).
        await raiseRedFlags(resource as Observation, system);
      } else if (resourceType === 'CarePlan') {
        carePlans.set(id, resource as CarePlan);
      } else if (resourceType === 'CareTeam') {
        // A new coordinator owns the deadlines of the transitions this team serves.
        const served = await system.search({ ...parseSearchRequest(`CarePlan?care-team=${encodeURIComponent(`CareTeam/${id}`)}`), count: MAX_PLAN_TASKS });
        for (const carePlan of served.resources as CarePlan[]) {
          if (!carePlans.has(carePlan.id as string)) {
            carePlans.set(carePlan.id as string, carePlan);
          }
        }
      }
    }
    for (const carePlan of carePlans.values()) {
      if (!deletedPlans.has(carePlan.id as string)) {
        await keepDeadlines(system, carePlan, clockRules);
      }
    }
    for (const id of deletedPlans) {
      await stopDeadlines(system, id);
    }
  };
  return { beforeWrite, writeLocks, explainHidden, afterWrites };
}
