// The poll scheduler on one instance (SQLite) against the simulated EHR: the minimum interval
// between runs, a failed run that does not count, overlapping triggers, a clean stop, and real
// cron triggers.
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { FhirStore } from '../../../src/store/fhir-store.ts';
import { PEER_RUN } from '../../../src/store/sync-store.ts';
import { PollScheduler } from '../../../src/sync/poller/poll-scheduler.ts';
import { loadDefinitions } from '../../../src/validation/definitions.ts';
import { startEhrServer } from './support/ehr-server.ts';
import type { EhrServer } from './support/ehr-server.ts';
import { at, disposeSqlite, ehrPeer, encounter, openSqlite, patient, peerIdsOf } from './support/poll-fixtures.ts';

let ehr: EhrServer;
let store: FhirStore;
let scheduler: PollScheduler | undefined;

beforeAll(() => {
  loadDefinitions();
});

beforeEach(async () => {
  ehr = await startEhrServer();
  store = await openSqlite();
  await ehr.seed(patient('p1'), at(0));
  for (let i = 1; i <= 5; i++) {
    await ehr.seed(encounter(`e${i}`, 'Patient/p1'), at(10 + i));
  }
});

afterEach(async () => {
  await scheduler?.stop();
  scheduler = undefined;
  await ehr.close();
  await disposeSqlite(store);
});

/** A clock the test sets; slots are the times the test triggers at. */
function clock(start: string): { now: () => Date; set: (iso: string) => void } {
  let current = new Date(start);
  return { now: () => current, set: (iso) => (current = new Date(iso)) };
}

describe('poll scheduler', () => {
  it('polls at most every minIntervalMinutes: a doubled or late trigger of the same slot does nothing', async () => {
    const time = clock('2026-11-21T10:00:00Z');
    scheduler = new PollScheduler({ store, peers: [ehrPeer(ehr.baseUrl)], now: time.now });
    expect((await scheduler.trigger('riverside-ehr', new Date('2026-11-21T10:00:00Z'))).outcome).toBe('polled');
    const requests = ehr.requests.length;
    expect((await scheduler.trigger('riverside-ehr', new Date('2026-11-21T10:00:00Z'))).outcome).toBe('too-soon');
    time.set('2026-11-21T10:14:59Z');
    expect((await scheduler.trigger('riverside-ehr')).outcome).toBe('too-soon');
    expect(ehr.requests.length).toBe(requests);
    // The interval counts from the run's slot, not its end: the next slot of */15 is never too soon.
    expect((await scheduler.trigger('riverside-ehr', new Date('2026-11-21T10:15:00Z'))).outcome).toBe('polled');
    const status = await scheduler.pollStatus();
    expect(status.find((s) => s.queryKey === PEER_RUN)).toMatchObject({ peer: 'riverside-ehr', lastSuccessAt: '2026-11-21T10:15:00.000Z' });
  });

  it('a failed run does not count: the next trigger polls again', async () => {
    const time = clock('2026-11-21T10:00:00Z');
    const down = ehrPeer('http://127.0.0.1:9/fhir');
    scheduler = new PollScheduler({ store, peers: [down], now: time.now });
    const first = await scheduler.trigger('riverside-ehr');
    expect(first).toMatchObject({ outcome: 'polled', result: { ok: false } });
    time.set('2026-11-21T10:01:00Z');
    expect((await scheduler.trigger('riverside-ehr')).outcome).toBe('polled');
  });

  it('runs one poll of a peer at a time on an instance', async () => {
    scheduler = new PollScheduler({ store, peers: [ehrPeer(ehr.baseUrl)] });
    ehr.delayMs = 50;
    const [a, b] = await Promise.all([scheduler.trigger('riverside-ehr'), scheduler.trigger('riverside-ehr')]);
    expect([a.outcome, b.outcome].sort()).toEqual(['busy', 'polled']);
  });

  it('stop() waits for a poll in flight, which ends after the page it is on', async () => {
    scheduler = new PollScheduler({ store, peers: [ehrPeer(ehr.baseUrl)] });
    ehr.delayMs = 200;
    const run = scheduler.trigger('riverside-ehr');
    while (ehr.requests.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    let finished = false;
    void run.then(() => (finished = true));
    await scheduler.stop();
    expect(finished).toBe(true);
    const { outcome, result } = await run;
    expect(outcome).toBe('polled');
    expect(result).toMatchObject({ ok: false, stopped: true, queries: [{ pages: 1 }] });
    expect(await peerIdsOf(store, ehr.baseUrl, 'Encounter')).toEqual(['e1', 'e2']);
    expect((await scheduler.trigger('riverside-ehr')).outcome).toBe('stopped');
    scheduler = undefined;
  });

  it('polls on the cron schedule, recording the trigger\'s slot as the run\'s start', async () => {
    const peer = ehrPeer(ehr.baseUrl, { schedule: '* * * * * *', minIntervalMinutes: 0 });
    scheduler = new PollScheduler({ store, peers: [peer, { ...ehrPeer(ehr.baseUrl), name: 'an-agency', kind: 'agency' }] });
    expect(scheduler.peerNames).toEqual(['riverside-ehr']);
    scheduler.start();
    let run: Awaited<ReturnType<FhirStore['pollStatus']>>[number] | undefined;
    for (let waited = 0; waited < 5000 && !run?.lastSuccessAt; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      run = (await store.pollStatus(peer.name)).find((s) => s.queryKey === PEER_RUN);
    }
    await scheduler.stop();
    scheduler = undefined;
    expect(run?.lastSuccessAt).toMatch(/:\d\d\.000Z$/);
    expect(await peerIdsOf(store, ehr.baseUrl, 'Encounter')).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
  });
});
