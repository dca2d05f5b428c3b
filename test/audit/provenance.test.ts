import { beforeAll, describe, expect, it } from '@jest/globals';
import type { ProvenanceActivity } from '../../src/audit/provenance.ts';
import { provenanceFor } from '../../src/audit/provenance.ts';
import { loadDefinitions } from '../../src/validation/definitions.ts';
import { validateFhirResource } from '../../src/validation/fhir-validator.ts';
import { agencyPrincipal, codesOutsideValueSets } from './support.ts';

const recorded = new Date('2026-03-01T10:00:00.000Z');

describe('provenanceFor', () => {
  beforeAll(() => {
    loadDefinitions();
  });

  it('makes a valid R4 Provenance, with R4 codes, for each activity', () => {
    for (const activity of ['CREATE', 'UPDATE', 'DELETE'] as ProvenanceActivity[]) {
      const provenance = provenanceFor({ principal: agencyPrincipal(), targets: ['Task/t1/_history/3'], activity, recorded, sourceSystem: 'https://ehr.example/fhir', requestId: 'req-1' });
      expect(validateFhirResource(provenance).filter((i) => i.severity !== 'information')).toEqual([]);
      expect(codesOutsideValueSets(provenance)).toEqual([]);
      expect(provenance.activity?.coding?.[0]).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: activity });
    }
  });

  it('names the Organization as author and the client as performer on its behalf, and the source system', () => {
    const provenance = provenanceFor({ principal: agencyPrincipal(), targets: ['Task/t1/_history/1'], activity: 'CREATE', recorded, sourceSystem: 'https://ehr.example/fhir', requestId: 'req-1' });
    const organization = { type: 'Organization', identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' }, display: 'Sunrise Home Health' };
    expect(provenance.agent).toEqual([
      { type: { coding: [expect.objectContaining({ code: 'author' })] }, who: organization },
      { type: { coding: [expect.objectContaining({ code: 'performer' })] }, who: expect.objectContaining({ type: 'Device', identifier: expect.objectContaining({ value: 'sunrise-home-health' }) }), onBehalfOf: organization },
    ]);
    expect(provenance.entity).toEqual([{ role: 'source', what: { identifier: { system: 'urn:ietf:rfc:3986', value: 'https://ehr.example/fhir' } } }]);
    expect(provenance.meta?.source).toBe('https://ehr.example/fhir#req-1');
    expect(provenance.recorded).toBe('2026-03-01T10:00:00.000Z');
  });

  it('gives a transaction one Provenance whose targets are all its entries', () => {
    const targets = ['Patient/p1/_history/1', 'CarePlan/c1/_history/4', 'Task/t1/_history/2', 'Task/t1/_history/2'];
    const provenance = provenanceFor({ principal: agencyPrincipal(), targets, activity: 'UPDATE', recorded, sourceSystem: 'https://ehr.example/fhir' });
    expect(provenance.target.map((t) => t.reference)).toEqual(['Patient/p1/_history/1', 'CarePlan/c1/_history/4', 'Task/t1/_history/2']);
    expect(provenance.meta).toBeUndefined();
  });

  it('refuses targets that are not versioned references, and an empty list', () => {
    const base = { principal: agencyPrincipal(), activity: 'CREATE' as const, recorded, sourceSystem: 'https://ehr.example/fhir' };
    expect(() => provenanceFor({ ...base, targets: ['Task/t1'] })).toThrow('versioned');
    expect(() => provenanceFor({ ...base, targets: [] })).toThrow('at least one');
  });
});
