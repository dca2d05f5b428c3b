// The poller against faults a real server does not easily make (nock): a failure mid-run (the real
// EHR behind, nock answering one page), timeouts, bodies that are not JSON, answers to another
// question, links to another server, clocks in the future, pages without end.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Bundle, Encounter, Resource } from '@medplum/fhirtypes';
import type Nock from 'nock';
import type { FhirStore } from '../../../src/store/fhir-store.ts';
import { PEER_RUN } from '../../../src/store/sync-store.ts';
import { pollPeer } from '../../../src/sync/poller/ehr-poller.ts';
import { loadDefinitions } from '../../../src/validation/definitions.ts';
import { startEhrServer } from './support/ehr-server.ts';
import { NOW, at, copiesOf, copyOf, disposeSqlite, ehrPeer, encounter, openSqlite, patient, peerIdsOf } from './support/poll-fixtures.ts';

const ORIGIN = 'http://ehr.example.test';
const BASE = `${ORIGIN}/fhir`;
const QUERY = 'Encounter?status=finished';
const now = (): Date => NOW;

let nock: typeof Nock;
let store: FhirStore;

function searchset(resources: Resource[], extra: Partial<Bundle> = {}): Bundle {
  return { resourceType: 'Bundle', type: 'searchset', entry: resources.map((resource) => ({ resource, search: { mode: 'match' } })), ...extra };
}

function stamped<T extends Resource>(resource: T, lastUpdated: string): T {
  return { ...resource, meta: { versionId: '1', lastUpdated } };
}

beforeAll(async () => {
  loadDefinitions();
  nock = (await import('nock')).default;
});

beforeEach(async () => {
  store = await openSqlite();
});

afterEach(async () => {
  nock.cleanAll();
  await disposeSqlite(store);
});

afterAll(() => {
  nock.restore();
});

describe('EHR poller, a failure mid-run', () => {
  it('a peer failing on the third page keeps the pages before it; the next poll resumes there and ends with everything exactly once', async () => {
    const ehr = await startEhrServer();
    try {
      await ehr.seed(patient('p1'), at(0));
      for (let i = 1; i <= 10; i++) {
        await ehr.seed(encounter(`e${i}`, 'Patient/p1'), at(10 + i));
      }
      const peer = ehrPeer(ehr.baseUrl);
      // Page 1: e1, e2; page 2 (from e2's instant): e2, e3; page 3 (from e3's): 503.
      const origin = new URL(ehr.baseUrl).origin;
      nock(origin, { allowUnmocked: true })
        .get('/fhir/Encounter')
        .query((q) => q._lastUpdated === `ge${at(13)}`)
        .reply(503, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient' }] });
      const first = await pollPeer(peer, { store, now });
      expect(first.ok).toBe(false);
      expect(first.queries[0]).toMatchObject({ ok: false, pages: 2, cursor: at(13), error: `peer ${peer.name} answered 503 (retry)` });
      expect(await store.readCursor(peer.name, QUERY)).toBe(at(13));
      expect(await peerIdsOf(store, ehr.baseUrl, 'Encounter')).toEqual(['e1', 'e2', 'e3']);
      const status = await store.pollStatus(peer.name);
      expect(status.find((s) => s.queryKey === QUERY)).toMatchObject({ lastError: `peer ${peer.name} answered 503 (retry)`, stored: 4 });
      expect(status.find((s) => s.queryKey === PEER_RUN)?.lastSuccessAt).toBeUndefined();

      nock.cleanAll();
      const second = await pollPeer(peer, { store, now });
      expect(second.ok).toBe(true);
      expect(await peerIdsOf(store, ehr.baseUrl, 'Encounter')).toEqual(['e1', 'e10', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9']);
      expect(await peerIdsOf(store, ehr.baseUrl, 'Patient')).toEqual(['p1']);
      for (const copy of [...(await copiesOf(store, 'Encounter')), ...(await copiesOf(store, 'Patient'))]) {
        expect(copy.meta?.versionId).toBe('1');
      }
    } finally {
      await ehr.close();
    }
  });
});

describe('EHR poller, faults at the peer', () => {
  const peer = ehrPeer(BASE, { pageSize: 10 });
  const withTimeout = { ...peer, limits: { ...peer.limits, timeoutMs: 200 } };

  async function expectNothingStored(): Promise<void> {
    expect(await store.readCursor(peer.name, QUERY)).toBeUndefined();
    expect(await copiesOf(store, 'Encounter')).toEqual([]);
  }

  it('a peer that does not answer in time: the run ends with the error, nothing stored, no cursor', async () => {
    // An answer that comes too late (nock's own delay() trips undici over an aborted socket).
    const late = new Promise((resolve) => setTimeout(resolve, 500));
    nock(ORIGIN)
      .get(/\/fhir\/Encounter/)
      .reply(200, async () => {
        await late;
        return searchset([]);
      });
    const result = await pollPeer(withTimeout, { store, now });
    await late;
    expect(result.queries[0]).toMatchObject({ ok: false, error: `peer ${peer.name} did not answer in time (retry)` });
    await expectNothingStored();
  });

  it('a 5xx, a body that is not JSON, a body that is not a Bundle: refused, nothing stored', async () => {
    const cases: [() => void, RegExp][] = [
      [() => nock(ORIGIN).get(/\/fhir\/Encounter/).reply(500, 'oops'), /answered 500 \(retry\)/],
      [() => nock(ORIGIN).get(/\/fhir\/Encounter/).reply(200, '{"resourceType": "Bundle", "entry": [', { 'content-type': 'application/fhir+json' }), /not JSON \(retry\)/],
      [() => nock(ORIGIN).get(/\/fhir\/Encounter/).reply(200, { resourceType: 'OperationOutcome', issue: [] }), /^page refused: .*"OperationOutcome" instead of a Bundle/],
      [() => nock(ORIGIN).get(/\/fhir\/Encounter/).reply(200, { resourceType: 'Bundle', type: 'searchset', entry: 'x' }), /^page refused: .*entry is not a list/],
    ];
    for (const [reply, error] of cases) {
      reply();
      const result = await pollPeer(peer, { store, now });
      expect(result.queries[0]?.ok).toBe(false);
      expect(result.queries[0]?.error).toMatch(error);
      await expectNothingStored();
    }
  });

  it('a page with a resource of another type than asked is refused whole, without moving the cursor', async () => {
    nock(ORIGIN)
      .get(/\/fhir\/Encounter/)
      .reply(200, searchset([stamped(encounter('e1', 'https://elsewhere.example/fhir/Patient/x'), at(1)), stamped(patient('p1'), at(2))]));
    const result = await pollPeer(peer, { store, now });
    expect(result.queries[0]).toMatchObject({ ok: false, error: `page refused: the peer answered a search of Encounter with a "Patient" among its matches` });
    await expectNothingStored();
    expect((await store.pollStatus(peer.name)).find((s) => s.queryKey === QUERY)?.lastError).toMatch(/^page refused/);
  });

  it('a Bundle that is not a searchset is refused', async () => {
    nock(ORIGIN)
      .get(/\/fhir\/Encounter/)
      .reply(200, searchset([stamped(encounter('e1', 'https://elsewhere.example/fhir/Patient/x'), at(1))], { type: 'collection' }));
    const result = await pollPeer(peer, { store, now });
    expect(result.queries[0]?.error).toBe('page refused: the peer answered a search of Encounter with a Bundle of type "collection", not a searchset');
    await expectNothingStored();
  });

  it('a read of a referenced resource answered with another resource refuses the page', async () => {
    nock(ORIGIN).get(/\/fhir\/Encounter/).reply(200, searchset([stamped(encounter('e1', 'Patient/p1'), at(1))]));
    nock(ORIGIN).get('/fhir/Patient/p1').reply(200, patient('p2'));
    const result = await pollPeer(peer, { store, now });
    expect(result.queries[0]?.error).toMatch(/^page refused: the peer answered a read of Patient\/p1/);
    await expectNothingStored();
    expect(await copiesOf(store, 'Patient')).toEqual([]);
  });

  it('a referenced resource the peer no longer has: the reference stays on the peer', async () => {
    nock(ORIGIN).get(/\/fhir\/Encounter/).reply(200, searchset([stamped(encounter('e1', 'Patient/gone'), at(1))]));
    nock(ORIGIN).get('/fhir/Patient/gone').reply(404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
    const result = await pollPeer(peer, { store, now });
    expect(result.queries[0]).toMatchObject({ ok: true, stored: 1, unresolved: 1, cursor: at(1) });
    expect((await copyOf<Encounter>(store, BASE, 'Encounter', 'e1')).subject?.reference).toBe(`${BASE}/Patient/gone`);
  });

  it('never follows a next link to another server', async () => {
    // No lastUpdated on the page: the cursor cannot move, so only the peer's link would go on.
    nock(ORIGIN)
      .get(/\/fhir\/Encounter/)
      .reply(200, searchset([encounter('e1', 'https://elsewhere.example/fhir/Patient/x')], { link: [{ relation: 'next', url: 'https://attacker.example/fhir/Encounter?page=2' }] }));
    const result = await pollPeer({ ...peer, pull: { ...peer.pull!, pageSize: 1 } }, { store, now });
    expect(result.queries[0]).toMatchObject({ ok: false, pages: 1, error: `peer ${peer.name} pointed at another server (rejected)` });
  });

  it('a lastUpdated in the future does not move the cursor past what the peer holds now', async () => {
    nock(ORIGIN)
      .get(/\/fhir\/Encounter/)
      .reply(200, searchset([stamped(encounter('e1', 'https://elsewhere.example/fhir/Patient/x'), at(5)), stamped(encounter('e2', 'https://elsewhere.example/fhir/Patient/x'), '2099-01-01T00:00:00Z')]));
    const result = await pollPeer(peer, { store, now });
    expect(result.queries[0]).toMatchObject({ ok: true, stored: 2, cursor: at(5) });
    expect(await store.readCursor(peer.name, QUERY)).toBe(at(5));
  });

  it('stops a peer that pages without end at the page limit; the next run goes on from the cursor', async () => {
    let n = 0;
    nock(ORIGIN)
      .get(/\/fhir\/Encounter/)
      .times(5)
      .reply(200, async () => {
        n += 1;
        return searchset([stamped(encounter(`e${n}`, 'https://elsewhere.example/fhir/Patient/x'), at(n))], { link: [{ relation: 'next', url: `${BASE}/Encounter?page=${n + 1}` }] });
      });
    const result = await pollPeer(peer, { store, now, limits: { maxPagesPerQuery: 3 } });
    expect(result.queries[0]).toMatchObject({ ok: true, pages: 3, cursor: at(3) });
    expect(await peerIdsOf(store, BASE, 'Encounter')).toEqual(['e1', 'e2', 'e3']);
  });
});
