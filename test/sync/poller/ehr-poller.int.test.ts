// Two carebridge instances on one PostgreSQL (two stores on one schema) and the simulated EHR:
// polls that overlap store each resource once; the schedulers' lease lets one of them poll a peer.
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { FhirStore } from '../../../src/store/fhir-store.ts';
import { PostgresStore } from '../../../src/store/postgres/postgres-store.ts';
import { pollPeer } from '../../../src/sync/poller/ehr-poller.ts';
import { PollScheduler } from '../../../src/sync/poller/poll-scheduler.ts';
import { loadDefinitions } from '../../../src/validation/definitions.ts';
import { DATABASE_URL, postgresStores } from '../../support/postgres.ts';
import { startEhrServer } from './support/ehr-server.ts';
import type { EhrServer } from './support/ehr-server.ts';
import { NOW, at, copiesOf, ehrPeer, encounter, patient, peerIdsOf } from './support/poll-fixtures.ts';

const stores = postgresStores('carebridge_poll');
let ehr: EhrServer;
let a: FhirStore;
let b: FhirStore;
const now = (): Date => NOW;

beforeAll(() => {
  loadDefinitions();
});

beforeEach(async () => {
  ehr = await startEhrServer();
  for (const [i, id] of ['p1', 'p2', 'p3'].entries()) {
    await ehr.seed(patient(id), at(i));
  }
  for (let i = 1; i <= 9; i++) {
    await ehr.seed(encounter(`e${i}`, `Patient/p${((i - 1) % 3) + 1}`), at(10 + i));
  }
  a = await stores.open();
  b = await PostgresStore.open(DATABASE_URL, { schema: stores.schemaOf(a) });
});

afterEach(async () => {
  await ehr.close();
  await b.close();
  await stores.dispose(a);
});

async function expectEachOnce(store: FhirStore): Promise<void> {
  expect(await peerIdsOf(store, ehr.baseUrl, 'Encounter')).toEqual(['e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9']);
  expect(await peerIdsOf(store, ehr.baseUrl, 'Patient')).toEqual(['p1', 'p2', 'p3']);
  for (const copy of [...(await copiesOf(store, 'Encounter')), ...(await copiesOf(store, 'Patient'))]) {
    expect(copy.meta?.versionId).toBe('1');
  }
}

describe('EHR poller on PostgreSQL', () => {
  it('two instances polling the same peer at once store each resource once', async () => {
    const peer = ehrPeer(ehr.baseUrl);
    const results = await Promise.all([pollPeer(peer, { store: a, now }), pollPeer(peer, { store: b, now }), pollPeer(peer, { store: a, now })]);
    expect(results.map((r) => r.ok)).toEqual([true, true, true]);
    await expectEachOnce(a);
    expect(await a.readCursor(peer.name, 'Encounter?status=finished')).toBe(at(19));
  });

  it('an update at the peer becomes one new version, whichever instance reads it first', async () => {
    const peer = ehrPeer(ehr.baseUrl);
    await pollPeer(peer, { store: a, now });
    await ehr.seed(encounter('e4', 'Patient/p1', { status: 'finished', length: { value: 3, unit: 'd', system: 'http://unitsofmeasure.org', code: 'd' } }), at(40));
    await Promise.all([pollPeer(peer, { store: a, now }), pollPeer(peer, { store: b, now })]);
    const e4 = (await copiesOf(b, 'Encounter')).filter((e) => JSON.stringify(e).includes('"e4"'));
    expect(e4).toHaveLength(1);
    expect(e4[0]?.meta?.versionId).toBe('2');
  });
});

describe('poll scheduler on PostgreSQL', () => {
  const slot = new Date('2026-11-21T10:00:00Z');

  it('two schedulers triggered for the same slot: one polls, the other does nothing', async () => {
    const peer = ehrPeer(ehr.baseUrl);
    const first = new PollScheduler({ store: a, peers: [peer], now, holder: 'instance-a' });
    const second = new PollScheduler({ store: b, peers: [peer], now, holder: 'instance-b' });
    ehr.delayMs = 20;
    const outcomes = await Promise.all([first.trigger(peer.name, slot), second.trigger(peer.name, slot)]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['busy', 'polled']);
    // Once the first is done, the other's late trigger of that slot finds the run too recent.
    const late = outcomes[0]?.outcome === 'polled' ? second : first;
    expect((await late.trigger(peer.name, slot)).outcome).toBe('too-soon');
    // Each page was asked once: one run.
    const firstPages = ehr.requests.filter((r) => r.startsWith('Encounter?'));
    expect(new Set(firstPages).size).toBe(firstPages.length);
    await expectEachOnce(a);
    // The next slot is polled by whichever instance gets there.
    expect((await late.trigger(peer.name, new Date(slot.getTime() + 15 * 60_000))).outcome).toBe('polled');
    await first.stop();
    await second.stop();
  });

  it('the lease of an instance that died mid-run holds the peer until it expires', async () => {
    const peer = ehrPeer(ehr.baseUrl);
    expect(await a.claimLease(`poll:${peer.name}`, 'instance-that-died', 200)).toBe(true);
    const survivor = new PollScheduler({ store: b, peers: [peer], now, holder: 'instance-b' });
    expect((await survivor.trigger(peer.name, slot)).outcome).toBe('busy');
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect((await survivor.trigger(peer.name, slot)).outcome).toBe('polled');
    await expectEachOnce(b);
    await survivor.stop();
  });
});
