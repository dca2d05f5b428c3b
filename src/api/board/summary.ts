// One board row per transition, for a page of CarePlans at once: the patient, the discharge, each
// referral's answer (with the decline reason), the TCM clock, the follow-ups, the caregiver red
// flags and the Coverage findings. Every read goes through the caller's view of the store, the same
// tenancy as /transitions; what the caller's role may not read at all is null ("not yours to see"),
// not empty. Reads are batched per page (one search per type for all its patients and plans), but
// for the clock's evidence, which transitionTimeline reads per patient (three searches a row).
import { formatHumanName } from '@medplum/core';
import type { Appointment, CarePlan, Coverage, CoverageEligibilityResponse, Organization, Patient, Resource, Task } from '@medplum/fhirtypes';
import { permitted } from '../../auth/access/policy.ts';
import type { Principal } from '../../auth/principal.ts';
import { isDeadlineTask } from '../../mapping/deadline-tasks.ts';
import { readPlanItem } from '../../mapping/identifiers.ts';
import type { StoreTransaction } from '../../store/fhir-store.ts';
import { coverageStatus } from '../../workflow/coverage-status.ts';
import { OPEN_STATUSES as RED_FLAG_OPEN } from '../../workflow/red-flag-rule.ts';
import { RED_FLAG_SYSTEM } from '../../workflow/red-flags.ts';
import { PLACED_STATUSES, isReferralTask } from '../../workflow/referral-task.ts';
import { recordedReferralState } from '../../workflow/roll-up.ts';
import { readReferences, searchAll } from '../transitions/collect.ts';
import { transitionTimeline } from '../transitions/timeline.ts';
import type { BoardDeadline, BoardRow } from './board-api-types.ts';

/** Per search: a page of plans has at most 50 patients, each with a handful of each. */
const MAX_PER_SEARCH = 1000;

const refOf = (r: Resource): string => `${r.resourceType}/${r.id}`;
const text = (concept: { text?: string; coding?: { display?: string; code?: string }[] } | undefined): string | undefined => concept?.text ?? concept?.coding?.[0]?.display ?? concept?.coding?.[0]?.code;

function byKey<T>(items: readonly T[], keys: (item: T) => (string | undefined)[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    for (const key of new Set(keys(item))) {
      if (key !== undefined) {
        out.set(key, [...(out.get(key) ?? []), item]);
      }
    }
  }
  return out;
}

/** Searches `type` with `param` = all of `values` (comma-separated, a few hundred at a time), when the caller may search it at all. */
async function searchMany(store: StoreTransaction, principal: Principal, type: string, param: string, values: readonly string[], more: [string, string][] = []): Promise<Resource[] | null> {
  if (!permitted(principal, type, 's')) {
    return null;
  }
  const out: Resource[] = [];
  for (let i = 0; i < values.length; i += 100) {
    const chunk = values.slice(i, i + 100);
    out.push(...(await searchAll(store, type, [[param, chunk.join(',')], ...more, ['_count', String(MAX_PER_SEARCH)]])).resources);
  }
  return out;
}

function patientOf(patient: Patient | undefined, reference: string | undefined): BoardRow['patient'] {
  if (!patient || !reference) {
    return null;
  }
  const name = patient.name?.find((n) => n.use === 'official') ?? patient.name?.[0];
  return { reference, ...(name ? { name: formatHumanName(name) } : {}), ...(patient.birthDate ? { birthDate: patient.birthDate } : {}) };
}

/** The board rows of these transition CarePlans, in their order, each with the resources it discloses (for the AuditEvent). */
export async function boardRows(store: StoreTransaction, principal: Principal, carePlans: readonly CarePlan[], nowMs: number): Promise<{ row: BoardRow; disclosed: Resource[] }[]> {
  const patientRefs = [...new Set(carePlans.map((c) => c.subject?.reference).filter((r): r is string => r?.startsWith('Patient/') === true))];
  const planRefs = carePlans.map(refOf);
  const tasks = (await searchMany(store, principal, 'Task', 'based-on', planRefs)) as Task[] | null;
  const referralTasks = (tasks ?? []).filter((t) => isReferralTask(t));
  const owners = (await readReferences(store, new Set(referralTasks.map((t) => t.owner?.reference).filter((r): r is string => r !== undefined)))) as Organization[];
  const patients = permitted(principal, 'Patient', 'r') ? ((await readReferences(store, patientRefs)) as Patient[]) : [];
  const appointmentRefs = carePlans.flatMap((c) => (c.activity ?? []).map((a) => a.reference?.reference).filter((r): r is string => r?.startsWith('Appointment/') === true));
  const appointments = permitted(principal, 'Appointment', 'r') ? ((await readReferences(store, appointmentRefs)) as Appointment[]) : null;
  const redFlags = (await searchMany(store, principal, 'Task', 'patient', patientRefs, [['code', `${RED_FLAG_SYSTEM}|`]])) as Task[] | null;
  const coverages = (await searchMany(store, principal, 'Coverage', 'beneficiary', patientRefs)) as Coverage[] | null;
  const eligibility = ((await searchMany(store, principal, 'CoverageEligibilityResponse', 'patient', patientRefs, [['_sort', '-created']])) ?? []) as CoverageEligibilityResponse[];

  const tasksByPlan = byKey(tasks ?? [], (t) => (t.basedOn ?? []).map((b) => b.reference));
  const flagsByPatient = byKey(redFlags ?? [], (t) => [t.for?.reference]);
  const coverageByPatient = byKey(coverages ?? [], (c) => [c.beneficiary?.reference]);
  const eligibilityByPatient = byKey(eligibility, (e) => [e.patient?.reference]);
  const agencyName = (task: Task): string => owners.find((o) => refOf(o) === task.owner?.reference)?.name ?? task.owner?.display ?? task.owner?.reference ?? 'unknown agency';

  const rows: { row: BoardRow; disclosed: Resource[] }[] = [];
  for (const carePlan of carePlans) {
    const patientRef = carePlan.subject?.reference;
    const own = tasksByPlan.get(refOf(carePlan)) ?? [];
    const referrals = own.filter((t) => isReferralTask(t));
    const deadlineTasks = own.filter((t) => isDeadlineTask(t));
    const patient = patients.find((p) => refOf(p) === patientRef);
    const followUps = (appointments ?? []).filter((a) => (carePlan.activity ?? []).some((act) => act.reference?.reference === refOf(a)));
    const flags = (flagsByPatient.get(patientRef ?? '') ?? []).filter((t) => RED_FLAG_OPEN.includes(t.status));
    const patientCoverages = coverageByPatient.get(patientRef ?? '') ?? [];
    const patientEligibility = eligibilityByPatient.get(patientRef ?? '') ?? [];
    const disclosed: Resource[] = [carePlan, ...own, ...(patient ? [patient] : []), ...followUps, ...flags, ...patientCoverages, ...patientEligibility];
    let deadlines: BoardDeadline[] | null = null;
    if (tasks !== null) {
      const { timeline, disclosed: evidence } = await transitionTimeline(store, { carePlan, resources: [carePlan, ...deadlineTasks] }, nowMs);
      disclosed.push(...evidence.filter((r) => !disclosed.includes(r)));
      deadlines = timeline.deadlines.map((d) => ({ kind: d.kind, display: d.display, due: d.due, state: d.state, ...(d.metAt ? { metAt: d.metAt } : {}) }));
    }
    const accepted = referrals.find((t) => PLACED_STATUSES.has(t.status));
    const referralState = recordedReferralState(carePlan) ?? (accepted ? 'placed' : referrals.length > 0 ? 'open' : 'none');
    const dischargedAt = carePlan.period?.start;
    const status = coverages === null ? undefined : coverageStatus({ coverages: patientCoverages, eligibility: patientEligibility, dischargedAt, now: new Date(nowMs) });
    const row: BoardRow = {
      id: carePlan.id as string,
      carePlan: refOf(carePlan),
      ...(carePlan.title ? { title: carePlan.title } : {}),
      status: carePlan.status,
      patient: patientOf(patient, patientRef),
      ...(dischargedAt ? { dischargedAt } : {}),
      referralState,
      referrals: tasks === null ? null : referrals.map((t) => ({ task: refOf(t), agency: agencyName(t), status: t.status, ...(text(t.statusReason) ? { statusReason: text(t.statusReason) } : {}), ...(text(t.businessStatus) ? { businessStatus: text(t.businessStatus) } : {}) })),
      acceptedBy: accepted ? agencyName(accepted) : null,
      deadlines,
      followUps:
        appointments === null
          ? null
          : followUps.map((a) => {
              const followUp = readPlanItem(a.identifier)?.localId;
              return { appointment: refOf(a), ...(followUp ? { followUp } : {}), ...(a.description ? { description: a.description } : {}), ...(a.start ? { start: a.start } : {}), status: a.status };
            }),
      redFlags:
        redFlags === null
          ? null
          : flags.map((t) => ({ task: refOf(t), text: t.description ?? text(t.code) ?? 'Red flag', status: t.status, ...(t.priority ? { priority: t.priority } : {}), ...(t.authoredOn ? { authoredOn: t.authoredOn } : {}) })),
      coverage: status
        ? { coveredOnDischarge: status.coveredOnDischarge, coveredThroughWindow: status.coveredThroughWindow, ...(status.primary?.payer?.display ? { payer: status.primary.payer.display } : {}), ...(status.primary?.plan ? { plan: status.primary.plan } : {}), findings: status.findings }
        : null,
      overdue: deadlines?.some((d) => d.state === 'overdue') === true,
      noAgency: referralState !== 'placed',
    };
    rows.push({ row, disclosed });
  }
  return rows;
}
