// Audit and provenance through the API: every access leaves an AuditEvent, every write a
// Provenance in its own transaction; only admins read them; no audit, no answer.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AuditEvent, Bundle, Provenance, Resource } from '@medplum/fhirtypes';
import { parseSearchRequest } from '@medplum/core';
import { AuditTrail } from '../../src/audit/audit-trail.ts';
import type { ClientRole, Principal } from '../../src/auth/principal.ts';
import { parseScopes } from '../../src/auth/scopes.ts';
import type { FhirStore, StoreTransaction } from '../../src/store/fhir-store.ts';
import type { AuthTestServer } from '../auth/support/auth-server.ts';
import { startAuthTestServer } from '../auth/support/auth-server.ts';

const as = (role: ClientRole, value: string): Principal => ({ clientId: `${value}-client`, clientName: value, role, organization: { system: 'urn:orgs', value }, scopes: parseScopes('system/*.cruds').scopes });
const HOSPITAL = as('hospital', 'riverside');
const ADMIN = as('admin', 'ops');

async function auditEvents(store: FhirStore): Promise<AuditEvent[]> {
  return (await store.search(parseSearchRequest('AuditEvent?_count=1000'))).resources as AuditEvent[];
}

describe('audit and provenance through the API', () => {
  let server: AuthTestServer;
  beforeAll(async () => {
    server = await startAuthTestServer({ principals: [HOSPITAL, ADMIN] });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('a create records, in its transaction, a Provenance of the new version and an AuditEvent naming client, organization and patient', async () => {
    const hospital = server.as(HOSPITAL);
    const patient = await hospital('POST', 'Patient', { resourceType: 'Patient', active: true });
    expect(patient.status).toBe(201);
    const id = (patient.body as Resource).id as string;
    const provenances = (await server.store.search(parseSearchRequest(`Provenance?target=Patient/${id}`))).resources as Provenance[];
    expect(provenances).toHaveLength(1);
    expect(provenances[0]?.target.map((t) => t.reference)).toEqual([`Patient/${id}/_history/1`]);
    expect(provenances[0]?.activity?.coding?.[0]?.code).toBe('CREATE');
    const events = (await auditEvents(server.store)).filter((e) => e.entity?.some((en) => en.what?.reference === `Patient/${id}`));
    expect(events).toHaveLength(1);
    const event = events[0] as AuditEvent;
    expect(event.action).toBe('C');
    expect(event.outcome).toBe('0');
    expect(JSON.stringify(event.agent)).toContain('riverside-client');
    expect(JSON.stringify(event.agent)).toContain('urn:orgs');
  });

  it('a read, a search and a refused read each record an AuditEvent with their outcome', async () => {
    const hospital = server.as(HOSPITAL);
    const created = await hospital('POST', 'Patient', { resourceType: 'Patient', active: true });
    const id = (created.body as Resource).id as string;
    const before = (await auditEvents(server.store)).length;
    expect((await hospital('GET', `Patient/${id}`)).status).toBe(200);
    expect((await hospital('GET', `Patient?_id=${id}`)).status).toBe(200);
    expect((await hospital('GET', 'AuditEvent')).status).toBe(403);
    const events = await auditEvents(server.store);
    expect(events.length - before).toBe(3);
    const outcomes = events.map((e) => e.outcome);
    expect(outcomes).toContain('4');
  });

  it('only admins read the audit trail', async () => {
    expect((await server.as(HOSPITAL)('GET', 'Provenance')).status).toBe(403);
    const admin = await server.as(ADMIN)('GET', 'AuditEvent?_count=5');
    expect(admin.status).toBe(200);
    expect(((admin.body as Bundle).entry ?? []).length).toBeGreaterThan(0);
  });

  it('a transaction Bundle records one Provenance per kind of change, all in the Bundle\'s transaction', async () => {
    const hospital = server.as(HOSPITAL);
    const response = await hospital('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:6a8f4c52-1d9e-4c3b-9a57-2f0e8b1c7d41', resource: { resourceType: 'Patient', active: true }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: 'urn:uuid:6a8f4c52-1d9e-4c3b-9a57-2f0e8b1c7d41' } }, request: { method: 'POST', url: 'CarePlan' } },
      ],
    });
    expect(response.status).toBe(200);
    const carePlanUrl = (response.body as Bundle).entry?.[1]?.response?.location as string;
    const carePlanId = (/CarePlan\/([^/]+)/.exec(carePlanUrl) as RegExpExecArray)[1] as string;
    const provenances = (await server.store.search(parseSearchRequest(`Provenance?target=CarePlan/${carePlanId}`))).resources as Provenance[];
    expect(provenances).toHaveLength(1);
    expect(provenances[0]?.target).toHaveLength(2);
    // One AuditEvent names the writes (in their transaction); the answer echoing them adds none.
    const events = (await auditEvents(server.store)).filter((e) => e.entity?.some((en) => en.what?.reference === `CarePlan/${carePlanId}`));
    expect(events).toHaveLength(1);
  });
});

describe('a transaction that reads and writes', () => {
  let server: AuthTestServer;
  beforeAll(async () => {
    server = await startAuthTestServer({ principals: [HOSPITAL] });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('records what it read as well as what it wrote', async () => {
    const hospital = server.as(HOSPITAL);
    // Read something the write has nothing to do with: only the request's own event can name it.
    const read = (await hospital('POST', 'Organization', { resourceType: 'Organization', name: 'Read only' })).body as Resource;
    const patient = (await hospital('POST', 'Patient', { resourceType: 'Patient', active: true })).body as Resource;
    const response = await hospital('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: `Patient/${patient.id}` } }, request: { method: 'POST', url: 'Observation' } },
        { request: { method: 'GET', url: `Organization/${read.id}` } },
      ],
    });
    expect(response.status).toBe(200);
    const events = (await auditEvents(server.store)).filter((e) => e.subtype?.some((c) => c.code === 'transaction'));
    const reading = events.filter((e) => e.entity?.some((en) => en.what?.reference === `Organization/${read.id}`));
    expect(reading).toHaveLength(1);
    // That event names what was read, not the Observation the transaction's own event names.
    expect(reading[0]?.entity?.some((en) => en.what?.reference?.startsWith('Observation/'))).toBe(false);
    expect(events.filter((e) => e.entity?.some((en) => en.what?.reference?.startsWith('Observation/')))).toHaveLength(1);
  });

  it('records what a search entry found, not only its Bundle', async () => {
    const hospital = server.as(HOSPITAL);
    const patient = (await hospital('POST', 'Patient', { resourceType: 'Patient', active: true })).body as Resource;
    const response = await hospital('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Organization', name: 'Written' }, request: { method: 'POST', url: 'Organization' } },
        { request: { method: 'GET', url: `Patient?_id=${patient.id}` } },
      ],
    });
    expect(response.status).toBe(200);
    const events = (await auditEvents(server.store)).filter((e) => e.subtype?.some((c) => c.code === 'transaction'));
    expect(events.filter((e) => e.entity?.some((en) => en.what?.reference === `Patient/${patient.id}`))).toHaveLength(1);
  });

  it('records a conditional create that found an existing resource: it disclosed it and wrote nothing', async () => {
    const hospital = server.as(HOSPITAL);
    const existing = (await hospital('POST', 'Organization', { resourceType: 'Organization', identifier: [{ system: 'urn:npi', value: 'cond-1' }], name: 'Found' })).body as Resource;
    const response = await hospital('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Organization', name: 'New' }, request: { method: 'POST', url: 'Organization' } },
        { resource: { resourceType: 'Organization', identifier: [{ system: 'urn:npi', value: 'cond-1' }], name: 'Sent' }, request: { method: 'POST', url: 'Organization', ifNoneExist: 'identifier=urn:npi|cond-1' } },
      ],
    });
    expect(response.status).toBe(200);
    expect((response.body as Bundle).entry?.[1]?.resource?.id).toBe(existing.id);
    const events = (await auditEvents(server.store)).filter((e) => e.subtype?.some((c) => c.code === 'transaction'));
    expect(events.filter((e) => e.entity?.some((en) => en.what?.reference === `Organization/${existing.id}`))).toHaveLength(1);
  });

  it('a batch records what its GET entries read, even when a later entry wrote, and names each write once', async () => {
    const hospital = server.as(HOSPITAL);
    const read = (await hospital('POST', 'Organization', { resourceType: 'Organization', name: 'Read by a batch' })).body as Resource;
    const patient = (await hospital('POST', 'Patient', { resourceType: 'Patient', active: true })).body as Resource;
    const observation = (code: string) => ({ resource: { resourceType: 'Observation', status: 'final', code: { text: code }, subject: { reference: `Patient/${patient.id}` } }, request: { method: 'POST', url: 'Observation' } });
    const response = await hospital('POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [observation('pulse'), { request: { method: 'GET', url: `Organization/${read.id}` } }, observation('weight')],
    });
    expect(response.status).toBe(200);
    // Recorded as a batch: each entry's own event and the request's.
    const events = (await auditEvents(server.store)).filter((e) => e.subtype?.some((c) => c.code === 'batch'));
    expect(events.filter((e) => e.entity?.some((en) => en.what?.reference === `Organization/${read.id}`))).toHaveLength(1);
    // Each Observation is named once: by the event its own entry's transaction recorded, the first
    // one too (the request's event used to name every entry's writes but the last).
    const written = [0, 2].map((i) => ((response.body as Bundle).entry?.[i]?.resource as Resource).id);
    for (const id of written) {
      expect(events.filter((e) => e.entity?.some((en) => en.what?.reference === `Observation/${id}`))).toHaveLength(1);
    }
    expect((await auditEvents(server.store)).filter((e) => e.subtype?.some((c) => c.code === 'transaction') && e.entity?.some((en) => en.what?.reference === `Organization/${read.id}`))).toHaveLength(0);
  });
});

describe('no audit, no answer', () => {
  let server: AuthTestServer;
  beforeAll(async () => {
    // An audit trail whose store refuses every transaction: the requests must fail, not be answered unaudited.
    server = await startAuthTestServer({
      principals: [ADMIN],
      auditTrail: (store) =>
        new AuditTrail({
          ...store,
          kind: store.kind,
          transaction: async <T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T> => {
            void work;
            throw new Error('disk full');
          },
        } as unknown as FhirStore),
    });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('a read whose AuditEvent cannot be written fails with 503 and discloses nothing', async () => {
    const { version } = await server.store.create({ resourceType: 'Patient', active: true } as Resource);
    const answer = await server.as(ADMIN)('GET', `Patient/${version.id}`);
    expect(answer.status).toBe(503);
    expect(answer.body?.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(answer.body)).not.toContain(version.id);
    expect(server.logs.some((line) => line.includes('audit trail write failed'))).toBe(true);
  });
});
