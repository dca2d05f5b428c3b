// FHIR's HTTP semantics over real HTTP with plain fetch: versions and preconditions, Prefer,
// content negotiation, and every error as an OperationOutcome with the status the API promises.
// Search, paging and Bundles are in http-search.test.ts and http-bundles.test.ts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, CapabilityStatement, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import { DEFINITION_TYPES, RESOURCE_TYPES, searchParametersOf } from '../../src/api/fhir/supported.ts';
import type { TestServer } from './support/server.ts';
import { fhirFetch } from './support/server.ts';
import { startSqliteServer } from './support/server.ts';

let server: TestServer;

function patient(extra: Partial<Patient> = {}): Patient {
  return { resourceType: 'Patient', name: [{ family: 'Okafor' }], identifier: [{ system: 'urn:carebridge-test:mrn', value: randomUUID() }], ...extra };
}

async function createPatient(extra: Partial<Patient> = {}): Promise<Patient> {
  const response = await fhirFetch<Patient>(server, 'Patient', { method: 'POST', json: patient(extra) });
  expect(response.status).toBe(201);
  return response.body;
}

/** The exchange failed with `status` and said why in an OperationOutcome. */
function expectOutcome(response: { status: number; body: unknown; headers: Headers }, status: number): OperationOutcome {
  expect({ status: response.status, resourceType: (response.body as OperationOutcome | undefined)?.resourceType }).toEqual({ status, resourceType: 'OperationOutcome' });
  expect(response.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
  const outcome = response.body as OperationOutcome;
  expect(outcome.issue?.[0]?.severity).toBe('error');
  return outcome;
}

beforeAll(async () => {
  server = await startSqliteServer();
});

afterAll(async () => {
  await server.stop();
});

describe('versions and preconditions', () => {
  it('GET /Patient/id answers ETag and Last-Modified from the stored version', async () => {
    const created = await createPatient();
    const read = await fhirFetch<Patient>(server, `Patient/${created.id}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe('W/"1"');
    expect(read.headers.get('last-modified')).toBe(new Date(created.meta?.lastUpdated as string).toUTCString());
    expect(read.body).toEqual(created);
  });

  it('POST /Patient answers 201 with Location of the new version', async () => {
    const response = await fhirFetch<Patient>(server, 'Patient', { method: 'POST', json: patient() });
    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe(`${server.fhir}/Patient/${response.body.id}/_history/1`);
    expect(response.headers.get('etag')).toBe('W/"1"');
  });

  it('PUT with a stale If-Match answers 412 and writes nothing; with the current ETag, 200', async () => {
    const created = await createPatient();
    const updated = await fhirFetch<Patient>(server, `Patient/${created.id}`, { method: 'PUT', json: { ...created, active: true }, headers: { 'if-match': 'W/"1"' } });
    expect(updated.status).toBe(200);
    expect(updated.headers.get('etag')).toBe('W/"2"');

    const stale = await fhirFetch(server, `Patient/${created.id}`, { method: 'PUT', json: { ...created, active: false }, headers: { 'if-match': 'W/"1"' } });
    expectOutcome(stale, 412);
    expect((await fhirFetch<Patient>(server, `Patient/${created.id}`)).body).toMatchObject({ active: true, meta: { versionId: '2' } });
  });

  it('DELETE with a stale If-Match answers 412, with a malformed one 400, and deletes nothing; with the current ETag, 200', async () => {
    const created = await createPatient();
    await fhirFetch(server, `Patient/${created.id}`, { method: 'PUT', json: { ...created, active: true } });
    const stale = await fhirFetch(server, `Patient/${created.id}`, { method: 'DELETE', headers: { 'if-match': 'W/"1"' } });
    expectOutcome(stale, 412);
    const malformed = await fhirFetch(server, `Patient/${created.id}`, { method: 'DELETE', headers: { 'if-match': 'garbage' } });
    expect(expectOutcome(malformed, 400).issue?.[0]?.details?.text).toContain('If-Match');
    expect((await fhirFetch<Patient>(server, `Patient/${created.id}`)).body).toMatchObject({ active: true, meta: { versionId: '2' } });

    const current = await fhirFetch(server, `Patient/${created.id}`, { method: 'DELETE', headers: { 'if-match': 'W/"2"' } });
    expect(current.status).toBe(200);
    expectOutcome(await fhirFetch(server, `Patient/${created.id}`), 410);
  });

  it('vread returns an old version; GET of an unknown id 404; of a deleted one 410', async () => {
    const created = await createPatient();
    await fhirFetch(server, `Patient/${created.id}`, { method: 'PUT', json: { ...created, active: true } });
    expect((await fhirFetch<Patient>(server, `Patient/${created.id}/_history/1`)).body.active).toBeUndefined();

    expectOutcome(await fhirFetch(server, `Patient/${randomUUID()}`), 404);
    const deleted = await fhirFetch(server, `Patient/${created.id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expectOutcome(await fhirFetch(server, `Patient/${created.id}`), 410);
  });

  it('conditional update PUT /Patient?identifier= creates the first time and updates the match after', async () => {
    const value = randomUUID();
    const url = `Patient?identifier=${encodeURIComponent(`urn:carebridge-test:mrn|${value}`)}`;
    const body = patient({ identifier: [{ system: 'urn:carebridge-test:mrn', value }] });
    const first = await fhirFetch<Patient>(server, url, { method: 'PUT', json: body });
    expect(first.status).toBe(201);
    const second = await fhirFetch<Patient>(server, url, { method: 'PUT', json: { ...body, active: true } });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ id: first.body.id, active: true, meta: { versionId: '2' } });
    expect((await fhirFetch(server, `Patient?identifier=${encodeURIComponent(`urn:carebridge-test:mrn|${value}`)}&_summary=count`)).body.total).toBe(1);
  });
  it('conditional update matching nothing, with the id of another resource in the body, answers 409 and leaves it alone', async () => {
    const other = await createPatient();
    const url = `Patient?identifier=${encodeURIComponent(`urn:carebridge-test:mrn|${randomUUID()}`)}`;
    const response = await fhirFetch(server, url, { method: 'PUT', json: { ...patient({ active: false }), id: other.id } });
    expectOutcome(response, 409);
    expect((await fhirFetch<Patient>(server, `Patient/${other.id}`)).body).toEqual(other);
  });
});

describe('history', () => {
  it('reads _since as an instant in any UTC offset', async () => {
    const created = await createPatient();
    const lastUpdated = Date.parse(created.meta?.lastUpdated as string);
    // The same instants written in +05:00: one just before the write, one just after.
    const inPlusFive = (ms: number): string => `${new Date(ms + 5 * 3_600_000).toISOString().slice(0, 23)}+05:00`;
    const before = await fhirFetch<Bundle>(server, `Patient/${created.id}/_history?_since=${encodeURIComponent(inPlusFive(lastUpdated - 1))}`);
    const after = await fhirFetch<Bundle>(server, `Patient/${created.id}/_history?_since=${encodeURIComponent(inPlusFive(lastUpdated + 1))}`);
    expect(before.body.entry).toHaveLength(1);
    expect(after.body.entry ?? []).toHaveLength(0);
    expect((await fhirFetch(server, 'Patient/_history?_since=yesterday')).status).toBe(400);
  });
});

describe('Prefer: return', () => {
  it('return=minimal answers with headers and an empty body', async () => {
    const response = await fhirFetch(server, 'Patient', { method: 'POST', json: patient(), headers: { prefer: 'return=minimal' } });
    expect(response.status).toBe(201);
    expect(response.text).toBe('');
    expect(response.headers.get('location')).toMatch(/\/fhir\/Patient\/[^/]+\/_history\/1$/);
  });

  it('return=OperationOutcome answers the outcome instead of the resource', async () => {
    const response = await fhirFetch<OperationOutcome>(server, 'Patient', { method: 'POST', json: patient(), headers: { prefer: 'return=OperationOutcome' } });
    expect(response.status).toBe(201);
    expect(response.body.resourceType).toBe('OperationOutcome');
    expect(response.body.issue?.[0]?.severity).toBe('information');
  });
});

describe('content negotiation', () => {
  it('_format=xml and Accept: application/fhir+xml answer 415', async () => {
    const created = await createPatient();
    expectOutcome(await fhirFetch(server, `Patient/${created.id}?_format=xml`), 415);
    expectOutcome(await fhirFetch(server, `Patient/${created.id}`, { headers: { accept: 'application/fhir+xml' } }), 415);
    expect((await fhirFetch(server, `Patient/${created.id}?_format=json`)).status).toBe(200);
  });

  it('a text/plain body answers 415', async () => {
    const response = await fhirFetch(server, 'Patient', { method: 'POST', body: JSON.stringify(patient()), headers: { 'content-type': 'text/plain' } });
    expectOutcome(response, 415);
  });
});

describe('bad requests', () => {
  it('malformed JSON answers 400', async () => {
    expectOutcome(await fhirFetch(server, 'Patient', { method: 'POST', body: '{"resourceType":"Patient",', headers: { 'content-type': 'application/fhir+json' } }), 400);
  });

  it('a body whose resourceType differs from the URL answers 400', async () => {
    const outcome = expectOutcome(await fhirFetch(server, 'Patient', { method: 'POST', json: { resourceType: 'Observation', status: 'final', code: { text: 'x' } } }), 400);
    expect(outcome.issue?.[0]?.expression).toEqual(['resourceType']);
  });

  it('a body whose id differs from the URL answers 400', async () => {
    const created = await createPatient();
    expectOutcome(await fhirFetch(server, `Patient/${created.id}`, { method: 'PUT', json: { ...created, id: randomUUID() } }), 400);
  });

  it('a well-formed resource that fails validation answers 422 and names the element', async () => {
    const response = await fhirFetch(server, 'Observation', { method: 'POST', json: { resourceType: 'Observation', status: 'bogus', code: { text: 'weight' } } });
    const outcome = expectOutcome(response, 422);
    expect(outcome.issue?.[0]?.expression).toEqual(['Observation.status']);
    expect((await fhirFetch(server, 'Observation?_summary=count')).body.total).toBe(0);
  });

  it('an unknown resource type answers 404', async () => {
    expectOutcome(await fhirFetch(server, 'Spaceship'), 404);
    expectOutcome(await fhirFetch(server, `Spaceship/${randomUUID()}`), 404);
    expectOutcome(await fhirFetch(server, 'Spaceship', { method: 'POST', json: { resourceType: 'Spaceship' } }), 404);
  });

  it('DELETE /fhir/metadata answers 405', async () => {
    expectOutcome(await fhirFetch(server, 'metadata', { method: 'DELETE' }), 405);
  });

  it('a body over 5 MB answers 413', async () => {
    const huge = patient({ name: [{ family: 'x'.repeat(5 * 1024 * 1024 + 1) }] });
    expectOutcome(await fhirFetch(server, 'Patient', { method: 'POST', json: huge }), 413);
  });
});

describe('GET /fhir/metadata', () => {
  it('lists every supported type with its interactions and search parameters', async () => {
    const response = await fhirFetch<CapabilityStatement>(server, 'metadata');
    expect(response.status).toBe(200);
    const all = response.body.rest?.[0]?.resource ?? [];
    expect(all.map((r) => r.type).sort()).toEqual([...RESOURCE_TYPES, ...DEFINITION_TYPES.map((d) => d.type)].sort());
    // The subscription topics (Basic) and the OperationDefinitions are read-only definitions; every stored type has every interaction.
    for (const definitions of DEFINITION_TYPES) {
      expect(all.find((r) => r.type === definitions.type)?.interaction?.map((i) => i.code)).toEqual(['read', 'search-type']);
    }
    const resources = all.filter((r) => !DEFINITION_TYPES.some((d) => d.type === r.type));
    for (const resource of resources) {
      expect(resource.interaction?.map((i) => i.code)).toEqual(expect.arrayContaining(['read', 'vread', 'create', 'update', 'delete', 'search-type', 'history-instance']));
      expect(resource.searchParam?.map((p) => p.name)).toEqual(searchParametersOf(resource.type as (typeof RESOURCE_TYPES)[number]).map((p) => p.name));
    }
    const carePlan = resources.find((r) => r.type === 'CarePlan');
    expect(carePlan?.searchParam?.map((p) => p.name)).toEqual(expect.arrayContaining(['patient', 'subject', 'care-team', 'status', 'date', '_id', '_lastUpdated']));
  });

  it('never lies: every advertised search parameter is accepted under Prefer: handling=strict', async () => {
    const capability = (await fhirFetch<CapabilityStatement>(server, 'metadata')).body;
    const sample: Record<string, string> = {
      token: 'urn:x|1',
      string: 'x',
      date: 'ge2020-01-01',
      reference: 'Patient/x',
      number: '1',
      quantity: '1',
      uri: 'http://example.org/x',
    };
    const refused: string[] = [];
    for (const resource of capability.rest?.[0]?.resource ?? []) {
      for (const param of resource.searchParam ?? []) {
        const value = sample[param.type] ?? 'x';
        const response = await fhirFetch(server, `${resource.type}?${encodeURIComponent(param.name)}=${encodeURIComponent(value)}`, { headers: { prefer: 'handling=strict' } });
        if (response.status !== 200) {
          refused.push(`GET ${resource.type}?${param.name}=${value} → ${response.status}`);
        }
      }
    }
    expect(refused).toEqual([]);
  });
});
