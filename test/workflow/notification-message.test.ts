// Reading a Da Vinci admit/discharge notification before anything is stored: what is taken from
// it, and which mistakes are 400 (malformed) or 422 (well-formed, but carebridge cannot act on it).
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, Encounter, MessageHeader, Resource } from '@medplum/fhirtypes';
import { OperationOutcomeError, getStatus } from '@medplum/core';
import { loadDefinitions } from '../../src/validation/definitions.ts';
import { encounterKeyOf, readNotificationMessage } from '../../src/workflow/notification-message.ts';
import { HARBOR_POINT, VISIT_SYSTEM, notification, patient } from '../api/fhir/support/notification.ts';

const message = (): Bundle => notification({ event: 'notification-discharge', patient: patient('HP-1'), visit: 'V-1', admittedAt: '2026-11-25T08:00:00-05:00', dischargedAt: '2026-11-30T16:20:00-05:00' });

function statusOf(body: unknown): number {
  try {
    readNotificationMessage(body);
    return 200;
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return getStatus(err.outcome);
    }
    throw err;
  }
}

describe('reading a notification', () => {
  beforeAll(() => {
    loadDefinitions();
  });

  it('takes the event, the identities and the focus Encounter, its Patient and the sending Organization', () => {
    const bundle = message();
    const read = readNotificationMessage(bundle);
    expect(read).toMatchObject({
      event: 'notification-discharge',
      bundleId: bundle.id,
      headerId: bundle.entry?.[0]?.resource?.id,
      patientKey: { system: 'https://harborpoint-med.example/fhir/sid/mrn', value: 'HP-1' },
      encounterKey: { system: VISIT_SYSTEM, value: 'V-1' },
      senderIdentifiers: [{ system: HARBOR_POINT.system, value: HARBOR_POINT.value }],
      paths: { encounter: 'Bundle.entry[1].resource', patient: 'Bundle.entry[2].resource', sender: 'Bundle.entry[5].resource' },
      providedBySender: true,
    });
  });

  it('takes the message from Parameters too, and resolves Type/id references against absolute fullUrls', () => {
    const bundle = message();
    const renamed = new Map<string, string>();
    bundle.entry?.forEach((entry, i) => {
      const resource = entry.resource as Resource;
      resource.id ??= `r${i}`;
      renamed.set(entry.fullUrl as string, `${resource.resourceType}/${resource.id}`);
      entry.fullUrl = `https://harborpoint-med.example/fhir/${resource.resourceType}/${resource.id}`;
    });
    const relative = JSON.parse(JSON.stringify(bundle).replace(/urn:uuid:[0-9a-f-]{36}/g, (urn) => renamed.get(urn) ?? urn)) as Bundle;
    expect((relative.entry?.[1]?.resource as Encounter).subject?.reference).toBe('Patient/r2');
    const read = readNotificationMessage({ resourceType: 'Parameters', parameter: [{ name: 'content', resource: relative }] });
    expect(read.encounterKey).toEqual({ system: VISIT_SYSTEM, value: 'V-1' });
    expect(read.patient.id).toBe('r2');
    expect(read.providedBySender).toBe(true);
  });

  it('knows the stay by its visit number, an official identifier, the first one, or the sender\'s id', () => {
    const header: MessageHeader = { resourceType: 'MessageHeader', eventCoding: { code: 'x' }, source: { endpoint: 'https://ehr.example/fhir/' } };
    const encounter = (identifier: Encounter['identifier'], id?: string): Encounter => ({ resourceType: 'Encounter', id, status: 'finished', class: { code: 'IMP' }, identifier });
    const vn = { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'VN' }] }, system: 's:vn', value: '1' };
    expect(encounterKeyOf(encounter([{ system: 's:a', value: 'a' }, vn]), header)).toEqual({ system: 's:vn', value: '1' });
    expect(encounterKeyOf(encounter([{ system: 's:a', value: 'a' }, { use: 'official', system: 's:o', value: 'o' }]), header)).toEqual({ system: 's:o', value: 'o' });
    expect(encounterKeyOf(encounter([{ value: 'no-system' }, { system: 's:a', value: 'a' }]), header)).toEqual({ system: 's:a', value: 'a' });
    expect(encounterKeyOf(encounter(undefined, 'enc-7'), header)).toEqual({ system: 'https://ehr.example/fhir/Encounter', value: 'enc-7' });
    expect(encounterKeyOf(encounter(undefined), header)).toBeUndefined();
  });

  it('is 400 for what is not a message, 422 for a message carebridge cannot act on', () => {
    const bundle = message();
    const header = bundle.entry?.[0]?.resource as MessageHeader;
    expect(statusOf(null)).toBe(400);
    expect(statusOf({ resourceType: 'Parameters', parameter: [] })).toBe(400);
    expect(statusOf({ ...bundle, type: 'collection' })).toBe(400);
    expect(statusOf({ ...bundle, entry: bundle.entry?.map((e, i) => (i === 0 ? { ...e, resource: { ...header, id: undefined } } : e)) })).toBe(400);
    expect(statusOf({ ...bundle, entry: [...(bundle.entry ?? []), { fullUrl: 'urn:uuid:x' }] })).toBe(400);
    expect(statusOf({ ...bundle, entry: bundle.entry?.map((e, i) => (i === 0 ? { ...e, resource: { ...header, eventCoding: undefined, eventUri: 'http://example.org/admit' } } : e)) })).toBe(422);
    expect(statusOf({ ...bundle, entry: bundle.entry?.map((e, i) => (i === 0 ? { ...e, resource: { ...header, eventCoding: { ...header.eventCoding, code: 'notification-transfer' } } } : e)) })).toBe(422);
    expect(statusOf({ ...bundle, entry: bundle.entry?.map((e, i) => (i === 0 ? { ...e, resource: { ...header, sender: undefined, responsible: undefined } } : e)) })).toBe(422);
    expect(statusOf(bundle)).toBe(200);
  });
});
