// Transaction and batch Bundles over real HTTP (POST /fhir): a transaction is whole or nothing
// and names the entry that failed; a batch answers every entry on its own.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, BundleEntry, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import type { TestServer } from './support/server.ts';
import { fhirFetch, startSqliteServer } from './support/server.ts';

let server: TestServer;

function newPatient(value: string): Patient {
  return { resourceType: 'Patient', name: [{ family: 'Mensah' }], identifier: [{ system: 'urn:carebridge-test:mrn', value }] };
}

async function countByIdentifier(type: string, value: string): Promise<number> {
  const response = await fhirFetch(server, `${type}?identifier=${encodeURIComponent(`urn:carebridge-test:mrn|${value}`)}&_summary=count`);
  expect(response.status).toBe(200);
  return response.body.total as number;
}

beforeAll(async () => {
  server = await startSqliteServer();
});

afterAll(async () => {
  await server.stop();
});

describe('transaction', () => {
  it('writes nothing when its second entry fails validation, and names that entry', async () => {
    const value = randomUUID();
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:7f0c1f36-0000-4000-8000-000000000001', resource: newPatient(value), request: { method: 'POST', url: 'Patient' } },
        {
          resource: { resourceType: 'Observation', status: 'bogus' as 'final', code: { text: 'weight' }, subject: { reference: 'urn:uuid:7f0c1f36-0000-4000-8000-000000000001' }, identifier: [{ system: 'urn:carebridge-test:mrn', value }] },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    };
    const response = await fhirFetch<OperationOutcome>(server, '', { method: 'POST', json: bundle });
    expect(response.status).toBe(422);
    expect(response.body.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(response.body.issue)).toContain('Bundle.entry[1]');
    expect(response.body.issue?.flatMap((i) => i.expression ?? [])).toContain('Bundle.entry[1].resource.status');
    expect(await countByIdentifier('Patient', value)).toBe(0);
    expect(await countByIdentifier('Observation', value)).toBe(0);
  });

  it('answers a GET entry from inside the transaction, after its writes', async () => {
    const value = randomUUID();
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'GET', url: `Patient?identifier=urn:carebridge-test:mrn|${value}` } },
        { fullUrl: 'urn:uuid:7f0c1f36-0000-4000-8000-0000000000aa', resource: newPatient(value), request: { method: 'POST', url: 'Patient' } },
      ],
    };
    const response = await fhirFetch<Bundle>(server, '', { method: 'POST', json: bundle });
    expect(response.status).toBe(200);
    const found = response.body.entry?.[0]?.resource as Bundle;
    expect(found.type).toBe('searchset');
    expect(found.entry).toHaveLength(1);
    expect(response.body.entry?.[1]?.response?.status).toBe('201');
  });

  it('writes nothing when an entry is malformed (type differs from its URL): 400', async () => {
    const value = randomUUID();
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: newPatient(value), request: { method: 'POST', url: 'Patient' } },
        { resource: newPatient(randomUUID()), request: { method: 'POST', url: 'Observation' } },
      ],
    };
    const response = await fhirFetch<OperationOutcome>(server, '', { method: 'POST', json: bundle });
    expect(response.status).toBe(400);
    expect(JSON.stringify(response.body.issue)).toContain('Bundle.entry[1]');
    expect(await countByIdentifier('Patient', value)).toBe(0);
  });

  it('gives a resource created by a conditional PUT the id its urn:uuid references were rewritten to', async () => {
    const value = randomUUID();
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:7f0c1f36-0000-4000-8000-0000000000a1', resource: newPatient(value), request: { method: 'PUT', url: `Patient?identifier=urn:carebridge-test:mrn|${value}` } },
        {
          resource: { resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: 'urn:uuid:7f0c1f36-0000-4000-8000-0000000000a1' } },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    };
    const response = await fhirFetch(server, '', { method: 'POST', json: bundle });
    expect(response.status).toBe(200);
    const patientId = response.body.entry?.[0]?.resource?.id;
    const subject = (response.body.entry?.[1]?.resource as { subject?: { reference?: string } }).subject?.reference as string;
    expect(subject).toBe(`Patient/${patientId}`);
    expect((await fhirFetch(server, subject)).status).toBe(200);
  });

  it('resolves a conditional reference to the one existing match', async () => {
    const value = randomUUID();
    const existing = (await fhirFetch<Patient>(server, 'Patient', { method: 'POST', json: newPatient(value) })).body;
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: { resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: `Patient?identifier=urn:carebridge-test:mrn|${value}` } },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    };
    const response = await fhirFetch(server, '', { method: 'POST', json: bundle });
    expect(response.status).toBe(200);
    expect(response.body.entry?.[0]?.resource).toMatchObject({ subject: { reference: `Patient/${existing.id}` } });
  });

  it('points urn:uuid references at the existing resource a conditional create matched, in what it stores and in what search finds', async () => {
    const value = randomUUID();
    const existing = (await fhirFetch<Patient>(server, 'Patient', { method: 'POST', json: newPatient(value) })).body;
    const patientUrl = 'urn:uuid:7f0c1f36-0000-4000-8000-0000000000b1';
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: patientUrl, resource: newPatient(value), request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=urn:carebridge-test:mrn|${value}` } },
        {
          resource: { resourceType: 'Observation', status: 'final', code: { text: `weight ${value}` }, subject: { reference: patientUrl } },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    };
    const response = await fhirFetch(server, '', { method: 'POST', json: bundle });
    expect(response.status).toBe(200);
    expect(response.body.entry?.[0]?.resource?.id).toBe(existing.id);
    const observation = response.body.entry?.[1]?.resource as { id: string; subject?: { reference?: string } };
    expect(observation.subject?.reference).toBe(`Patient/${existing.id}`);
    const found = await fhirFetch(server, `Observation?subject=Patient/${existing.id}`);
    expect(found.body.entry?.map((e) => e.resource?.id)).toEqual([observation.id]);
  });

  it('answers a conditional create that matched with the stored version (200, its ETag and Location), with or without DELETE entries before it', async () => {
    const value = randomUUID();
    const created = (await fhirFetch<Patient>(server, 'Patient', { method: 'POST', json: newPatient(value) })).body;
    const updated = (await fhirFetch<Patient>(server, `Patient/${created.id}`, { method: 'PUT', json: { ...newPatient(value), id: created.id, gender: 'female' } })).body;
    expect(updated.meta?.versionId).not.toBe(created.meta?.versionId);
    const unrelated = (await fhirFetch<Patient>(server, 'Patient', { method: 'POST', json: newPatient(randomUUID()) })).body;
    const conditional: BundleEntry = { resource: newPatient(value), request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=urn:carebridge-test:mrn|${value}` } };
    for (const entry of [[conditional], [{ request: { method: 'DELETE', url: `Patient/${unrelated.id}` } }, conditional]] as BundleEntry[][]) {
      const response = await fhirFetch(server, '', { method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', entry } });
      expect(response.status).toBe(200);
      const answer = response.body.entry?.at(-1);
      expect(answer?.response).toMatchObject({ status: '200', etag: `W/"${updated.meta?.versionId}"` });
      expect(answer?.response?.location).toMatch(new RegExp(`/Patient/${created.id}/_history/${updated.meta?.versionId}$`));
      expect(answer?.resource).toEqual(updated);
    }
    expect(await countByIdentifier('Patient', value)).toBe(1);
  });

  it('fails whole with 412 when a DELETE entry\'s ifMatch is stale, and deletes nothing', async () => {
    const value = randomUUID();
    const kept = (await fhirFetch<Patient>(server, 'Patient', { method: 'POST', json: newPatient(value) })).body;
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'DELETE', url: `Patient/${kept.id}`, ifMatch: 'W/"42"' } },
        { resource: newPatient(randomUUID()), request: { method: 'POST', url: 'Patient' } },
      ],
    };
    const response = await fhirFetch<OperationOutcome>(server, '', { method: 'POST', json: bundle });
    expect(response.status).toBe(412);
    expect(response.body.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(response.body.issue)).toContain('Bundle.entry[0]');
    expect((await fhirFetch<Patient>(server, `Patient/${kept.id}`)).body).toEqual(kept);
  });
});

describe('batch', () => {
  it('answers a DELETE entry with a stale ifMatch 412 and one with a malformed ifMatch 400, deleting neither', async () => {
    const first = (await fhirFetch<Patient>(server, 'Patient', { method: 'POST', json: newPatient(randomUUID()) })).body;
    const second = (await fhirFetch<Patient>(server, 'Patient', { method: 'POST', json: newPatient(randomUUID()) })).body;
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'DELETE', url: `Patient/${first.id}`, ifMatch: 'W/"42"' } },
        { request: { method: 'DELETE', url: `Patient/${second.id}`, ifMatch: 'garbage' } },
      ],
    };
    const response = await fhirFetch(server, '', { method: 'POST', json: bundle });
    expect(response.status).toBe(200);
    expect(response.body.entry?.map((e) => [e.response?.status, (e.response?.outcome as OperationOutcome | undefined)?.resourceType])).toEqual([
      ['412', 'OperationOutcome'],
      ['400', 'OperationOutcome'],
    ]);
    expect((await fhirFetch<Patient>(server, `Patient/${first.id}`)).body).toEqual(first);
    expect((await fhirFetch<Patient>(server, `Patient/${second.id}`)).body).toEqual(second);
  });

  it('answers 200 with a status per entry; the good entries are written, the bad one is not', async () => {
    const good = randomUUID();
    const bad = randomUUID();
    const entries: BundleEntry[] = [
      { resource: newPatient(good), request: { method: 'POST', url: 'Patient' } },
      { resource: { ...newPatient(bad), gender: 'bogus' as 'other' }, request: { method: 'POST', url: 'Patient' } },
      { request: { method: 'GET', url: `Patient/${randomUUID()}` } },
      { request: { method: 'GET', url: `Patient?identifier=urn:carebridge-test:mrn|${good}` } },
    ];
    const response = await fhirFetch(server, '', { method: 'POST', json: { resourceType: 'Bundle', type: 'batch', entry: entries } });
    expect(response.status).toBe(200);
    expect(response.body.type).toBe('batch-response');
    expect(response.body.entry?.map((e) => e.response?.status)).toEqual(['201', '422', '404', '200']);
    expect(response.body.entry?.[1]?.response?.outcome?.resourceType).toBe('OperationOutcome');
    expect(((response.body.entry?.[3]?.resource as Bundle).entry ?? []).length).toBe(1);
    expect(await countByIdentifier('Patient', good)).toBe(1);
    expect(await countByIdentifier('Patient', bad)).toBe(0);
  });
});
