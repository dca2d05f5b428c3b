// What every store adapter does for the sync jobs (SyncStore): sync-store.test.ts runs it on
// SQLite, sync-store.int.test.ts on PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseSearchRequest } from '@medplum/core';
import { randomUUID } from 'node:crypto';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import { PEER_RUN } from '../../src/store/sync-store.ts';
import type { StoreFactory } from './store-contract.ts';

/** See auth-store-contract.ts for `openAnother` and `concurrentAcrossStores`. */
export function describeSyncStoreContract(name: string, factory: StoreFactory, openAnother: (store: FhirStore) => Promise<FhirStore>, concurrentAcrossStores: boolean): void {
  describe(`${name} store, sync cursors, leases and poll status`, () => {
    let store: FhirStore;
    let other: FhirStore;

    beforeAll(async () => {
      store = await factory.open();
      other = await openAnother(store);
    });

    afterAll(async () => {
      await other.close();
      await factory.dispose(store);
    });

    it('has no cursor until one is written, and reads the one written last', async () => {
      const peer = `ehr-${randomUUID()}`;
      expect(await store.readCursor(peer, 'Encounter?status=finished')).toBeUndefined();
      await store.transaction((tx) => tx.writeCursor(peer, 'Encounter?status=finished', '2026-11-20T10:00:00.000Z'));
      await store.transaction((tx) => tx.writeCursor(peer, 'Encounter?status=finished', '2026-11-20T11:00:00+01:00'));
      expect(await store.readCursor(peer, 'Encounter?status=finished')).toBe('2026-11-20T11:00:00+01:00');
      expect(await other.readCursor(peer, 'Encounter?status=finished')).toBe('2026-11-20T11:00:00+01:00');
      expect(await store.readCursor(peer, 'Task?requester=x')).toBeUndefined();
    });

    it('never moves a cursor back (a slower, overlapping poll commits an older page later)', async () => {
      const peer = `ehr-${randomUUID()}`;
      await store.transaction((tx) => tx.writeCursor(peer, 'q', '2026-11-20T12:00:00Z'));
      await store.writeCursor(peer, 'q', '2026-11-20T11:59:59.999Z');
      expect(await store.readCursor(peer, 'q')).toBe('2026-11-20T12:00:00Z');
    });

    it('commits a page and its cursor together, or neither', async () => {
      const peer = `ehr-${randomUUID()}`;
      const system = `urn:test:${peer}`;
      await expect(
        store.transaction(async (tx) => {
          await tx.create({ resourceType: 'Organization', identifier: [{ system, value: '1' }], name: 'Riverside' });
          await tx.writeCursor(peer, 'q', '2026-11-20T10:00:00Z');
          throw new Error('crash before commit');
        }),
      ).rejects.toThrow('crash before commit');
      expect(await store.readCursor(peer, 'q')).toBeUndefined();
      expect((await store.search(parseSearchRequest(`Organization?identifier=${system}|1`))).resources).toHaveLength(0);
      await store.transaction(async (tx) => {
        await tx.create({ resourceType: 'Organization', identifier: [{ system, value: '1' }], name: 'Riverside' });
        await tx.writeCursor(peer, 'q', '2026-11-20T10:00:00Z');
      });
      expect(await store.readCursor(peer, 'q')).toBe('2026-11-20T10:00:00Z');
      expect((await store.search(parseSearchRequest(`Organization?identifier=${system}|1`))).resources).toHaveLength(1);
    });

    it('gives a lease to one holder at a time, renews it for that holder, and frees it on release', async () => {
      const lease = `poll:${randomUUID()}`;
      expect(await store.claimLease(lease, 'instance-a', 60_000)).toBe(true);
      expect(await other.claimLease(lease, 'instance-b', 60_000)).toBe(false);
      expect(await store.claimLease(lease, 'instance-a', 60_000)).toBe(true);
      await other.releaseLease(lease, 'instance-b'); // not b's: nothing happens
      expect(await other.claimLease(lease, 'instance-b', 60_000)).toBe(false);
      await store.releaseLease(lease, 'instance-a');
      expect(await other.claimLease(lease, 'instance-b', 60_000)).toBe(true);
    });

    it('lets another holder take an expired lease', async () => {
      const lease = `poll:${randomUUID()}`;
      // 1 s, not a few ms: on a loaded machine (CI, two suites at once) b's first claim came after a 30 ms lease had expired.
      expect(await store.claimLease(lease, 'instance-a', 1_000)).toBe(true);
      expect(await other.claimLease(lease, 'instance-b', 60_000)).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expect(await other.claimLease(lease, 'instance-b', 60_000)).toBe(true);
      // a's renewal comes too late: b has it now.
      expect(await store.claimLease(lease, 'instance-a', 60_000)).toBe(false);
    });

    it('lets exactly one of many simultaneous claims of a free lease win', async () => {
      const lease = `poll:${randomUUID()}`;
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 && concurrentAcrossStores ? other : store).claimLease(lease, `instance-${i}`, 60_000)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('records poll runs: the last run, totals, the last success kept through a failure', async () => {
      const peer = `ehr-${randomUUID()}`;
      await store.recordPollRun(peer, 'Encounter?status=finished', { startedAt: '2026-11-20T10:00:00.000Z', finishedAt: '2026-11-20T10:00:02.000Z', ok: true, stored: 5, skipped: 1 });
      await store.transaction((tx) => tx.writeCursor(peer, 'Encounter?status=finished', '2026-11-20T09:59:00Z'));
      await store.recordPollRun(peer, 'Encounter?status=finished', { startedAt: '2026-11-20T10:15:00.000Z', finishedAt: '2026-11-20T10:15:01.000Z', ok: false, error: 'peer answered 503', stored: 2, skipped: 0 });
      await store.recordPollRun(peer, PEER_RUN, { startedAt: '2026-11-20T10:15:00.000Z', finishedAt: '2026-11-20T10:15:01.000Z', ok: false, error: 'peer answered 503', stored: 2, skipped: 0 });
      await store.transaction((tx) => tx.writeCursor(peer, 'Task?requester=x', '2026-11-20T09:00:00Z'));
      const status = await other.pollStatus(peer);
      expect(status).toEqual([
        { peer, queryKey: PEER_RUN, lastStartedAt: '2026-11-20T10:15:00.000Z', lastFinishedAt: '2026-11-20T10:15:01.000Z', lastErrorAt: '2026-11-20T10:15:01.000Z', lastError: 'peer answered 503', stored: 2, skipped: 0, totalStored: 2, totalSkipped: 0 },
        {
          peer,
          queryKey: 'Encounter?status=finished',
          cursor: '2026-11-20T09:59:00Z',
          lastStartedAt: '2026-11-20T10:15:00.000Z',
          lastFinishedAt: '2026-11-20T10:15:01.000Z',
          lastSuccessAt: '2026-11-20T10:00:00.000Z',
          lastErrorAt: '2026-11-20T10:15:01.000Z',
          lastError: 'peer answered 503',
          stored: 2,
          skipped: 0,
          totalStored: 7,
          totalSkipped: 1,
        },
        { peer, queryKey: 'Task?requester=x', cursor: '2026-11-20T09:00:00Z', stored: 0, skipped: 0, totalStored: 0, totalSkipped: 0 },
      ]);
      expect((await store.pollStatus()).filter((s) => s.peer === peer)).toHaveLength(3);
    });
  });
}
