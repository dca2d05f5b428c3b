// The readmission rule, one for every way an admission arrives: an admit notification
// (notifications.ts), an Encounter pushed through /fhir or /transitions, or one polled from the
// hospital's EHR (write-rules.ts, afterWrites). An inpatient or emergency admission within 30 days
// of a discharge is recorded on the transition of the patient's latest discharge before it.
// The patient is the admission's subject or any Patient the writer may see that carries one of its
// identifiers: the EHR's copy of a patient (polled, keyed by the EHR's id) and the Patient a plan
// or notification made (keyed by the MRN) are the same person. Only the writer's own transitions
// are looked at (another hospital's patient with the same MRN is another patient).
import { OperationOutcomeError, businessRule, parseSearchRequest } from '@medplum/core';
import type { SearchRequest } from '@medplum/core';
import type { CarePlan, Coding, Patient, Resource } from '@medplum/fhirtypes';
import { TRANSITION_CATEGORY, isTransitionCarePlan } from '../mapping/careplan.ts';
import { identifierToken } from '../mapping/identifiers.ts';
import { SYSTEMS } from '../model/terminology.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { validateFhirResource } from '../validation/fhir-validator.ts';
import { calendarDay, daysIntoWindow, withReadmission } from './readmission.ts';

/** v3 ActCode classes of an admission that counts as a readmission: inpatient (acute or not) and emergency. */
const ADMISSION_CLASSES = new Set(['IMP', 'ACUTE', 'NONAC', 'EMER']);
/** Transitions of one patient looked at for a readmission: years of discharges. */
const MAX_TRANSITIONS = 100;
/** Identifiers of the admitted patient matched against other Patients; a Patient has a handful. */
const MAX_MATCHED_IDENTIFIERS = 10;
/** Patients sharing an identifier: one per source that knows the person (plan, EHR, notification). */
const MAX_SAME_PATIENTS = 20;

export interface ReadmissionStore {
  read(resourceType: string, id: string): Promise<{ deleted: boolean; resource?: Resource } | undefined>;
  search(request: SearchRequest): Promise<{ resources: Resource[] }>;
}

export interface Admission {
  /** The admitted Patient's id. */
  patient: string;
  /** "Encounter/id". */
  encounter: string;
  admittedAt: string | undefined;
  admissionClass: Coding | undefined;
}

const search = async <T extends Resource>(store: ReadmissionStore, query: string, count: number): Promise<T[]> => (await store.search({ ...parseSearchRequest(query), count })).resources as T[];
const transitionCategoryQuery = `category=${encodeURIComponent(`${SYSTEMS.carePlanCategory}|${TRANSITION_CATEGORY}`)}`;

function withoutMeta<T extends Resource>(resource: T): T {
  const { meta: _meta, ...content } = resource;
  return content as T;
}

/** The ids of the Patients `reader` sees as this one: itself, and those sharing one of its identifiers. */
export async function samePatients(reader: ReadmissionStore, patient: string): Promise<string[]> {
  const stored = (await reader.read('Patient', patient))?.resource as Patient | undefined;
  const identifiers = (stored?.identifier ?? []).filter((i) => i.system && i.value).slice(0, MAX_MATCHED_IDENTIFIERS);
  if (identifiers.length === 0) {
    return [patient];
  }
  const others = await search<Patient>(reader, `Patient?identifier=${encodeURIComponent(identifiers.map(identifierToken).join(','))}`, MAX_SAME_PATIENTS);
  return [...new Set([patient, ...others.map((p) => p.id as string)])];
}

/**
 * Records the admission as a readmission on the transition of the patient's latest discharge
 * within the 30 days before it, if there is one: read as `reader` sees the data, the CarePlan
 * written through `writer`. Idempotent: an admission recorded already changes nothing. Returns what
 * it did, in words, and the CarePlan it flagged.
 */
export async function recordReadmission(
  stores: { reader: ReadmissionStore; writer: { update(resource: Resource): Promise<unknown> } },
  admission: Admission,
): Promise<{ flagged?: { carePlan: string; days: number }; reason: string }> {
  const { encounter, admittedAt, admissionClass } = admission;
  if (admissionClass?.system !== SYSTEMS.v3ActCode || !ADMISSION_CLASSES.has(admissionClass.code ?? '')) {
    return { reason: 'not an inpatient or emergency admission, so not a readmission' };
  }
  const patients = await samePatients(stores.reader, admission.patient);
  const subjects = encodeURIComponent(patients.map((p) => `Patient/${p}`).join(','));
  const transitions = (await search<CarePlan>(stores.reader, `CarePlan?subject=${subjects}&${transitionCategoryQuery}`, MAX_TRANSITIONS))
    .filter((c) => isTransitionCarePlan(c) && c.status !== 'entered-in-error' && c.encounter?.reference !== encounter)
    // Admitted after the discharge instant (the same day counts, an admission before the discharge does not).
    .filter((c) => admittedAt === undefined || c.period?.start === undefined || Date.parse(admittedAt) >= Date.parse(c.period.start))
    .map((carePlan) => ({ carePlan, days: daysIntoWindow(carePlan.period?.start, admittedAt) }))
    .filter((t): t is { carePlan: CarePlan; days: number } => t.days !== undefined)
    // A readmission counts against the latest discharge before it (the index stay).
    .sort((a, b) => a.days - b.days || ((a.carePlan.id ?? '') < (b.carePlan.id ?? '') ? -1 : 1));
  const latest = transitions[0];
  if (!latest) {
    return { reason: 'no transition of this patient was discharged within the 30 days before it' };
  }
  const { carePlan, days } = latest;
  const next = withReadmission(withoutMeta(carePlan), { encounter, admittedOn: calendarDay(admittedAt) as string, daysAfterDischarge: days });
  if (canonicalJson(next) !== canonicalJson(withoutMeta(carePlan))) {
    const errors = validateFhirResource(next, { path: 'CarePlan' }).filter((i) => i.severity === 'error' || i.severity === 'fatal');
    if (errors.length > 0) {
      throw new OperationOutcomeError({ ...businessRule('', ''), issue: errors });
    }
    await stores.writer.update(next);
  }
  return { flagged: { carePlan: carePlan.id as string, days }, reason: `readmission flagged on transition CarePlan/${carePlan.id}, ${days} day(s) after the discharge` };
}
