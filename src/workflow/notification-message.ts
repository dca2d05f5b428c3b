// A Da Vinci Unsolicited Notification (http://hl7.org/fhir/us/davinci-alerts/, "the IG") as
// carebridge reads it, before anything is stored (pure). The IG's message is a Bundle of type
// "message" whose first entry is a MessageHeader; its eventCoding (CodeSystem notification-event)
// says what happened and its focus is the Encounter, with the Patient, the Organizations and the
// people of the stay as further entries (IG guidance.md, "The Da Vinci Notification Message
// Bundle"; Bundle profile notifications-bundle: id, timestamp, entry 2..*).
//
// What is wrong with the message's shape is 400; a well-formed message carebridge cannot act on
// (invalid FHIR, an event it does not handle, an Encounter without a patient) is 422. Nothing here
// writes, so either answer leaves the store as it was.
import { OperationOutcomeError, badRequest, businessRule } from '@medplum/core';
import type { Bundle, Coding, Encounter, Identifier, MessageHeader, OperationOutcomeIssue, Organization, Patient, Reference, Resource } from '@medplum/fhirtypes';
import { PLAN_ITEM_SYSTEM, SYSTEMS } from '../model/terminology.ts';
import { validateFhirBundle } from '../validation/fhir-validator.ts';

export const NOTIFICATION_EVENT_SYSTEM = 'http://hl7.org/fhir/us/davinci-alerts/CodeSystem/notification-event';

/** The events carebridge acts on: a discharge opens a transition, an admission may be a readmission. */
export const NOTIFICATION_EVENTS = ['notification-discharge', 'notification-admit'] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

/** An admit/discharge notification has a handful of entries (the IG's examples: 8); a hundred is not a notification. */
export const MAX_MESSAGE_ENTRIES = 100;
/** Identifiers kept per resource: MRN, visit number and a few more; not a list to scan. */
export const MAX_IDENTIFIERS = 20;
/** Ids the sender gives its message and header (FHIR id: 1–64 characters of A–Z a–z 0–9 - .). */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

export interface NotificationMessage {
  event: NotificationEvent;
  eventCoding: Coding;
  /** Bundle.id and MessageHeader.id: together the message's identity (R4 messaging.html#reliable). */
  bundleId: string;
  headerId: string;
  /** Bundle.timestamp: when the sender sent it. */
  timestamp?: string;
  /** The sending Organization (MessageHeader.sender, else .responsible) as sent. */
  sender: Organization;
  /** Its identifiers that name it (system and value), the first one its key unless the caller's is chosen. */
  senderIdentifiers: Identifier[];
  patient: Patient;
  /** The Patient's identifier it is matched by: the MRN (type MR) if it has one, else its first. */
  patientKey: Identifier;
  encounter: Encounter;
  /** The identifier the stay is known by (see encounterKeyOf). */
  encounterKey: Identifier;
  /** Where the Encounter and the Patient are in the Bundle, for the issues of what is stored from them. */
  paths: { encounter: string; patient: string; sender: string };
  /** Whether Encounter.serviceProvider names the sending Organization. */
  providedBySender: boolean;
}

function structure(text: string, expression?: string): OperationOutcomeError {
  return new OperationOutcomeError(badRequest(text, expression));
}

/** 422 (@medplum/core's business-rule outcome id), with the issue code that says why. */
export function unprocessable(code: OperationOutcomeIssue['code'], text: string, expression?: string): OperationOutcomeError {
  return new OperationOutcomeError({ ...businessRule('', text), issue: [{ severity: 'error', code, details: { text }, ...(expression ? { expression: [expression] } : {}) }] });
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The Bundle in the body: the message itself (as the IG sends it) or Parameters with a "content" Bundle. */
function messageBundle(body: unknown): Bundle {
  if (isObject(body) && body.resourceType === 'Parameters' && Array.isArray(body.parameter)) {
    const content = (body.parameter as unknown[]).find((p) => isObject(p) && p.name === 'content');
    const resource = isObject(content) ? content.resource : undefined;
    if (!isObject(resource)) {
      throw structure('$process-message takes the message Bundle, or Parameters with the Bundle as "content"', 'Parameters.parameter');
    }
    return messageBundle(resource);
  }
  if (!isObject(body) || body.resourceType !== 'Bundle') {
    throw structure('$process-message takes a message: a Bundle of type "message" whose first entry is a MessageHeader');
  }
  return body as unknown as Bundle;
}

/** Resolves references between the Bundle's entries: by fullUrl, or Type/id (also at the end of an absolute URL). */
class EntryIndex {
  private readonly byKey = new Map<string, { resource: Resource; index: number }>();

  constructor(bundle: Bundle) {
    (bundle.entry ?? []).forEach((entry, index) => {
      const resource = entry.resource;
      if (!resource) {
        return;
      }
      if (typeof entry.fullUrl === 'string') {
        this.byKey.set(entry.fullUrl, { resource, index });
      }
      if (typeof resource.id === 'string') {
        this.byKey.set(`${resource.resourceType}/${resource.id}`, { resource, index });
      }
    });
  }

  resolve(reference: Reference | undefined): { resource: Resource; index: number } | undefined {
    const target = reference?.reference;
    if (typeof target !== 'string') {
      return undefined;
    }
    const relative = /([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})$/.exec(target)?.[1];
    return this.byKey.get(target) ?? (relative ? this.byKey.get(relative) : undefined);
  }
}

/** An identifier as carebridge keeps it: system, value and what says what it is; no assigner reference. */
export function cleanIdentifier(identifier: Identifier): Identifier {
  const { use, type, system, value, period } = identifier;
  return Object.fromEntries(Object.entries({ use, type, system, value, period }).filter(([, v]) => v !== undefined)) as Identifier;
}

function naming(identifiers: Identifier[] | undefined): Identifier[] {
  return (identifiers ?? []).filter((i) => typeof i.system === 'string' && i.system !== '' && typeof i.value === 'string' && i.value !== '' && i.system !== PLAN_ITEM_SYSTEM).slice(0, MAX_IDENTIFIERS);
}

const hasType = (identifier: Identifier, code: string): boolean => (identifier.type?.coding ?? []).some((c) => c.system === SYSTEMS.v2IdentifierType && c.code === code);

/**
 * The identifier of the stay: the visit number (type VN), else an official or usual identifier,
 * else the first. Without one, the sender's own Encounter id in the namespace of the sending
 * application (MessageHeader.source.endpoint + "/Encounter"): the next message about the same
 * Encounter then finds it, but a plan meets it only if it names the stay the same way.
 */
export function encounterKeyOf(encounter: Encounter, header: MessageHeader): Identifier | undefined {
  const usable = naming(encounter.identifier);
  const chosen = usable.find((i) => hasType(i, 'VN')) ?? usable.find((i) => i.use === 'official' || i.use === 'usual') ?? usable[0];
  if (chosen) {
    return { system: chosen.system, value: chosen.value };
  }
  const endpoint = header.source?.endpoint;
  if (typeof encounter.id === 'string' && typeof endpoint === 'string' && endpoint !== '') {
    return { system: `${endpoint.replace(/\/+$/, '')}/Encounter`, value: encounter.id };
  }
  return undefined;
}

function checkShape(bundle: Bundle): MessageHeader {
  if (bundle.type !== 'message') {
    throw structure(`$process-message takes a Bundle of type "message", not ${JSON.stringify(String(bundle.type)).slice(0, 40)}`, 'Bundle.type');
  }
  if (typeof bundle.id !== 'string' || !FHIR_ID.test(bundle.id)) {
    throw structure('A message Bundle needs its id: it is how a message sent again is known (FHIR messaging, reliable delivery)', 'Bundle.id');
  }
  const entries = bundle.entry as unknown;
  if (!Array.isArray(entries) || entries.length < 2) {
    throw structure('A notification holds at least its MessageHeader and the Encounter it is about', 'Bundle.entry');
  }
  if (entries.length > MAX_MESSAGE_ENTRIES) {
    throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'too-costly', details: { text: `A notification holds at most ${MAX_MESSAGE_ENTRIES} entries, not ${entries.length}` }, expression: ['Bundle.entry'] }] });
  }
  entries.forEach((entry: unknown, i) => {
    if (!isObject(entry) || !isObject(entry.resource) || typeof entry.resource.resourceType !== 'string') {
      throw structure(`Bundle.entry[${i}] must hold a resource`, `Bundle.entry[${i}].resource`);
    }
  });
  const header = (entries[0] as { resource: Resource }).resource;
  if (header.resourceType !== 'MessageHeader') {
    throw structure('The first entry of a message is its MessageHeader', 'Bundle.entry[0].resource');
  }
  if (typeof header.id !== 'string' || !FHIR_ID.test(header.id)) {
    throw structure('The MessageHeader needs its id (the message\'s identity, with Bundle.id)', 'Bundle.entry[0].resource.id');
  }
  const focus = (header as { focus?: unknown }).focus;
  if (!Array.isArray(focus) || focus.length === 0 || !isObject(focus[0]) || typeof focus[0].reference !== 'string') {
    throw structure('MessageHeader.focus names the Encounter the notification is about', 'Bundle.entry[0].resource.focus');
  }
  return header;
}

function eventOf(header: MessageHeader): { event: NotificationEvent; coding: Coding } {
  const coding = header.eventCoding;
  const code = coding?.code as NotificationEvent | undefined;
  if (coding?.system !== NOTIFICATION_EVENT_SYSTEM || code === undefined || !NOTIFICATION_EVENTS.includes(code)) {
    const said = coding?.code ? `${String(coding.system ?? '')}|${String(coding.code)}`.slice(0, 120) : header.eventUri ? String(header.eventUri).slice(0, 120) : 'no event';
    throw unprocessable('not-supported', `carebridge acts on the Da Vinci events ${NOTIFICATION_EVENTS.join(' and ')} (${NOTIFICATION_EVENT_SYSTEM}), not ${said}`, 'Bundle.entry[0].resource.eventCoding');
  }
  return { event: code, coding: { system: coding.system, code, ...(coding.display ? { display: coding.display } : {}) } };
}

/** The message in `body`, checked: 400 for a malformed message, 422 for one carebridge cannot act on. */
export function readNotificationMessage(body: unknown): NotificationMessage {
  const bundle = messageBundle(body);
  const header = checkShape(bundle) as MessageHeader;
  // Every entry against R4 (and what they reference resolves inside the message, as the IG's
  // "bundled" aggregation requires) before anything is read out of them.
  const errors = validateFhirBundle(bundle).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (errors.length > 0) {
    throw new OperationOutcomeError({ ...businessRule('', ''), issue: errors });
  }
  const { event, coding } = eventOf(header);
  const index = new EntryIndex(bundle);

  const focus = index.resolve(header.focus?.[0]);
  if (!focus) {
    throw structure('MessageHeader.focus must name an entry of the message', 'Bundle.entry[0].resource.focus[0]');
  }
  if (focus.resource.resourceType !== 'Encounter') {
    throw unprocessable('not-supported', `An admit or discharge notification is about an Encounter, not a ${focus.resource.resourceType}`, 'Bundle.entry[0].resource.focus[0]');
  }
  const encounter = focus.resource as Encounter;
  const encounterPath = `Bundle.entry[${focus.index}].resource`;

  const subject = index.resolve(encounter.subject);
  if (subject?.resource.resourceType !== 'Patient') {
    throw unprocessable('required', "The Encounter's subject must be a Patient in the message", `${encounterPath}.subject`);
  }
  const patient = subject.resource as Patient;
  const patientPath = `Bundle.entry[${subject.index}].resource`;
  const patientIds = naming(patient.identifier);
  const patientKey = patientIds.find((i) => hasType(i, 'MR')) ?? patientIds[0];
  if (!patientKey) {
    throw unprocessable('required', 'The Patient needs an identifier (system and value), the MRN if it has one: carebridge knows patients by identifier', `${patientPath}.identifier`);
  }

  const encounterKey = encounterKeyOf(encounter, header);
  if (!encounterKey) {
    throw unprocessable('required', 'The Encounter needs an identifier (system and value), or an id and MessageHeader.source.endpoint', `${encounterPath}.identifier`);
  }
  if (event === 'notification-discharge' && !encounter.period?.end) {
    throw unprocessable('required', 'A discharge notification\'s Encounter says when the patient left: period.end', `${encounterPath}.period.end`);
  }
  if (event === 'notification-admit' && !encounter.period?.start) {
    throw unprocessable('required', 'An admit notification\'s Encounter says when the patient was admitted: period.start', `${encounterPath}.period.start`);
  }

  const sending = [header.sender, header.responsible].map((r) => index.resolve(r)).find((e) => e?.resource.resourceType === 'Organization');
  if (!sending) {
    throw unprocessable('required', 'MessageHeader.sender (or .responsible) must be the sending Organization, in the message', 'Bundle.entry[0].resource.sender');
  }
  const sender = sending.resource as Organization;
  const senderPath = `Bundle.entry[${sending.index}].resource`;
  const senderIdentifiers = naming(sender.identifier).map((i) => ({ system: i.system, value: i.value }));
  if (senderIdentifiers.length === 0) {
    throw unprocessable('required', 'The sending Organization needs an identifier (system and value, e.g. its NPI)', `${senderPath}.identifier`);
  }
  const provider = index.resolve(encounter.serviceProvider);

  return {
    event,
    eventCoding: coding,
    bundleId: bundle.id as string,
    headerId: header.id as string,
    ...(typeof bundle.timestamp === 'string' ? { timestamp: bundle.timestamp } : {}),
    sender,
    senderIdentifiers,
    patient,
    patientKey: { system: patientKey.system, value: patientKey.value },
    encounter,
    encounterKey,
    paths: { encounter: encounterPath, patient: patientPath, sender: senderPath },
    providedBySender: provider?.index === sending.index,
  };
}
