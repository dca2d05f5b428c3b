// Da Vinci admit and discharge notifications (http://hl7.org/fhir/us/davinci-alerts/) as a hospital
// sends them to POST /fhir/$process-message: a message Bundle whose MessageHeader names the event
// and focuses on the Encounter, with the Patient, the hospital, the attending and the ward as entries
// (the shape of the IG's discharge-notification-message-bundle-01, with Harbor Point's data).
import type { Bundle, BundleEntry, ContactPoint, Encounter, Patient } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';

export const NPI = 'http://hl7.org/fhir/sid/us-npi';
export const HARBOR_POINT = { system: NPI, value: '1599024316', name: 'Harbor Point Medical Center' };
export const OTHER_HOSPITAL_ORG = { system: NPI, value: '1144246767', name: 'Bayview General Hospital' };
export const VISIT_SYSTEM = 'https://harborpoint-med.example/fhir/sid/encounter';
export const MRN_SYSTEM = 'https://harborpoint-med.example/fhir/sid/mrn';
export const EVENT_SYSTEM = 'http://hl7.org/fhir/us/davinci-alerts/CodeSystem/notification-event';

export type NotificationEventCode = 'notification-discharge' | 'notification-admit';

export interface NotificationInput {
  event: NotificationEventCode;
  patient: Patient;
  /** The hospital's visit number of the stay. */
  visit: string;
  admittedAt: string;
  dischargedAt?: string;
  /** v3 ActCode: IMP (default), EMER, AMB, … */
  encounterClass?: string;
  sender?: { system: string; value: string; name: string; telecom?: ContactPoint[] };
  bundleId?: string;
  headerId?: string;
}

/** A patient as a notification carries them: MRN first (type MR), a name, a birth date. */
export function patient(mrn: string, family = 'Okafor', given = 'Adaeze', birthDate = '1949-03-14'): Patient {
  return {
    resourceType: 'Patient',
    identifier: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical record number' }] }, system: MRN_SYSTEM, value: mrn }],
    active: true,
    name: [{ use: 'official', family, given: [given] }],
    gender: 'female',
    birthDate,
  };
}

const urn = (): string => `urn:uuid:${randomUUID()}`;

export function notification(input: NotificationInput): Bundle {
  const sender: NonNullable<NotificationInput['sender']> = input.sender ?? HARBOR_POINT;
  const ids = { header: urn(), encounter: urn(), patient: urn(), organization: urn(), practitioner: urn(), location: urn() };
  const discharge = input.event === 'notification-discharge';
  const encounter: Encounter = {
    resourceType: 'Encounter',
    identifier: [{ system: VISIT_SYSTEM, value: input.visit }],
    status: discharge ? 'finished' : 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: input.encounterClass ?? 'IMP' },
    type: [{ coding: [{ system: 'http://snomed.info/sct', code: '183452005', display: 'Emergency hospital admission' }] }],
    subject: { reference: ids.patient },
    participant: [{ individual: { reference: ids.practitioner, display: 'Dr. Priya Raman' } }],
    period: { start: input.admittedAt, ...(input.dischargedAt ? { end: input.dischargedAt } : {}) },
    ...(discharge ? { hospitalization: { dischargeDisposition: { coding: [{ system: 'http://www.nubc.org/patient-discharge', code: '06', display: 'Discharged/transferred to home under care of organized home health service organization' }] } } } : {}),
    location: [{ location: { reference: ids.location, display: '4 West' } }],
    serviceProvider: { reference: ids.organization, display: sender.name },
  };
  const entries: BundleEntry[] = [
    {
      fullUrl: ids.header,
      resource: {
        resourceType: 'MessageHeader',
        id: input.headerId ?? randomUUID(),
        eventCoding: { system: EVENT_SYSTEM, code: input.event, display: discharge ? 'Discharge Notification' : 'Admit Notification' },
        destination: [{ name: 'carebridge', endpoint: 'https://carebridge.example/fhir/$process-message' }],
        sender: { reference: ids.organization, display: sender.name },
        author: { reference: ids.practitioner },
        source: { name: 'Harbor Point ADT', software: 'ADT gateway', version: '4.2', endpoint: 'https://harborpoint-med.example/fhir' },
        responsible: { reference: ids.organization },
        focus: [{ reference: ids.encounter }],
      },
    },
    { fullUrl: ids.encounter, resource: encounter },
    { fullUrl: ids.patient, resource: input.patient },
    { fullUrl: ids.location, resource: { resourceType: 'Location', status: 'active', name: '4 West', managingOrganization: { reference: ids.organization } } },
    { fullUrl: ids.practitioner, resource: { resourceType: 'Practitioner', identifier: [{ system: NPI, value: '1386719844' }], name: [{ family: 'Raman', given: ['Priya'], prefix: ['Dr.'] }] } },
    { fullUrl: ids.organization, resource: { resourceType: 'Organization', identifier: [{ system: sender.system, value: sender.value }], active: true, name: sender.name, ...(sender.telecom ? { telecom: sender.telecom } : {}), type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'prov' }] }] } },
  ];
  return { resourceType: 'Bundle', id: input.bundleId ?? randomUUID(), type: 'message', timestamp: new Date().toISOString(), entry: entries };
}
