// The poller against a real FHIR server on 127.0.0.1 (Medplum's router, support/ehr-server.ts),
// storing into SQLite: what a first and a later poll store, versions, references, paging at one
// instant, a run stopped between pages, overlapping polls, invalid resources, the health record,
// and admissions checked for readmissions by the same rule as every other write.
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { parseSearchRequest } from '@medplum/core';
import type { CarePlan, Encounter, Organization, Patient } from '@medplum/fhirtypes';
import { callerFor } from '../../../src/auth/access/policy.ts';
import type { Principal } from '../../../src/auth/principal.ts';
import { transitionCategory } from '../../../src/mapping/careplan.ts';
import type { FhirStore } from '../../../src/store/fhir-store.ts';
import { PEER_RUN } from '../../../src/store/sync-store.ts';
import { logRef, originSystem, pollPeer } from '../../../src/sync/poller/ehr-poller.ts';
import { peerPrincipal } from '../../../src/sync/poller/peer-caller.ts';
import { loadDefinitions } from '../../../src/validation/definitions.ts';
import { readmissionsOf } from '../../../src/workflow/readmission.ts';
import { startEhrServer } from './support/ehr-server.ts';
import type { EhrServer } from './support/ehr-server.ts';
import { NOW, at, capturingLogger, copiesOf, copyOf, disposeSqlite, ehrPeer, encounter, openSqlite, organization, patient, peerIdsOf } from './support/poll-fixtures.ts';

let ehr: EhrServer;
let store: FhirStore;
const now = (): Date => NOW;

beforeAll(() => {
  loadDefinitions();
});

beforeEach(async () => {
  ehr = await startEhrServer();
  store = await openSqlite();
});

afterEach(async () => {
  await ehr.close();
  await disposeSqlite(store);
});

/** Three patients and five finished encounters, each a second apart. */
async function seedDischarges(): Promise<void> {
  for (const [i, id] of ['p1', 'p2', 'p3'].entries()) {
    await ehr.seed(patient(id), at(i));
  }
  for (let i = 1; i <= 5; i++) {
    await ehr.seed(encounter(`e${i}`, `Patient/p${((i - 1) % 3) + 1}`), at(10 + i));
  }
}

describe('EHR poller, first and later polls', () => {
  it('stores everything on a first poll: each encounter and, through its subject, its patient, once', async () => {
    await seedDischarges();
    const result = await pollPeer(ehrPeer(ehr.baseUrl), { store, now });
    expect(result).toMatchObject({ ok: true, stopped: false });
    expect(result.queries[0]).toMatchObject({ ok: true, stored: 8, skipped: 0, fetched: 3, cursor: at(15) });
    expect(await peerIdsOf(store, ehr.baseUrl, 'Encounter')).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
    expect(await peerIdsOf(store, ehr.baseUrl, 'Patient')).toEqual(['p1', 'p2', 'p3']);
    // The first page asks from 30 days back, with ge, sorted, in pages of pull.pageSize.
    expect(ehr.requests[0]).toBe(`Encounter?status=finished&_lastUpdated=ge${encodeURIComponent(new Date(NOW.getTime() - 30 * 24 * 3600_000).toISOString())}&_sort=_lastUpdated&_count=2`);
  });

  it('rewrites the peer\'s references to our copies: Encounter.subject names our Patient', async () => {
    await seedDischarges();
    await ehr.seed(encounter('e9', `${ehr.baseUrl}/Patient/p2`, { serviceProvider: { reference: 'https://elsewhere.example/fhir/Organization/o1' } }), at(30));
    await pollPeer(ehrPeer(ehr.baseUrl), { store, now });
    const ourPatient = await copyOf<Patient>(store, ehr.baseUrl, 'Patient', 'p2');
    const e2 = await copyOf<Encounter>(store, ehr.baseUrl, 'Encounter', 'e2');
    expect(e2.subject?.reference).toBe(`Patient/${ourPatient.id}`);
    expect(ourPatient.id).not.toBe('p2');
    // An absolute reference on the peer's base is the peer's too; one to another server stays as it is.
    const e9 = await copyOf<Encounter>(store, ehr.baseUrl, 'Encounter', 'e9');
    expect(e9.subject?.reference).toBe(`Patient/${ourPatient.id}`);
    expect(e9.serviceProvider?.reference).toBe('https://elsewhere.example/fhir/Organization/o1');
    // The copy keeps the EHR's own identifiers and gains the origin identifier; the EHR's id and version are not ours.
    expect(ourPatient.identifier).toEqual([{ system: 'urn:oid:2.16.840.1.113883.19.5', value: 'MRN-p2' }, { system: originSystem(ehr.baseUrl, 'Patient'), value: 'p2' }]);
    expect(ourPatient.meta?.versionId).toBe('1');
  });

  it('writes as the EHR\'s organization: its client sees the data, and each write has a Provenance naming the EHR', async () => {
    await seedDischarges();
    await pollPeer(ehrPeer(ehr.baseUrl), { store, now });
    const asRiverside = store.forCaller(callerFor(peerPrincipal(ehrPeer(ehr.baseUrl))));
    expect((await asRiverside.search(parseSearchRequest('Encounter?_count=100'))).resources).toHaveLength(5);
    const asOther = store.forCaller(callerFor({ ...peerPrincipal(ehrPeer(ehr.baseUrl)), organization: { system: 'urn:test', value: 'another-hospital' } }));
    expect((await asOther.search(parseSearchRequest('Encounter?_count=100'))).resources).toHaveLength(0);
    const e1 = await copyOf<Encounter>(store, ehr.baseUrl, 'Encounter', 'e1');
    const provenance = await store.search(parseSearchRequest(`Provenance?target=Encounter/${e1.id}`));
    expect(provenance.resources).toHaveLength(1);
    expect(JSON.stringify(provenance.resources[0])).toContain(ehr.baseUrl);
  });

  it('stores only what changed on a later poll, asking from the cursor; an update is a new version of the same resource', async () => {
    await seedDischarges();
    const peer = ehrPeer(ehr.baseUrl);
    await pollPeer(peer, { store, now });
    const firstE2 = await copyOf<Encounter>(store, ehr.baseUrl, 'Encounter', 'e2');
    ehr.requests.length = 0;
    await ehr.seed(encounter('e2', 'Patient/p2', { length: { value: 9, unit: 'd', system: 'http://unitsofmeasure.org', code: 'd' } }), at(40));
    await ehr.seed(encounter('e6', 'Patient/p3'), at(41));
    const result = await pollPeer(peer, { store, now });
    expect(ehr.requests[0]).toContain(`_lastUpdated=ge${encodeURIComponent(at(15))}`);
    // Each page starts at the newest instant read so far, so e5 (the cursor's), then e2, then e6
    // are read twice: the second time they are unchanged, and make no version.
    expect(result.queries[0]).toMatchObject({ ok: true, stored: 2, unchanged: 3, fetched: 0, cursor: at(41) });
    expect(await peerIdsOf(store, ehr.baseUrl, 'Encounter')).toEqual(['e1', 'e2', 'e3', 'e4', 'e5', 'e6']);
    const e2 = await copyOf<Encounter>(store, ehr.baseUrl, 'Encounter', 'e2');
    expect(e2.id).toBe(firstE2.id);
    expect(e2.meta?.versionId).toBe('2');
    expect(e2.length?.value).toBe(9);
    // A third poll with nothing new stores nothing.
    const third = await pollPeer(peer, { store, now });
    expect(third.queries[0]).toMatchObject({ stored: 0, skipped: 0 });
    expect((await store.history('Encounter', e2.id, { count: 10 })).map((v) => v.versionId)).toEqual(['2', '1']);
  });

  it('misses no resource updated in the cursor\'s own instant (ge, not gt)', async () => {
    await seedDischarges();
    const peer = ehrPeer(ehr.baseUrl);
    await pollPeer(peer, { store, now });
    // Written at the peer in the same millisecond as the last one read.
    await ehr.seed(encounter('e7', 'Patient/p1'), at(15));
    const result = await pollPeer(peer, { store, now });
    expect(result.queries[0]).toMatchObject({ stored: 1 });
    expect(await peerIdsOf(store, ehr.baseUrl, 'Encounter')).toEqual(['e1', 'e2', 'e3', 'e4', 'e5', 'e7']);
  });

  it('gets past more resources in one instant than a page holds, through the peer\'s next link', async () => {
    await ehr.seed(patient('p1'), at(0));
    for (const id of ['e1', 'e2', 'e3', 'e4', 'e5']) {
      await ehr.seed(encounter(id, 'Patient/p1'), at(20));
    }
    await ehr.seed(encounter('e6', 'Patient/p1'), at(21));
    const result = await pollPeer(ehrPeer(ehr.baseUrl), { store, now });
    expect(result.queries[0]).toMatchObject({ ok: true, cursor: at(21) });
    expect(await peerIdsOf(store, ehr.baseUrl, 'Encounter')).toEqual(['e1', 'e2', 'e3', 'e4', 'e5', 'e6']);
    expect(ehr.requests.some((r) => r.includes('_offset='))).toBe(true);
  });

  it('polls every query of the peer, each with its own cursor, and records their health and the run\'s', async () => {
    await seedDischarges();
    await ehr.seed(patient('p4'), at(50));
    const peer = ehrPeer(ehr.baseUrl, { queries: ['Encounter?status=finished', 'Patient?_count=500&gender=female'] });
    const result = await pollPeer(peer, { store, now, startedAt: new Date('2026-11-21T09:00:00Z') });
    expect(result.queries.map((q) => [q.queryKey, q.ok, q.cursor])).toEqual([
      ['Encounter?status=finished', true, at(15)],
      ['Patient?_count=500&gender=female', true, at(50)],
    ]);
    // The query's own _count gives way to pull.pageSize.
    expect(ehr.requests.filter((r) => r.startsWith('Patient?'))[0]).toMatch(/^Patient\?gender=female&_lastUpdated=ge.*&_count=2$/);
    expect(await peerIdsOf(store, ehr.baseUrl, 'Patient')).toEqual(['p1', 'p2', 'p3', 'p4']);
    const status = await store.pollStatus(peer.name);
    expect(status.map((s) => s.queryKey)).toEqual([PEER_RUN, 'Encounter?status=finished', 'Patient?_count=500&gender=female']);
    expect(status[0]).toMatchObject({ lastSuccessAt: '2026-11-21T09:00:00.000Z', stored: 9, skipped: 0 });
    expect(status[1]).toMatchObject({ cursor: at(15), lastSuccessAt: '2026-11-21T09:00:00.000Z', stored: 8, totalStored: 8 });
    expect(status[1]?.lastError).toBeUndefined();
  });

  it('records a query it cannot run and goes on with the others', async () => {
    await seedDischarges();
    const peer = ehrPeer(ehr.baseUrl, { queries: ['Medication?code=x', 'Encounter?status=finished'] });
    const result = await pollPeer(peer, { store, now });
    expect(result.ok).toBe(false);
    expect(result.queries.map((q) => [q.queryKey, q.ok, q.error])).toEqual([
      ['Medication?code=x', false, 'the pull query does not search a resource type carebridge stores'],
      ['Encounter?status=finished', true, undefined],
    ]);
    expect(await peerIdsOf(store, ehr.baseUrl, 'Encounter')).toHaveLength(5);
    expect(ehr.requests.some((r) => r.startsWith('Medication'))).toBe(false);
  });
});

describe('EHR poller, references', () => {
  it('follows references only so deep, and keeps the deeper ones pointing at the peer', async () => {
    await ehr.seed(organization('o3'), at(0));
    await ehr.seed(organization('o2', 'Organization/o3'), at(1));
    await ehr.seed(organization('o1', 'Organization/o2'), at(2));
    await ehr.seed({ ...patient('p1'), managingOrganization: { reference: 'Organization/o1' } }, at(3));
    await ehr.seed(encounter('e1', 'Patient/p1'), at(10));
    const result = await pollPeer(ehrPeer(ehr.baseUrl), { store, now, limits: { maxReferenceDepth: 2 } });
    expect(result.queries[0]).toMatchObject({ ok: true, fetched: 2, unresolved: 1 });
    const o1 = await copyOf<Organization>(store, ehr.baseUrl, 'Organization', 'o1');
    expect(o1.partOf?.reference).toBe(`${ehr.baseUrl}/Organization/o2`);
    expect((await copyOf<Patient>(store, ehr.baseUrl, 'Patient', 'p1')).managingOrganization?.reference).toBe(`Organization/${o1.id}`);
  });

  it('fetches at most its budget of referenced resources per page', async () => {
    await seedDischarges();
    const result = await pollPeer(ehrPeer(ehr.baseUrl, { pageSize: 5 }), { store, now, limits: { maxReferenceFetches: 1 } });
    // Page 1 (e1-e5) fetches p1 only: e2, e3 and e5 keep their subjects on the peer. Page 2 reads
    // e5 again (the cursor's instant) with a budget of its own, and resolves it.
    expect(result.queries[0]).toMatchObject({ ok: true, pages: 2, fetched: 2, unresolved: 3 });
    expect(ehr.requests.filter((r) => r.startsWith('Patient/'))).toEqual(['Patient/p1', 'Patient/p2']);
    expect((await copyOf<Encounter>(store, ehr.baseUrl, 'Encounter', 'e2')).subject?.reference).toBe(`${ehr.baseUrl}/Patient/p2`);
    expect((await copyOf<Encounter>(store, ehr.baseUrl, 'Encounter', 'e3')).subject?.reference).toBe(`${ehr.baseUrl}/Patient/p3`);
    const p2 = await copyOf<Patient>(store, ehr.baseUrl, 'Patient', 'p2');
    expect((await copyOf<Encounter>(store, ehr.baseUrl, 'Encounter', 'e5')).subject?.reference).toBe(`Patient/${p2.id}`);
  });

  it('stops at a cycle of references and stores both ends once', async () => {
    await ehr.seed({ ...patient('p1'), link: [{ other: { reference: 'Patient/p2' }, type: 'seealso' }] }, at(0));
    await ehr.seed({ ...patient('p2'), link: [{ other: { reference: 'Patient/p1' }, type: 'seealso' }] }, at(1));
    await ehr.seed(encounter('e1', 'Patient/p1'), at(10));
    const result = await pollPeer(ehrPeer(ehr.baseUrl), { store, now });
    expect(result.queries[0]).toMatchObject({ ok: true, stored: 3 });
    expect(await peerIdsOf(store, ehr.baseUrl, 'Patient')).toEqual(['p1', 'p2']);
    const p1 = await copyOf<Patient>(store, ehr.baseUrl, 'Patient', 'p1');
    const p2 = await copyOf<Patient>(store, ehr.baseUrl, 'Patient', 'p2');
    expect(p1.link?.[0]?.other.reference).toBe(`Patient/${p2.id}`);
    // p2 was stored while p1 was on its way in: its link back stays on the peer.
    expect(p2.link?.[0]?.other.reference).toBe(`${ehr.baseUrl}/Patient/p1`);
  });
});

describe('EHR poller, interruptions and overlaps', () => {
  it('stopped between pages, resumes from the last committed page and ends with everything exactly once', async () => {
    await ehr.seed(patient('p1'), at(0));
    for (let i = 1; i <= 10; i++) {
      await ehr.seed(encounter(`e${i}`, 'Patient/p1'), at(10 + i));
    }
    const peer = ehrPeer(ehr.baseUrl);
    const controller = new AbortController();
    let pages = 0;
    const first = await pollPeer(peer, {
      store,
      now,
      signal: controller.signal,
      afterPage: async () => {
        if (++pages === 2) {
          controller.abort(); // SIGTERM after the second page committed
        }
      },
    });
    expect(first).toMatchObject({ ok: false, stopped: true });
    // Page 1: e1, e2; page 2 (from e2's instant): e2 again, e3.
    expect(first.queries[0]).toMatchObject({ pages: 2, stored: 4, cursor: at(13) });
    expect(await store.readCursor(peer.name, 'Encounter?status=finished')).toBe(at(13));
    expect(await peerIdsOf(store, ehr.baseUrl, 'Encounter')).toEqual(['e1', 'e2', 'e3']);
    const second = await pollPeer(peer, { store, now });
    expect(second.ok).toBe(true);
    expect(await peerIdsOf(store, ehr.baseUrl, 'Encounter')).toEqual(['e1', 'e10', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9']);
    for (const copy of await copiesOf(store, 'Encounter')) {
      expect(copy.meta?.versionId).toBe('1');
    }
    expect((await store.pollStatus(peer.name)).find((s) => s.queryKey === PEER_RUN)).toMatchObject({ lastError: 'stopped before the end (carebridge was stopping)' });
  });

  it('two polls at once store each resource once', async () => {
    await seedDischarges();
    const peer = ehrPeer(ehr.baseUrl);
    const [a, b] = await Promise.all([pollPeer(peer, { store, now }), pollPeer(peer, { store, now })]);
    expect(a.ok && b.ok).toBe(true);
    expect(await peerIdsOf(store, ehr.baseUrl, 'Encounter')).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
    expect(await peerIdsOf(store, ehr.baseUrl, 'Patient')).toEqual(['p1', 'p2', 'p3']);
    for (const copy of [...(await copiesOf(store, 'Encounter')), ...(await copiesOf(store, 'Patient'))]) {
      expect(copy.meta?.versionId).toBe('1');
    }
  });
});

describe('EHR poller, untrusted resources', () => {
  it('skips and counts invalid resources, stores the rest of the page, and moves past them', async () => {
    await seedDischarges();
    await ehr.seed({ ...encounter('bad-class', 'Patient/p1'), class: undefined } as unknown as Encounter, at(12));
    await ehr.seed({ ...encounter('bad-shape', 'Patient/p1'), unknownElement: 'x' } as Encounter, at(13));
    // Its patient is invalid at the peer: the encounter is stored, its subject pointing at the peer.
    await ehr.seed(encounter('bad-patient', 'Patient/p9'), at(14));
    await ehr.seed({ ...patient('p9', 'Secretname'), birthDate: 'not-a-date' }, at(2));
    const { logger, lines } = capturingLogger();
    const peer = ehrPeer(ehr.baseUrl);
    const result = await pollPeer(peer, { store, now, logger });
    expect(result.queries[0]).toMatchObject({ ok: true, skipped: 2, cursor: at(15) });
    expect(await peerIdsOf(store, ehr.baseUrl, 'Encounter')).toEqual(['bad-patient', 'e1', 'e2', 'e3', 'e4', 'e5']);
    expect((await copyOf<Encounter>(store, ehr.baseUrl, 'Encounter', 'bad-patient')).subject?.reference).toBe(`${ehr.baseUrl}/Patient/p9`);
    const skips = lines().filter((l) => l.message === 'poll skipped a resource');
    expect(skips.map((l) => [l.resourceType, l.peerRef, l.reason])).toEqual([
      ['Encounter', logRef('bad-class'), 'invalid'],
      ['Encounter', logRef('bad-shape'), 'invalid'],
    ]);
    expect(skips[0]?.issues).toEqual([{ code: expect.any(String), expression: expect.stringContaining('Encounter.class') }]);
    const targets = lines().filter((l) => l.message === 'poll could not store a referenced resource');
    expect(new Set(targets.map((l) => `${l.resourceType}/${l.peerRef} ${l.reason}`))).toEqual(new Set([`Patient/${logRef('p9')} invalid`]));
    // Type, a digest of the peer's id (an EHR may use the MRN as an id), codes and paths: never a name, a birth date or an identifier's value.
    const logged = JSON.stringify(lines());
    expect(logged).not.toMatch(/Secretname|Nguyen|1948-03-02|MRN-|not-a-date/);
    expect((await store.pollStatus(peer.name)).find((s) => s.queryKey === 'Encounter?status=finished')).toMatchObject({ skipped: 2, totalSkipped: 2 });
    // Once the peer corrects it, its new lastUpdated brings it in.
    await ehr.seed(encounter('bad-class', 'Patient/p1'), at(60));
    const again = await pollPeer(peer, { store, now });
    expect(again.queries[0]).toMatchObject({ stored: 1, skipped: 0 });
    expect(await peerIdsOf(store, ehr.baseUrl, 'Encounter')).toContain('bad-class');
  });

  it('skips what the write path refuses, rolling the page back and storing the rest', async () => {
    await seedDischarges();
    // A referral Task the hospital (requester) may not create in this state.
    await ehr.seed(
      {
        resourceType: 'Task',
        id: 't1',
        status: 'completed',
        intent: 'order',
        for: { reference: 'Patient/p1' },
        code: { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'fulfill' }] },
        owner: { reference: 'Organization/o1' },
      } as never,
      at(20),
    );
    await ehr.seed(organization('o1'), at(0));
    await ehr.seed({ resourceType: 'Task', id: 't2', status: 'requested', intent: 'order', for: { reference: 'Patient/p2' } } as never, at(21));
    const { logger, lines } = capturingLogger();
    const result = await pollPeer(ehrPeer(ehr.baseUrl, { queries: ['Task'] }), { store, now, logger });
    expect(result.queries[0]).toMatchObject({ ok: true, skipped: 1, stored: 2 });
    expect(lines().filter((l) => l.message === 'poll skipped a resource').map((l) => [l.resourceType, l.peerRef, l.reason])).toEqual([['Task', logRef('t1'), 'refused']]);
    expect(await peerIdsOf(store, ehr.baseUrl, 'Task')).toEqual(['t2']);
    // The refused attempt's writes (t1's patient and owner) were rolled back with it.
    expect(await peerIdsOf(store, ehr.baseUrl, 'Patient')).toEqual(['p2']);
    expect(await copiesOf(store, 'Organization')).toEqual([]);
  });
});

/** A transition the hospital (or `writer`) pushed: its own Patient, keyed by the MRN the EHR uses too, discharged on `dischargedAt`. */
async function transition(mrn: string, dischargedAt: string, writer: Principal): Promise<string> {
  const as = store.forCaller(callerFor(writer));
  const own: Patient = { resourceType: 'Patient', identifier: [{ system: 'urn:oid:2.16.840.1.113883.19.5', value: mrn }], name: [{ family: 'Nguyen', given: ['Thi'] }] };
  const patientId = (await as.create(own)).version.id;
  const carePlan: CarePlan = { resourceType: 'CarePlan', status: 'active', intent: 'plan', category: [transitionCategory()], subject: { reference: `Patient/${patientId}` }, period: { start: dischargedAt } };
  return (await as.create(carePlan)).version.id;
}

const readmissions = async (carePlan: string): Promise<ReturnType<typeof readmissionsOf>> => readmissionsOf((await store.read('CarePlan', carePlan))?.resource as CarePlan);

// Admissions pulled from the EHR go through the same readmission rule as a pushed Encounter or an
// admit notification, though the EHR's copy of the patient is another Patient than the plan's
// (they share the MRN); another hospital's transition of the same MRN is not touched.
describe('admissions polled from the EHR', () => {
  it('an inpatient stay within 30 days of a discharge is recorded on that transition, though the EHR\'s patient copy is another Patient', async () => {
    const hospital = peerPrincipal(ehrPeer(ehr.baseUrl));
    const carePlan = await transition('MRN-p1', '2026-11-05T15:00:00Z', hospital);
    await ehr.seed(patient('p1'), at(0));
    await ehr.seed(encounter('e1', 'Patient/p1'), at(1)); // admitted 2026-11-10: 5 days after
    const result = await pollPeer(ehrPeer(ehr.baseUrl), { store, now });
    expect(result.ok).toBe(true);
    const copy = await copyOf<Encounter>(store, ehr.baseUrl, 'Encounter', 'e1');
    const transitionPatient = ((await store.read('CarePlan', carePlan))?.resource as CarePlan).subject?.reference;
    expect(copy.subject?.reference).not.toBe(transitionPatient);
    expect(await readmissions(carePlan)).toEqual([{ encounter: `Encounter/${copy.id}`, admittedOn: '2026-11-10', daysAfterDischarge: 5 }]);
  });

  it('polled again, the same admission is recorded once', async () => {
    const carePlan = await transition('MRN-p1', '2026-11-05T15:00:00Z', peerPrincipal(ehrPeer(ehr.baseUrl)));
    await ehr.seed(patient('p1'), at(0));
    await ehr.seed(encounter('e1', 'Patient/p1'), at(1));
    await pollPeer(ehrPeer(ehr.baseUrl), { store, now });
    const version = (await store.read('CarePlan', carePlan))?.versionId;
    await ehr.seed(encounter('e1', 'Patient/p1', { period: { start: '2026-11-10T08:00:00Z', end: '2026-11-19T17:00:00Z' } }), at(5));
    await pollPeer(ehrPeer(ehr.baseUrl), { store, now });
    expect(await readmissions(carePlan)).toHaveLength(1);
    expect((await store.read('CarePlan', carePlan))?.versionId).toBe(version);
  });

  it('an outpatient visit, a stay past the window, or another hospital\'s transition of the same MRN is not a readmission', async () => {
    const hospital = peerPrincipal(ehrPeer(ehr.baseUrl));
    const other: Principal = { ...hospital, clientId: 'other-hospital', organization: { system: 'urn:test', value: 'another-hospital' } };
    const tooEarly = await transition('MRN-p1', '2026-10-10T15:00:00Z', hospital); // 2026-11-10 is day 31
    const elsewhere = await transition('MRN-p2', '2026-11-05T15:00:00Z', other);
    const clinic = await transition('MRN-p3', '2026-11-05T15:00:00Z', hospital);
    for (const id of ['p1', 'p2', 'p3']) {
      await ehr.seed(patient(id), at(0));
    }
    await ehr.seed(encounter('e1', 'Patient/p1'), at(1));
    await ehr.seed(encounter('e2', 'Patient/p2'), at(2));
    await ehr.seed(encounter('e3', 'Patient/p3', { class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' } }), at(3));
    expect((await pollPeer(ehrPeer(ehr.baseUrl), { store, now })).ok).toBe(true);
    expect(await readmissions(tooEarly)).toEqual([]);
    expect(await readmissions(elsewhere)).toEqual([]);
    expect(await readmissions(clinic)).toEqual([]);
  });
});
