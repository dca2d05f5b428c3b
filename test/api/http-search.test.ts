// Search over real HTTP with plain fetch: lenient and strict handling, result parameters,
// POST _search, _include/_revinclude on a mapped transition, and paging that stays stable.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import { readJson } from '../support/fixtures.ts';
import type { TestServer } from './support/server.ts';
import { fhirFetch, startSqliteServer } from './support/server.ts';

let server: TestServer;

async function createPatients(family: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const response = await fhirFetch<Patient>(server, 'Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family, given: [`G${i}`] }], gender: 'female' } });
    expect(response.status).toBe(201);
    ids.push(response.body.id as string);
  }
  return ids;
}

function nextLink(bundle: Bundle): string | undefined {
  return bundle.link?.find((l) => l.relation === 'next')?.url;
}

/** GET an absolute link the server handed out. */
async function follow(url: string): Promise<Bundle> {
  expect(url.startsWith(`${server.fhir}/`)).toBe(true);
  const response = await fhirFetch(server, url.slice(server.fhir.length + 1));
  expect(response.status).toBe(200);
  return response.body;
}

function matchIds(bundle: Bundle): string[] {
  return (bundle.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource?.id as string);
}

beforeAll(async () => {
  server = await startSqliteServer();
});

afterAll(async () => {
  await server.stop();
});

describe('search parameters', () => {
  it('ignores an unknown parameter by default and says so in an outcome entry', async () => {
    const family = `Lenient${randomUUID().slice(0, 8)}`;
    const [id] = await createPatients(family, 1);
    const response = await fhirFetch(server, `Patient?family=${family}&shoe-size=42`);
    expect(response.status).toBe(200);
    expect(matchIds(response.body)).toEqual([id]);
    const outcome = response.body.entry?.find((e) => e.search?.mode === 'outcome')?.resource as OperationOutcome;
    expect(outcome.issue?.[0]).toMatchObject({ severity: 'warning', expression: ['shoe-size'] });
  });

  it('refuses an unknown parameter with 400 under Prefer: handling=strict', async () => {
    const response = await fhirFetch<OperationOutcome>(server, 'Patient?shoe-size=42', { headers: { prefer: 'handling=strict' } });
    expect(response.status).toBe(400);
    expect(response.body.issue?.[0]?.expression).toEqual(['shoe-size']);
  });

  it('refuses _sort outside the allow-list and _count out of range with 400', async () => {
    expect((await fhirFetch(server, 'Patient?_sort=gender')).status).toBe(400);
    expect((await fhirFetch(server, 'Patient?_sort=-_lastUpdated')).status).toBe(200);
    expect((await fhirFetch(server, 'Patient?_count=100000')).status).toBe(400);
    expect((await fhirFetch(server, 'Patient?_count=-1')).status).toBe(400);
  });

  it('_summary=count gives the total and no entries', async () => {
    const family = `Count${randomUUID().slice(0, 8)}`;
    await createPatients(family, 3);
    const response = await fhirFetch(server, `Patient?family=${family}&_summary=count`);
    expect(response.status).toBe(200);
    expect(response.body.total).toBe(3);
    expect(response.body.entry ?? []).toEqual([]);
  });

  it('_elements=id,name keeps those elements and tags the resource SUBSETTED', async () => {
    const family = `Elements${randomUUID().slice(0, 8)}`;
    const [id] = await createPatients(family, 1);
    const response = await fhirFetch(server, `Patient?family=${family}&_elements=id,name`);
    const resource = response.body.entry?.[0]?.resource as Patient;
    expect(resource).toMatchObject({ resourceType: 'Patient', id, name: [{ family }] });
    expect(resource.gender).toBeUndefined();
    expect(resource.meta?.tag).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'SUBSETTED' })]));
  });

  it('POST /Patient/_search with a form body answers as GET does', async () => {
    const family = `Form${randomUUID().slice(0, 8)}`;
    await createPatients(family, 2);
    const get = await fhirFetch(server, `Patient?family=${family}&_sort=_id`);
    const post = await fhirFetch(server, 'Patient/_search', { method: 'POST', body: `family=${family}&_sort=_id`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(post.status).toBe(200);
    expect(matchIds(post.body)).toHaveLength(2);
    expect(matchIds(post.body)).toEqual(matchIds(get.body));
  });
});

describe('paging', () => {
  it('follows next links through every match once, and a Patient created between pages appears once at the end', async () => {
    const family = `Paging${randomUUID().slice(0, 8)}`;
    const ids = await createPatients(family, 7);

    const seen: string[] = [];
    let page = (await fhirFetch(server, `Patient?family=${family}&_count=3`)).body;
    seen.push(...matchIds(page));
    const [late] = await createPatients(family, 1);
    const pageSizes = [matchIds(page).length];
    for (let url = nextLink(page); url; url = nextLink(page)) {
      page = await follow(url);
      pageSizes.push(matchIds(page).length);
      seen.push(...matchIds(page));
    }
    expect(pageSizes).toEqual([3, 3, 2]);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...ids, late]);
    // And back: previous links walk the same pages in reverse.
    const back: string[][] = [];
    for (let url = page.link?.find((l) => l.relation === 'previous')?.url; url; url = page.link?.find((l) => l.relation === 'previous')?.url) {
      page = await follow(url);
      back.push(matchIds(page));
    }
    expect(back).toEqual([seen.slice(3, 6), seen.slice(0, 3)]);
  });

  it('skips no match when resources are deleted between pages (a keyset, not an offset)', async () => {
    const family = `Shrink${randomUUID().slice(0, 8)}`;
    const ids = await createPatients(family, 6);
    const first = (await fhirFetch(server, `Patient?family=${family}&_count=2`)).body;
    // One already seen and one not yet seen go away.
    await fhirFetch(server, `Patient/${ids[0]}`, { method: 'DELETE' });
    await fhirFetch(server, `Patient/${ids[3]}`, { method: 'DELETE' });
    const seen = [...matchIds(first)];
    for (let page = first, url = nextLink(page); url; url = nextLink(page)) {
      page = await follow(url);
      seen.push(...matchIds(page));
    }
    expect(seen).toEqual(ids.filter((id) => id !== ids[3]));
  });
});

describe('_include and _revinclude on a mapped transition', () => {
  let carePlanId: string;
  let patientId: string;

  beforeAll(async () => {
    const response = await fhirFetch(server, '', { method: 'POST', json: readJson('golden/heart-failure-home-health.bundle.json') });
    expect(response.status).toBe(200);
    carePlanId = response.body.entry?.find((e) => e.resource?.resourceType === 'CarePlan')?.resource?.id as string;
    patientId = response.body.entry?.find((e) => e.resource?.resourceType === 'Patient')?.resource?.id as string;
  });

  it('CarePlan?patient=…&_include=CarePlan:care-team brings the CareTeam', async () => {
    const response = await fhirFetch(server, `CarePlan?patient=Patient/${patientId}&_include=CarePlan:care-team`);
    expect(response.status).toBe(200);
    expect(matchIds(response.body)).toEqual([carePlanId]);
    const included = (response.body.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => e.resource?.resourceType);
    expect(included).toEqual(['CareTeam']);
  });

  it('CarePlan?_revinclude=Task:based-on brings the caregiver tasks that point at the plan', async () => {
    const response = await fhirFetch(server, `CarePlan?_id=${carePlanId}&_revinclude=Task:based-on`);
    const tasks = (response.body.entry ?? []).filter((e) => e.search?.mode === 'include');
    expect(tasks.length).toBeGreaterThan(0);
    for (const entry of tasks) {
      expect(entry.resource?.resourceType).toBe('Task');
      expect(JSON.stringify((entry.resource as { basedOn?: unknown }).basedOn)).toContain(`CarePlan/${carePlanId}`);
    }
    const direct = await fhirFetch(server, `Task?based-on=CarePlan/${carePlanId}&_summary=count`);
    expect(direct.body.total).toBe(tasks.length);
  });

  it('chained search finds the plan by the patient identifier', async () => {
    const response = await fhirFetch(server, `CarePlan?subject:Patient.identifier=${encodeURIComponent('https://riverside-regional.example/fhir/sid/mrn|RRM00482913')}`);
    expect(matchIds(response.body)).toEqual([carePlanId]);
  });

  it('follows an untyped chain over every target type that has the parameter, never dropping it', async () => {
    const mrn = encodeURIComponent('https://riverside-regional.example/fhir/sid/mrn|RRM00482913');
    const untyped = await fhirFetch(server, `CarePlan?subject.identifier=${mrn}`);
    expect(matchIds(untyped.body)).toEqual([carePlanId]);
    expect(JSON.stringify(untyped.body)).not.toContain('was ignored');
    const nobody = await fhirFetch(server, `Task?owner.identifier=${encodeURIComponent('http://hl7.org/fhir/sid/us-npi|no-such-agency')}`);
    expect(matchIds(nobody.body)).toEqual([]);
    expect(JSON.stringify(nobody.body)).not.toContain('was ignored');
  });
});
