// MedplumClient from @medplum/core, used as any FHIR client would use it, against a real
// carebridge server over HTTP: what a standard client does must just work.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MedplumClient, OperationOutcomeError, normalizeErrorString } from '@medplum/core';
import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import { readJson } from '../support/fixtures.ts';
import type { TestServer } from './support/server.ts';
import { fhirFetch, startSqliteServer } from './support/server.ts';

const GOLDEN_TRANSACTION = 'golden/heart-failure-home-health.bundle.json';

let server: TestServer;
let medplum: MedplumClient;

function patient(family: string, identifierValue = randomUUID()): Patient {
  return { resourceType: 'Patient', name: [{ family, given: ['Ada'] }], identifier: [{ system: 'urn:carebridge-test:mrn', value: identifierValue }] };
}

/** How many resources of each type a search counts: "nothing new" means these do not move. */
async function countsByType(types: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const type of types) {
    const bundle = await medplum.search(type as 'Patient', { _summary: 'count' });
    out[type] = bundle.total as number;
  }
  return out;
}

beforeAll(async () => {
  server = await startSqliteServer();
  // No auth: carebridge's API is open here; cacheTime 0 so every read goes over HTTP.
  medplum = new MedplumClient({ baseUrl: `${server.url}/`, fhirUrlPath: 'fhir', fetch: (url, init) => fetch(url, init), cacheTime: 0 });
  medplum.setAccessToken(server.token);
});

afterAll(async () => {
  await server.stop();
});

describe('MedplumClient against carebridge', () => {
  it('creates, reads and updates a Patient, with versions the server assigns', async () => {
    const created = await medplum.createResource(patient('Okafor'));
    expect(created.id).toEqual(expect.any(String));
    expect(created.meta?.versionId).toBe('1');

    const read = await medplum.readResource('Patient', created.id as string);
    expect(read).toEqual(created);

    const updated = await medplum.updateResource({ ...read, active: true });
    expect(updated).toMatchObject({ id: created.id, active: true, meta: { versionId: '2' } });
    expect(await medplum.readResource('Patient', created.id as string)).toMatchObject({ active: true, meta: { versionId: '2' } });
  });

  it('searches with _count and follows next links until every match is seen', async () => {
    const family = `Paging${randomUUID().slice(0, 8)}`;
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      ids.add((await medplum.createResource(patient(family))).id as string);
    }

    const first = await medplum.search('Patient', { family, _count: 2 });
    expect(first.entry).toHaveLength(2);
    expect(first.link?.find((l) => l.relation === 'next')?.url).toContain('_count=2');

    const seen: string[] = [];
    const pages: number[] = [];
    for await (const page of medplum.searchResourcePages('Patient', { family, _count: 2 })) {
      pages.push(page.length);
      seen.push(...page.map((p) => p.id as string));
    }
    expect(pages).toEqual([2, 2, 1]);
    expect(new Set(seen)).toEqual(ids);
    expect(seen).toHaveLength(5);

    const all = await medplum.searchResources('Patient', `family=${family}`);
    expect(all.map((p) => p.id).sort()).toEqual([...ids].sort());
  });

  it('conditional create twice gives the same resource, not a second one', async () => {
    const mrn = randomUUID();
    const query = `identifier=urn:carebridge-test:mrn|${mrn}`;
    const first = await medplum.createResourceIfNoneExist(patient('Mensah', mrn), query);
    const second = await medplum.createResourceIfNoneExist(patient('Mensah', mrn), query);
    expect(second.id).toBe(first.id);
    expect(second.meta?.versionId).toBe('1');
    expect(await medplum.searchResources('Patient', query)).toHaveLength(1);
  });

  it('executes a mapped transaction Bundle, and the same Bundle again creates nothing new', async () => {
    const bundle = readJson(GOLDEN_TRANSACTION) as Bundle;
    const types = [...new Set((bundle.entry ?? []).map((e) => e.resource?.resourceType as string))];

    const first = await medplum.executeBatch(bundle);
    expect(first.type).toBe('transaction-response');
    expect(first.entry).toHaveLength(bundle.entry?.length as number);
    expect(first.entry?.every((e) => e.response?.status === '201' || e.response?.status === '200')).toBe(true);
    const afterFirst = await countsByType(types);
    // Every reference the server rewrote resolves: none points at an id that was never written.
    const references = new Set(JSON.stringify(first.entry?.map((e) => e.resource)).match(/"reference":"[A-Za-z]+\/[^"]+"/g) ?? []);
    expect(references.size).toBeGreaterThan(20);
    for (const match of references) {
      const reference = match.slice('"reference":"'.length, -1);
      expect(await medplum.readReference({ reference }).then((r) => `${r.resourceType}/${r.id}`, normalizeErrorString)).toBe(reference);
    }

    const second = await medplum.executeBatch(bundle);
    expect(second.entry?.map((e) => e.response?.status)).toEqual(second.entry?.map(() => '200'));
    // Every entry answers with the resource the first run wrote, at the same version.
    expect(second.entry?.map((e) => `${e.resource?.resourceType}/${e.resource?.id}/${e.resource?.meta?.versionId}`)).toEqual(
      first.entry?.map((e) => `${e.resource?.resourceType}/${e.resource?.id}/${e.resource?.meta?.versionId}`),
    );
    expect(await countsByType(types)).toEqual(afterFirst);

    // urn:uuid references were rewritten to the ids the server chose.
    const carePlan = second.entry?.find((e) => e.resource?.resourceType === 'CarePlan')?.resource;
    expect(JSON.stringify(carePlan)).not.toContain('urn:uuid:');
    const patientRef = (carePlan as { subject?: { reference?: string } }).subject?.reference as string;
    expect(await medplum.readReference({ reference: patientRef })).toMatchObject({ resourceType: 'Patient' });
  });

  it('reads a resource history, newest first', async () => {
    const created = await medplum.createResource(patient('Haddad'));
    await medplum.updateResource({ ...created, active: true });
    await medplum.updateResource({ ...created, active: false });

    const history = await medplum.readHistory('Patient', created.id as string);
    expect(history.type).toBe('history');
    expect(history.entry?.map((e) => e.resource?.meta?.versionId)).toEqual(['3', '2', '1']);
    expect(history.entry?.map((e) => (e.resource as Patient).active)).toEqual([false, true, undefined]);
  });

  it('deletes a resource; reading it afterwards fails with 410 Gone and history keeps it', async () => {
    const created = await medplum.createResource(patient('Novak'));
    await medplum.deleteResource('Patient', created.id as string);

    const error = await medplum.readResource('Patient', created.id as string).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(OperationOutcomeError);
    expect((error as OperationOutcomeError).outcome.id).toBe('gone');
    const raw = await fhirFetch(server, `Patient/${created.id}`);
    expect(raw.status).toBe(410);

    const history = await medplum.readHistory('Patient', created.id as string);
    expect(history.entry?.map((e) => e.request?.method)).toEqual(['DELETE', 'POST']);
  });

  it('runs $validate: all OK for a valid resource, errors with their path for an invalid one', async () => {
    const ok = await medplum.validateResource(patient('Valid'));
    expect(ok.issue?.some((i) => i.severity === 'error')).toBe(false);

    const invalid: Observation = { resourceType: 'Observation', status: 'bogus' as Observation['status'], code: { text: 'weight' } };
    const outcome = await medplum.validateResource(invalid);
    expect(outcome.issue).toEqual(expect.arrayContaining([expect.objectContaining({ severity: 'error', expression: ['Observation.status'] })]));
    // $validate writes nothing.
    expect((await medplum.search('Observation', { _summary: 'count' })).total).toBe(0);
  });

  it('surfaces a refused write as an OperationOutcomeError the client understands', async () => {
    const error = await medplum.createResource({ resourceType: 'Patient', gender: 'bogus' as Patient['gender'] }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(OperationOutcomeError);
    expect(normalizeErrorString(error)).toContain('Patient.gender');
  });
});
