// fhir-kit-client (Vermonster's FHIR client, nobody here wrote it) against a real carebridge
// server over HTTP: create, read, search with paging, transaction, history.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, CapabilityStatement, Patient, Resource } from '@medplum/fhirtypes';
import { Client } from 'fhir-kit-client';
import type { FhirResource } from 'fhir-kit-client';
import { randomUUID } from 'node:crypto';
import { readJson } from '../support/fixtures.ts';
import type { TestServer } from './support/server.ts';
import { startSqliteServer } from './support/server.ts';

let server: TestServer;
let client: Client;

function patient(family: string): Patient {
  return { resourceType: 'Patient', name: [{ family }], identifier: [{ system: 'urn:carebridge-test:mrn', value: randomUUID() }] };
}

/** fhir-kit-client types resources as plain records; ours come from @medplum/fhirtypes. */
function body(resource: Resource): FhirResource {
  return resource as unknown as FhirResource;
}

async function as<T extends Resource>(response: Promise<FhirResource>): Promise<T> {
  return (await response) as unknown as T;
}

/** fhir-kit-client rejects with { response: { status, data } } on HTTP errors. */
async function statusOf(promise: Promise<unknown>): Promise<number | undefined> {
  return promise.then(
    () => 200,
    (err: { response?: { status?: number } }) => err.response?.status,
  );
}

beforeAll(async () => {
  server = await startSqliteServer();
  client = new Client({ baseUrl: server.fhir, bearerToken: server.token });
});

afterAll(async () => {
  await server.stop();
});

describe('fhir-kit-client against carebridge', () => {
  it('reads the CapabilityStatement', async () => {
    const capability = await as<CapabilityStatement>(client.capabilityStatement());
    expect(capability.fhirVersion).toBe('4.0.1');
    expect(capability.rest?.[0]?.resource?.map((r) => r.type)).toContain('CarePlan');
  });

  it('creates, reads, updates and vreads a Patient', async () => {
    const created = await as<Patient>(client.create({ resourceType: 'Patient', body: body(patient('Okafor')) }));
    expect(created.meta?.versionId).toBe('1');

    const read = await as<Patient>(client.read({ resourceType: 'Patient', id: created.id as string }));
    expect(read).toEqual(created);

    const updated = await as<Patient>(client.update({ resourceType: 'Patient', id: created.id as string, body: body({ ...read, active: true }) }));
    expect(updated.meta?.versionId).toBe('2');

    const first = await as<Patient>(client.vread({ resourceType: 'Patient', id: created.id as string, version: '1' }));
    expect(first.active).toBeUndefined();
  });

  it('searches with GET and POST _search, and pages with nextPage until there is none', async () => {
    const family = `Kit${randomUUID().slice(0, 8)}`;
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      ids.add((await as<Patient>(client.create({ resourceType: 'Patient', body: body(patient(family)) }))).id as string);
    }

    let page: Bundle | undefined = await as<Bundle>(client.search({ resourceType: 'Patient', searchParams: { family, _count: 2 } }));
    const seen: string[] = [];
    while (page) {
      seen.push(...(page.entry ?? []).map((e) => e.resource?.id as string));
      const next = client.nextPage({ bundle: body(page) as FhirResource & { link: { relation: string; url: string }[] } });
      page = next ? await as<Bundle>(next) : undefined;
    }
    expect(seen).toHaveLength(5);
    expect(new Set(seen)).toEqual(ids);

    const posted = await as<Bundle>(client.search({ resourceType: 'Patient', searchParams: { family }, options: { postSearch: true } }));
    expect(posted.entry?.map((e) => e.resource?.id).sort()).toEqual([...ids].sort());
  });

  it('posts a transaction Bundle and then finds what it wrote', async () => {
    const bundle = readJson('golden/heart-failure-home-health.bundle.json') as Bundle;
    const response = await as<Bundle>(client.transaction({ body: body(bundle) }));
    expect(response.type).toBe('transaction-response');
    expect(response.entry).toHaveLength(bundle.entry?.length as number);
    expect(response.entry?.every((e) => ['200', '201'].includes(e.response?.status as string))).toBe(true);

    const carePlanId = response.entry?.find((e) => e.resource?.resourceType === 'CarePlan')?.resource?.id as string;
    const found = await as<Bundle>(client.search({ resourceType: 'CarePlan', searchParams: { _id: carePlanId, _include: 'CarePlan:care-team' } }));
    expect(found.entry?.map((e) => `${e.search?.mode}:${e.resource?.resourceType}`).sort()).toEqual(['include:CareTeam', 'match:CarePlan']);
  });

  it('reads instance and type history, and a deleted resource answers 410', async () => {
    const created = await as<Patient>(client.create({ resourceType: 'Patient', body: body(patient('Haddad')) }));
    await client.update({ resourceType: 'Patient', id: created.id as string, body: body({ ...created, active: true }) });
    await client.delete({ resourceType: 'Patient', id: created.id as string });

    const history = await as<Bundle>(client.history({ resourceType: 'Patient', id: created.id as string }));
    expect(history.entry?.map((e) => e.request?.method)).toEqual(['DELETE', 'PUT', 'POST']);

    const typeHistory = await as<Bundle>(client.history({ resourceType: 'Patient' }));
    expect(typeHistory.entry?.filter((e) => e.fullUrl?.endsWith(`/Patient/${created.id}`))).toHaveLength(3);

    expect(await statusOf(client.read({ resourceType: 'Patient', id: created.id as string }))).toBe(410);
    expect(await statusOf(client.read({ resourceType: 'Patient', id: randomUUID() }))).toBe(404);
  });
});
