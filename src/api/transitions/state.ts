// GET /transitions/{id}: the plan as the discharge planner sent it (fromFhir over the stored
// resources the caller may see) and the live state of the transition: the referrals' answers, the
// agency that accepted, the appointments, the caregiver tasks, the last report-back and a
// readmission within 30 days of the discharge.
import type { Appointment, AppointmentResponse, Bundle, CarePlan, CodeableConcept, Communication, Observation, Organization, Reference, Resource, Task } from '@medplum/fhirtypes';
import { fromFhir } from '../../mapping/from-fhir.ts';
import { readPlanItem } from '../../mapping/identifiers.ts';
import { ENCOUNTER_TRANSITION_SYSTEM } from '../../model/terminology.ts';
import type { TransitionPlan } from '../../model/transition-plan.ts';
import type { StoreTransaction } from '../../store/fhir-store.ts';
import type { Readmission } from '../../workflow/readmission.ts';
import { firstReadmission } from '../../workflow/readmission.ts';
import type { TransitionResources } from './collect.ts';
import { searchAll } from './collect.ts';

/** Referral statuses that mean an agency took the patient. */
const ACCEPTED = new Set(['accepted', 'in-progress', 'completed']);
/** Referral statuses an agency sets (requested/draft/cancelled/entered-in-error are the hospital's or carebridge's). */
const AGENCY_ANSWERS = new Set(['received', 'accepted', 'rejected', 'ready', 'in-progress', 'on-hold', 'failed', 'completed']);
/** Report-backs looked at per kind: the newest few are enough to find the newest one. */
const RECENT = 20;

export interface AgencyRef {
  identifier?: { system?: string; value?: string };
  display?: string;
}

export interface ReferralState {
  /** The plan-local referral id. */
  id?: string;
  task: string;
  agency: AgencyRef;
  status: string;
  statusReason?: string;
  businessStatus?: string;
  lastUpdated?: string;
}

export interface ReportBack {
  resource: string;
  kind: 'observation' | 'communication' | 'referral';
  /** When carebridge received it (meta.lastUpdated): a clock no client sets. */
  at: string;
  agency: AgencyRef;
  summary: string;
}

export interface TransitionState {
  id: string;
  carePlan: string;
  versionId?: string;
  lastUpdated?: string;
  /** The plan as sent; undefined when what the caller may see cannot be read back as a plan. */
  plan?: TransitionPlan;
  planProblem?: string;
  status: string;
  referrals: ReferralState[];
  acceptedBy: (AgencyRef & { task: string }) | null;
  appointments: { followUp?: string; appointment: string; status?: string; start?: string; responses: { actor?: string; participantStatus?: string; comment?: string }[] }[];
  caregiverTasks: { id?: string; task: string; status?: string; businessStatus?: string }[];
  lastReportBack: ReportBack | null;
  /** The first admission within 30 days of the discharge (an admit notification flagged it), or null. */
  readmission: Readmission | null;
}

const text = (concept: CodeableConcept | undefined): string | undefined => concept?.text ?? concept?.coding?.[0]?.display ?? concept?.coding?.[0]?.code;
const refOf = (r: Resource): string => `${r.resourceType}/${r.id}`;

/** The plan as sent: references the caller may not follow (another agency's referral) are left out. */
function planOf(transition: TransitionResources): { plan?: TransitionPlan; planProblem?: string } {
  const seen = new Set(transition.resources.map(refOf));
  const carePlan: CarePlan = structuredClone(transition.carePlan);
  carePlan.activity = carePlan.activity?.filter((a) => a.reference?.reference !== undefined && seen.has(a.reference.reference));
  carePlan.goal = carePlan.goal?.filter((g) => g.reference !== undefined && seen.has(g.reference));
  for (const list of ['activity', 'goal'] as const) {
    if (carePlan[list]?.length === 0) {
      delete carePlan[list];
    }
  }
  const bundle: Bundle = { resourceType: 'Bundle', type: 'collection', entry: [carePlan, ...transition.resources.slice(1)].map((resource) => ({ resource })) };
  if (!carePlan.identifier?.some((i) => i.use === 'official') && carePlan.identifier?.some((i) => i.system === ENCOUNTER_TRANSITION_SYSTEM)) {
    // Opened by a discharge notification (api/fhir/process-message.ts): no plan has been pushed yet.
    return { planProblem: 'No plan yet: a discharge notification opened this transition; the discharge planner pushes the plan (POST /transitions) for the same stay' };
  }
  try {
    return { plan: fromFhir(bundle) };
  } catch (err) {
    // A transition edited through /fhir may no longer read as a plan: the state still answers.
    return { planProblem: (err as Error).message };
  }
}

function agencyOf(reference: Reference | undefined, organizations: Map<string, Organization>): AgencyRef {
  const org = reference?.reference ? organizations.get(reference.reference) : undefined;
  const identifier = org?.identifier?.[0];
  return { ...(identifier ? { identifier: { system: identifier.system, value: identifier.value } } : {}), display: org?.name ?? reference?.display };
}

/**
 * Which referred agency (its Task.owner reference) a performer or sender names: its Organization
 * by reference, or by one of that Organization's identifiers (a logical reference, as an agency
 * system that knows its NPI but not carebridge's ids writes it). The write path lets an agency
 * name no organization but its own (auth/access/own-organization.ts).
 */
function agencyMatcher(agencyOrgs: ReadonlySet<string>, organizations: Map<string, Organization>): (reference: Reference | undefined) => string | undefined {
  const byIdentifier = new Map<string, string>();
  for (const owner of agencyOrgs) {
    for (const i of organizations.get(owner)?.identifier ?? []) {
      if (i.system && i.value) {
        byIdentifier.set(`${i.system}|${i.value}`, owner);
      }
    }
  }
  return (reference) => {
    if (reference?.reference !== undefined && agencyOrgs.has(reference.reference)) {
      return reference.reference;
    }
    // By identifier only a logical reference (no literal one, which names what it names), untyped
    // or typed Organization.
    const identifier = reference?.identifier;
    const organizationOrUntyped = reference?.type === undefined || reference.type.endsWith('Organization');
    return reference?.reference === undefined && identifier?.system && identifier.value && organizationOrUntyped ? byIdentifier.get(`${identifier.system}|${identifier.value}`) : undefined;
  };
}

function quantityText(observation: Observation): string {
  const q = observation.valueQuantity;
  const what = text(observation.code) ?? 'Observation';
  return q?.value !== undefined ? `${what}: ${q.value} ${q.unit ?? q.code ?? ''}`.trim() : what;
}

export async function transitionState(store: StoreTransaction, transition: TransitionResources): Promise<TransitionState> {
  const { carePlan, resources } = transition;
  const organizations = new Map(resources.filter((r): r is Organization => r.resourceType === 'Organization').map((o) => [refOf(o), o]));
  const tasks = resources.filter((r): r is Task => r.resourceType === 'Task');
  const referralTasks = tasks.filter((t) => readPlanItem(t.identifier)?.kind === 'referral-task');
  const referrals: ReferralState[] = referralTasks.map((t) => ({
    id: readPlanItem(t.identifier)?.localId,
    task: refOf(t),
    agency: agencyOf(t.owner, organizations),
    status: t.status,
    statusReason: text(t.statusReason),
    businessStatus: text(t.businessStatus),
    lastUpdated: t.meta?.lastUpdated,
  }));
  const accepted = referralTasks.find((t) => ACCEPTED.has(t.status));
  const appointments = resources.filter((r): r is Appointment => r.resourceType === 'Appointment');
  const responses = appointments.length > 0 ? ((await searchAll(store, 'AppointmentResponse', [['appointment', appointments.map(refOf).join(',')], ['_count', '1000']])).resources as AppointmentResponse[]) : [];

  const patient = carePlan.subject?.reference;
  const agencyOrgs = new Set(referralTasks.map((t) => t.owner?.reference).filter((r): r is string => r !== undefined));
  const candidates: ReportBack[] = referralTasks
    .filter((t) => AGENCY_ANSWERS.has(t.status) || t.businessStatus !== undefined)
    .map((t) => ({ resource: refOf(t), kind: 'referral' as const, at: t.meta?.lastUpdated ?? '', agency: agencyOf(t.owner, organizations), summary: [t.status, text(t.businessStatus)].filter(Boolean).join(': ') }));
  if (patient?.startsWith('Patient/') && agencyOrgs.size > 0) {
    const recent: [string, string][] = [['subject', patient], ['_sort', '-_lastUpdated'], ['_count', String(RECENT)]];
    const agencyNamedBy = agencyMatcher(agencyOrgs, organizations);
    for (const o of (await searchAll(store, 'Observation', recent)).resources as Observation[]) {
      const by = o.performer?.find((p) => agencyNamedBy(p) !== undefined);
      if (by) {
        candidates.push({ resource: refOf(o), kind: 'observation', at: o.meta?.lastUpdated ?? '', agency: agencyOf({ reference: agencyNamedBy(by), display: by.display }, organizations), summary: quantityText(o) });
      }
    }
    for (const c of (await searchAll(store, 'Communication', recent)).resources as Communication[]) {
      const by = agencyNamedBy(c.sender);
      if (by) {
        candidates.push({ resource: refOf(c), kind: 'communication', at: c.meta?.lastUpdated ?? '', agency: agencyOf({ reference: by, display: c.sender?.display }, organizations), summary: (c.payload?.[0]?.contentString ?? 'Communication').slice(0, 200) });
      }
    }
  }
  const lastReportBack = candidates.reduce<ReportBack | null>((latest, c) => (latest === null || Date.parse(c.at) > Date.parse(latest.at) ? c : latest), null);

  return {
    id: carePlan.id as string,
    carePlan: refOf(carePlan),
    versionId: carePlan.meta?.versionId,
    lastUpdated: carePlan.meta?.lastUpdated,
    ...planOf(transition),
    status: carePlan.status,
    referrals,
    acceptedBy: accepted ? { ...agencyOf(accepted.owner, organizations), task: refOf(accepted) } : null,
    appointments: appointments.map((a) => ({
      followUp: readPlanItem(a.identifier)?.localId,
      appointment: refOf(a),
      status: a.status,
      start: a.start,
      responses: responses
        .filter((r) => r.appointment?.reference === refOf(a))
        .map((r) => ({ actor: r.actor?.reference, participantStatus: r.participantStatus, comment: r.comment })),
    })),
    caregiverTasks: tasks
      .filter((t) => readPlanItem(t.identifier)?.kind === 'caregiver-task')
      .map((t) => ({ id: readPlanItem(t.identifier)?.localId, task: refOf(t), status: t.status, businessStatus: text(t.businessStatus) })),
    lastReportBack,
    readmission: firstReadmission(carePlan),
  };
}
