// References to this server's own base URL are the relative references they name.
import { describe, expect, it } from '@jest/globals';
import type { Observation } from '@medplum/fhirtypes';
import { localizeReferences } from '../../../src/api/fhir/references.ts';

const BASE = 'https://carebridge.example.org/api/fhir';

function observation(...references: string[]): Observation {
  return { resourceType: 'Observation', status: 'final', code: { text: 'heart rate' }, subject: { reference: references[0] }, performer: references.slice(1).map((reference) => ({ reference })) };
}

describe('localizeReferences', () => {
  it('makes Type/id (and Type/id/_history/vid) on the base relative, whatever the case of scheme and host', () => {
    const resource = observation(`${BASE}/Patient/p-1`, `${BASE}/Practitioner/dr-2/_history/3`, 'HTTPS://CAREBRIDGE.example.org:443/api/fhir/Organization/o-1');
    localizeReferences(resource, BASE);
    expect([resource.subject?.reference, ...(resource.performer ?? []).map((p) => p.reference)]).toEqual(['Patient/p-1', 'Practitioner/dr-2/_history/3', 'Organization/o-1']);
  });

  it('leaves other servers, other paths, queries and what is not Type/id as written', () => {
    const kept = [
      'https://other.example.org/api/fhir/Patient/p-1',
      'https://carebridge.example.org/fhir/Patient/p-1',
      'http://carebridge.example.org/api/fhir/Patient/p-1',
      `${BASE}/Patient?identifier=x|1`,
      `${BASE}/Patient/p-1/extra`,
      `${BASE}/Patient/p-1#x`,
      'urn:uuid:0b3a8f5e-0000-4000-8000-000000000001',
      'Patient/p-2',
    ];
    const resource = observation(...kept);
    localizeReferences(resource, BASE);
    expect([resource.subject?.reference, ...(resource.performer ?? []).map((p) => p.reference)]).toEqual(kept);
  });
});
