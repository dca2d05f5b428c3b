import { beforeAll, describe, expect, it } from '@jest/globals';
import type { AuditInteraction } from '../../src/audit/audit-event.ts';
import { auditEventFor, auditLogFields, auditOutcome, redactQuery } from '../../src/audit/audit-event.ts';
import { CLIENT_ID_SYSTEM } from '../../src/audit/codes.ts';
import { loadDefinitions } from '../../src/validation/definitions.ts';
import { validateFhirResource } from '../../src/validation/fhir-validator.ts';
import { agencyPrincipal, codesOutsideValueSets } from './support.ts';

const INTERACTIONS: AuditInteraction[] = [
  'read', 'vread', 'search-type', 'search-system', 'history-instance', 'history-type', 'history-system',
  'create', 'update', 'patch', 'delete', 'transaction', 'batch', 'operation',
];
const STATUSES = [200, 201, 304, 400, 401, 403, 404, 412, 422, 429, 500, 503];
const observer = { site: 'carebridge-test', baseUrl: 'https://carebridge.example/fhir' };
const recorded = new Date('2026-03-01T10:00:00.000Z');

/** Patient details a query or a failure could carry, none of which may reach a log. */
const PHI = ['Zebedee', 'Okonkwo-Smythe', '1948-02-29', '742 Evergreen', '555-0142', 'MRN-998877'];
const PHI_QUERY = `name=Zebedee&family=Okonkwo-Smythe&birthdate=1948-02-29&address=742%20Evergreen&phone=555-0142&identifier=urn:mrn|MRN-998877&_count=20&_sort=-_lastUpdated`;

function inputFor(interaction: AuditInteraction, status: number) {
  const search = interaction.startsWith('search') || interaction.startsWith('history');
  return {
    interaction,
    principal: agencyPrincipal(),
    resourceType: interaction.endsWith('system') || interaction === 'transaction' || interaction === 'batch' ? undefined : 'Patient',
    references: status < 400 ? ['Patient/p1', 'Task/t1/_history/2'] : [],
    patients: status < 400 ? ['Patient/p1'] : [],
    query: search ? PHI_QUERY : undefined,
    operation: interaction === 'operation' ? '$validate' : undefined,
    status,
    issueCode: status >= 400 ? 'processing' : undefined,
    address: '::ffff:10.1.2.3',
    requestId: 'req-42',
    recorded,
    observer,
  };
}

describe('auditEventFor', () => {
  beforeAll(() => {
    loadDefinitions();
  });

  it('makes a valid R4 AuditEvent, with R4 codes, for every interaction and outcome', () => {
    for (const interaction of INTERACTIONS) {
      for (const status of STATUSES) {
        const event = auditEventFor(inputFor(interaction, status));
        const errors = validateFhirResource(event).filter((i) => i.severity === 'error' || i.severity === 'fatal');
        expect({ interaction, status, errors }).toEqual({ interaction, status, errors: [] });
        expect({ interaction, status, codes: codesOutsideValueSets(event) }).toEqual({ interaction, status, codes: [] });
      }
    }
  });

  it('makes a valid AuditEvent for a refused attempt, with or without a claimed client id', () => {
    for (const claimedClientId of ['unknown-client', undefined]) {
      const event = auditEventFor({ interaction: 'read', principal: undefined, claimedClientId, resourceType: 'Patient', references: ['Patient/p1'], status: 401, address: '203.0.113.9', recorded, observer });
      expect(validateFhirResource(event).filter((i) => i.severity === 'error')).toEqual([]);
      expect(event.outcome).toBe('4');
      expect(event.agent).toHaveLength(2);
      expect(event.agent[0]?.altId).toBe(claimedClientId);
      expect(event.agent[0]?.network).toEqual({ address: '203.0.113.9', type: '2' });
    }
  });

  it('follows BALP: rest + interaction subtype, client as Source Role, organization, server, patient and query entities', () => {
    const event = auditEventFor(inputFor('search-type', 200));
    expect(event.type).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' });
    expect(event.subtype).toEqual([expect.objectContaining({ system: 'http://hl7.org/fhir/restful-interaction', code: 'search-type' })]);
    expect(event.action).toBe('E');
    const [client, organization, server] = event.agent;
    expect(client).toMatchObject({
      type: { coding: [{ code: '110153' }] },
      who: { identifier: { system: CLIENT_ID_SYSTEM, value: 'sunrise-home-health' }, display: 'Sunrise Home Health EHR' },
      altId: 'sunrise-home-health',
      requestor: true,
      network: { address: '10.1.2.3', type: '2' },
      policy: ['jti-7f3a'],
    });
    expect(organization).toMatchObject({ type: { coding: [{ code: 'DELEGATOR' }] }, who: { identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' } }, requestor: false });
    expect(server).toMatchObject({ type: { coding: [{ code: '110152' }] }, network: { address: observer.baseUrl, type: '5' } });
    expect(event.source).toMatchObject({ site: 'carebridge-test', observer: { display: 'carebridge' } });
    const query = event.entity?.find((e) => e.role?.code === '24');
    expect(Buffer.from(query?.query ?? '', 'base64').toString('utf8')).toBe(`Patient?${PHI_QUERY}`);
    expect(event.entity?.find((e) => e.role?.code === '1')?.what?.reference).toBe('Patient/p1');
    expect(event.entity?.find((e) => e.type?.code === 'XrequestId')?.what?.identifier?.value).toBe('req-42');
  });

  it('maps actions and outcomes as R4 and BALP define them', () => {
    expect(['create', 'read', 'update', 'patch', 'delete', 'search-type', 'history-type'].map((i) => auditEventFor(inputFor(i as AuditInteraction, 200)).action)).toEqual(['C', 'R', 'U', 'U', 'D', 'E', 'R']);
    expect([200, 201, 304, 400, 404, 500, 503].map(auditOutcome)).toEqual(['0', '0', '0', '4', '4', '8', '12']);
    expect(auditEventFor(inputFor('read', 404)).outcomeDesc).toBe('404 Not Found (processing)');
  });

  it('keeps names, birth dates, addresses, phone numbers and identifier values out of outcomeDesc, the query description and the log fields', () => {
    for (const interaction of INTERACTIONS) {
      for (const status of STATUSES) {
        const event = auditEventFor({ ...inputFor(interaction, status), issueCode: 'Patient Zebedee born 1948-02-29 not found' });
        const visible = JSON.stringify([event.outcomeDesc, event.entity?.map((e) => e.description), auditLogFields(event)]);
        for (const value of PHI) {
          expect(visible).not.toContain(value);
        }
      }
    }
  });

  it('redacts query values but keeps parameter names, modifiers, chains and control parameters', () => {
    expect(redactQuery('?subject:Patient.name=Zebedee&identifier:of-type=x|MR|123&_count=10&_include=Task:patient&_has:Observation:patient:code=1234')).toBe(
      'subject:Patient.name=***&identifier:of-type=***&_count=10&_include=Task:patient&_has:Observation:patient:code=***',
    );
    expect(redactQuery('name%3DZebedee=x&%E2%9C%93')).toBe('***&***');
    expect(redactQuery('')).toBe('');
  });

  it('records a search or history without parameters, at type and system level', () => {
    for (const interaction of ['search-type', 'search-system', 'history-type', 'history-system'] as AuditInteraction[]) {
      const resourceType = interaction.endsWith('system') ? undefined : 'Task';
      const event = auditEventFor({ interaction, principal: undefined, resourceType, status: 200, recorded, observer });
      expect(validateFhirResource(event).filter((i) => i.severity === 'error')).toEqual([]);
      const query = event.entity?.find((e) => e.role?.code === '24');
      expect([query?.description, Buffer.from(query?.query ?? '', 'base64').toString('utf8')]).toEqual([`${resourceType ?? ''}?`, `${resourceType ?? ''}?`]);
    }
  });

  it('records the type of a request that touched no resource yet', () => {
    const event = auditEventFor({ interaction: 'create', principal: agencyPrincipal(), resourceType: 'Task', status: 400, issueCode: 'invalid', recorded, observer });
    expect(event.entity).toEqual([expect.objectContaining({ type: expect.objectContaining({ code: 'Task' }) })]);
    expect(validateFhirResource(event).filter((i) => i.severity === 'error')).toEqual([]);
  });
});
