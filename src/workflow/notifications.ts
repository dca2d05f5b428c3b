// What an admit or discharge notification does (read by notification-message.ts), in one store
// transaction as the client that sent it (its tenancy, its write rules, its audit):
// - the sending Organization and the Patient are found by identifier or created (never
//   overwritten: what another source, a pushed plan, said about them stays, as push.ts does);
// - the Encounter is found by its identifier and brought up to date (status and period; on a
//   discharge planner's Encounter nothing else), or created;
// - a discharge opens the transition of the stay: a draft CarePlan that the planner's plan
//   (POST /transitions) later fills in (they meet by the stay's transition identifier,
//   mapping/identifiers.ts), or brings an existing transition's encounter and discharge date up
//   to date (the write path's deadline rule then sets or moves its TCM deadlines: transition-deadlines.ts);
// - an admission within 30 days of a discharge is flagged on that discharge's transition
//   (readmission-rule.ts);
// - the message is recorded as a Communication identified by its sender, Bundle.id and
//   MessageHeader.id: the same message sent again writes nothing and is answered as the first time.
import { OperationOutcomeError, conflict, parseSearchRequest } from '@medplum/core';
import type { SearchRequest } from '@medplum/core';
import type { CarePlan, Communication, Encounter, Identifier, OperationOutcome, Organization, Patient, Resource } from '@medplum/fhirtypes';
import { isTransitionCarePlan, transitionCategory, TRANSITION_CATEGORY } from '../mapping/careplan.ts';
import { identifierQuery, identifierToken, planKey, readPlanItem, transitionIdentifier } from '../mapping/identifiers.ts';
import { CAREBRIDGE_BASE, SYSTEMS } from '../model/terminology.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { validateFhirResource } from '../validation/fhir-validator.ts';
import type { NotificationMessage } from './notification-message.ts';
import { MAX_IDENTIFIERS, cleanIdentifier, unprocessable } from './notification-message.ts';
import { recordReadmission } from './readmission-rule.ts';
import { multipleMatchesError } from '../util/precondition-failed.ts';

/** Identifier systems of a received message's record: "<sender key>:<MessageHeader.id>" and "<sender key>:<Bundle.id>". */
export const MESSAGE_HEADER_ID_SYSTEM = `${CAREBRIDGE_BASE}/sid/notification-message`;
export const MESSAGE_BUNDLE_ID_SYSTEM = `${CAREBRIDGE_BASE}/sid/notification-bundle`;

/** Transition CarePlans of one stay: one, unless data from before one-transition-per-stay has more. */
const MAX_STAY_TRANSITIONS = 10;

/** What the notification needs from a store transaction (StoreTransaction is one; the core does not import the store). */
export interface NotificationStore {
  read(resourceType: string, id: string): Promise<{ deleted: boolean; resource?: Resource } | undefined>;
  search(request: SearchRequest): Promise<{ resources: Resource[] }>;
  create(resource: Resource, options?: { ifNoneExist?: string }): Promise<{ outcome: string; version: { id: string; resource?: Resource } }>;
  update(resource: Resource): Promise<{ outcome: string; version: { id: string; resource?: Resource } }>;
}

export interface NotificationStoreRunner {
  transaction<T>(work: (tx: NotificationStore) => Promise<T>): Promise<T>;
}

export interface NotificationAnswer {
  /** What the sender is told (HTTP 200): one informational issue saying what was done. */
  outcome: OperationOutcome;
  /** The message had been processed before: nothing was written this time. */
  repeated: boolean;
}

/** Another request recorded this message while this one processed it: roll back and answer as that one. */
class ProcessedMeanwhile extends Error {}

const search = (tx: NotificationStore, query: string, count: number): Promise<{ resources: Resource[] }> => tx.search({ ...parseSearchRequest(query), count });
const withoutMeta = <T extends Resource>(resource: T): T => {
  const { meta: _meta, ...content } = resource;
  return content as T;
};
const same = (a: unknown, b: unknown): boolean => canonicalJson(a) === canonicalJson(b);
const tokenOf = (identifier: Identifier): string => `${identifier.system ?? ''}|${identifier.value ?? ''}`;

function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0))) as T;
}

/** The key first, then the others, each once. */
function identifiersWith(key: Identifier, identifiers: readonly Identifier[] | undefined): Identifier[] {
  const seen = new Set<string>();
  return [key, ...(identifiers ?? []).map(cleanIdentifier)]
    .filter((i) => {
      const token = tokenOf(i);
      if (seen.has(token)) {
        return false;
      }
      seen.add(token);
      return true;
    })
    .slice(0, MAX_IDENTIFIERS);
}

/** Refuses to store what is not valid R4 (422, named by where it came from in the message). */
function checkValid(resource: Resource, path: string): void {
  const errors = validateFhirResource(resource, { path }).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (errors.length > 0) {
    throw new OperationOutcomeError({ ...unprocessable('invalid', '').outcome, issue: errors });
  }
}

/** The message's identifiers, per sender: two hospitals may both number their messages from 1. */
function messageIdentifiers(message: NotificationMessage, senderKey: Identifier): { header: Identifier; bundle: Identifier } {
  const sender = planKey({ system: senderKey.system ?? '', value: senderKey.value ?? '' });
  return { header: { system: MESSAGE_HEADER_ID_SYSTEM, value: `${sender}:${message.headerId}` }, bundle: { system: MESSAGE_BUNDLE_ID_SYSTEM, value: `${sender}:${message.bundleId}` } };
}

function answer(text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', details: { text } }] };
}

/**
 * The message's earlier record, if it was received before (R4 messaging.html#reliable: the same
 * MessageHeader.id is the same message, answered as it was; a Bundle.id used again for another
 * message is an error).
 */
async function earlierRecord(tx: NotificationStore, ids: { header: Identifier; bundle: Identifier }): Promise<Communication | undefined> {
  const found = (await search(tx, identifierQuery('Communication', ids.header, ids.bundle), 2)).resources as Communication[];
  const same = found.find((c) => c.identifier?.some((i) => tokenOf(i) === tokenOf(ids.header)));
  if (same) {
    return same;
  }
  if (found.length > 0) {
    throw new OperationOutcomeError({ ...conflict(''), issue: [{ severity: 'error', code: 'duplicate', details: { text: 'This Bundle.id was sent before with another MessageHeader.id: a message Bundle id is never used twice' }, expression: ['Bundle.id'] }] });
  }
  return undefined;
}

async function findOrCreate<T extends Resource>(tx: NotificationStore, resource: T, key: Identifier, path: string): Promise<string> {
  checkValid(resource, path);
  const { version } = await tx.create(resource, { ifNoneExist: `identifier=${encodeURIComponent(identifierToken(key))}` });
  return version.id;
}

function senderOrganization(message: NotificationMessage, key: Identifier): Organization {
  const { sender } = message;
  return defined<Organization>({
    resourceType: 'Organization',
    identifier: identifiersWith(key, sender.identifier),
    active: sender.active,
    type: sender.type,
    name: sender.name,
    alias: sender.alias,
    telecom: sender.telecom,
    address: sender.address,
  });
}

/** What carebridge keeps of the Patient: who they are and how to reach them, no references to other resources. */
function patientOf(message: NotificationMessage): Patient {
  const p = message.patient;
  return defined<Patient>({
    resourceType: 'Patient',
    identifier: identifiersWith(message.patientKey, p.identifier),
    active: p.active,
    name: p.name,
    telecom: p.telecom,
    gender: p.gender,
    birthDate: p.birthDate,
    deceasedBoolean: p.deceasedBoolean,
    deceasedDateTime: p.deceasedDateTime,
    address: p.address,
    maritalStatus: p.maritalStatus,
    multipleBirthBoolean: p.multipleBirthBoolean,
    multipleBirthInteger: p.multipleBirthInteger,
    communication: p.communication?.map((c) => defined({ language: c.language, preferred: c.preferred })),
  });
}

/** What carebridge keeps of the Encounter: the stay itself, its patient and hospital as stored here; other people and places by name only. */
function encounterOf(message: NotificationMessage, patient: string, organization: string): Encounter {
  const e = message.encounter;
  const hospitalization = e.hospitalization ? defined({ admitSource: e.hospitalization.admitSource, reAdmission: e.hospitalization.reAdmission, dischargeDisposition: e.hospitalization.dischargeDisposition }) : undefined;
  const display = e.serviceProvider?.display;
  return defined<Encounter>({
    resourceType: 'Encounter',
    identifier: identifiersWith(message.encounterKey, e.identifier),
    status: e.status,
    class: e.class,
    type: e.type,
    serviceType: e.serviceType,
    priority: e.priority,
    subject: { reference: `Patient/${patient}` },
    period: e.period,
    hospitalization: hospitalization && Object.keys(hospitalization).length > 0 ? hospitalization : undefined,
    serviceProvider: message.providedBySender ? { reference: `Organization/${organization}` } : display ? { display } : undefined,
  });
}

/**
 * The stored Encounter brought up to date by the message: its status (a finished stay stays
 * finished unless cancelled) and period; on an Encounter a discharge planner pushed (it carries a
 * plan-item identifier) nothing else, since the plan's diagnoses and disposition are richer than
 * the notification's; on one an earlier notification made, whatever this message says.
 */
function updatedEncounter(stored: Encounter, sent: Encounter): Encounter {
  const current = withoutMeta(stored);
  const planned = readPlanItem(stored.identifier) !== undefined;
  const base = planned ? current : { ...current, ...sent };
  const keepFinished = stored.status === 'finished' && sent.status !== 'cancelled' && sent.status !== 'entered-in-error';
  return defined<Encounter>({
    ...base,
    id: stored.id,
    identifier: [...(stored.identifier ?? []), ...(sent.identifier ?? []).filter((i) => !(stored.identifier ?? []).some((s) => tokenOf(s) === tokenOf(i)))].slice(0, MAX_IDENTIFIERS),
    subject: stored.subject,
    status: keepFinished ? 'finished' : sent.status,
    period: { ...stored.period, ...sent.period },
    hospitalization: planned ? (stored.hospitalization ?? sent.hospitalization) : (sent.hospitalization ?? stored.hospitalization),
  });
}

async function recordEncounter(tx: NotificationStore, message: NotificationMessage, patient: string, organization: string): Promise<string> {
  const sent = encounterOf(message, patient, organization);
  checkValid(sent, message.paths.encounter);
  const condition = `identifier=${encodeURIComponent(identifierToken(message.encounterKey))}`;
  const found = (await search(tx, `Encounter?${condition}`, 2)).resources as Encounter[];
  if (found.length > 1) {
    throw multipleMatchesError("The discharge notification's encounter identifier");
  }
  const stored = found[0];
  if (!stored) {
    // Keyed like a conditional create: two notifications about a new stay make one Encounter.
    return (await tx.create(sent, { ifNoneExist: condition })).version.id;
  }
  if (stored.subject?.reference !== `Patient/${patient}`) {
    throw new OperationOutcomeError(conflict('The Encounter with this identifier is another patient\'s: the message names another patient than the stay carebridge knows'));
  }
  const next = updatedEncounter(stored, sent);
  if (!same(next, withoutMeta(stored))) {
    checkValid(next, message.paths.encounter);
    await tx.update(next);
  }
  return stored.id as string;
}

const transitionCategoryQuery = `category=${encodeURIComponent(`${SYSTEMS.carePlanCategory}|${TRANSITION_CATEGORY}`)}`;

/**
 * A discharge: the stay's transition opened (a draft for the planner's plan) or brought up to date.
 * Two notifications of one stay agree on one draft (a conditional create on the transition
 * identifier). A notification and a plan push of a new stay at the same instant are serialized on
 * SQLite (one writer); on PostgreSQL their conditional writes use different keys and could still
 * make two CarePlans (a later push of that plan then matches both: 412).
 */
async function openTransition(tx: NotificationStore, message: NotificationMessage, ids: { patient: string; encounter: string; organization: string }): Promise<{ text: string; carePlans: string[] }> {
  const encounter = `Encounter/${ids.encounter}`;
  const dischargedAt = message.encounter.period?.end as string;
  let transitions = ((await search(tx, `CarePlan?encounter=${encounter}&${transitionCategoryQuery}`, MAX_STAY_TRANSITIONS)).resources as CarePlan[]).filter((c) => isTransitionCarePlan(c) && c.status !== 'entered-in-error');
  if (transitions.length === 0) {
    const key = transitionIdentifier({ system: message.encounterKey.system ?? '', value: message.encounterKey.value ?? '' });
    const draft: CarePlan = {
      resourceType: 'CarePlan',
      // The stay's transition identifier, no plan identifier yet: the plan pushed for this stay
      // matches it by the first and sets the second (mapping/careplan.ts).
      identifier: [key],
      status: 'draft',
      intent: 'plan',
      category: [transitionCategory()],
      title: 'Transition of care, opened by a discharge notification',
      subject: { reference: `Patient/${ids.patient}` },
      encounter: { reference: encounter },
      period: { start: dischargedAt },
      author: { reference: `Organization/${ids.organization}` },
    };
    checkValid(draft, 'CarePlan');
    const { outcome, version } = await tx.create(draft, { ifNoneExist: `identifier=${encodeURIComponent(identifierToken(key))}` });
    if (outcome !== 'existing') {
      return { text: `Discharge notification processed: transition CarePlan/${version.id} opened as a draft for ${encounter}; the discharge planner's plan (POST /transitions) for this stay fills it in; its TCM deadlines run from the discharge, owned by the hospital until the plan names a care coordinator`, carePlans: [version.id] };
    }
    // A transition of this stay that follows another Encounter: it follows this one now.
    transitions = [version.resource as CarePlan];
  }
  const changed: string[] = [];
  for (const carePlan of transitions) {
    const next: CarePlan = { ...withoutMeta(carePlan), encounter: { reference: encounter }, period: { ...carePlan.period, start: dischargedAt } };
    if (!same(next, withoutMeta(carePlan))) {
      checkValid(next, 'CarePlan');
      if ((await tx.update(next)).outcome !== 'unchanged') {
        changed.push(`CarePlan/${carePlan.id}`);
      }
    }
  }
  const all = transitions.map((c) => `CarePlan/${c.id}`);
  const text = changed.length > 0 ? `Discharge notification processed: transition ${changed.join(', ')} now follows ${encounter} and its discharge date` : `Discharge notification processed: transition ${all.join(', ')} already follows ${encounter} and its discharge date`;
  return { text, carePlans: transitions.map((c) => c.id as string) };
}

/** An admission: a readmission on the transition of the patient's latest discharge within 30 days, if any. */
async function flagReadmission(tx: NotificationStore, message: NotificationMessage, ids: { patient: string; encounter: string }): Promise<{ text: string; carePlans: string[] }> {
  const encounter = `Encounter/${ids.encounter}`;
  const recorded = `Admit notification processed: ${encounter} recorded`;
  const result = await recordReadmission({ reader: tx, writer: tx }, { patient: ids.patient, encounter, admittedAt: message.encounter.period?.start, admissionClass: message.encounter.class });
  return { text: `${recorded}; ${result.reason}`, carePlans: result.flagged ? [result.flagged.carePlan] : [] };
}

function recordOf(message: NotificationMessage, ids: { header: Identifier; bundle: Identifier }, what: { text: string; carePlans: string[] }, refs: { encounter: string; organization: string }, now: Date): Communication {
  return defined<Communication>({
    resourceType: 'Communication',
    identifier: [ids.header, ids.bundle],
    status: 'completed',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/communication-category', code: 'notification', display: 'Notification' }] }],
    topic: { coding: [message.eventCoding] },
    encounter: { reference: `Encounter/${refs.encounter}` },
    about: what.carePlans.map((id) => ({ reference: `CarePlan/${id}` })),
    sent: message.timestamp,
    received: now.toISOString(),
    sender: { reference: `Organization/${refs.organization}` },
    // What carebridge did, so the same message sent again is answered the same way.
    note: [{ text: what.text }],
  });
}

async function handleMessage(tx: NotificationStore, message: NotificationMessage, senderKey: Identifier, now: Date): Promise<NotificationAnswer> {
  const ids = messageIdentifiers(message, senderKey);
  const earlier = await earlierRecord(tx, ids);
  if (earlier) {
    return { outcome: answer(earlier.note?.[0]?.text ?? 'The message was received before and processed then'), repeated: true };
  }
  const organization = await findOrCreate(tx, senderOrganization(message, senderKey), senderKey, message.paths.sender);
  const patient = await findOrCreate(tx, patientOf(message), message.patientKey, message.paths.patient);
  const encounter = await recordEncounter(tx, message, patient, organization);
  const what = message.event === 'notification-discharge' ? await openTransition(tx, message, { patient, encounter, organization }) : await flagReadmission(tx, message, { patient, encounter });
  const record = recordOf(message, ids, what, { encounter, organization }, now);
  checkValid(record, 'Communication');
  const { outcome } = await tx.create(record, { ifNoneExist: `identifier=${encodeURIComponent(identifierToken(ids.header))}` });
  if (outcome === 'existing') {
    throw new ProcessedMeanwhile();
  }
  return { outcome: answer(what.text), repeated: false };
}

/**
 * Processes the message in one transaction of `store` (all of it is written, or none). `senderKey`:
 * the sending Organization's identifier it is known by (the caller's own, for a hospital).
 */
export async function receiveNotification(store: NotificationStoreRunner, message: NotificationMessage, senderKey: Identifier, now: () => Date = () => new Date()): Promise<NotificationAnswer> {
  try {
    return await store.transaction((tx) => handleMessage(tx, message, senderKey, now()));
  } catch (err) {
    if (!(err instanceof ProcessedMeanwhile)) {
      throw err;
    }
    // The same message, delivered twice at once: the other delivery's record answers this one.
    return store.transaction((tx) => handleMessage(tx, message, senderKey, now()));
  }
}
