// The outbox's retention on every store adapter: outbox-store.test.ts runs it on SQLite,
// outbox-store.int.test.ts on PostgreSQL. Each suite has a store of its own (pruning is global).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Resource } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import type { Delivery, DeliveryCounts, OutboxEntry, OutboxRouter } from '../../src/store/outbox.ts';
import { RETENTION_LEASE, RetentionJob, pruneOutbox } from '../../src/sync/outbox/retention-job.ts';
import type { PruneStore } from '../../src/sync/outbox/retention-job.ts';
import type { StoreFactory } from './store-contract.ts';

const DAY_MS = 24 * 3600_000;
const patient = (family: string): Resource => ({ resourceType: 'Patient', name: [{ family }] });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function everythingTo(destination: string): OutboxRouter {
  return {
    route: async (written, context) => {
      const entries: OutboxEntry[] = [];
      for (const version of written) {
        entries.push({ destination, patientId: await context.patientOf(version.resourceType, version.id), resourceType: version.resourceType, resourceId: version.id, versionId: version.versionId });
      }
      return entries;
    },
  };
}

function numberedTo(destination: string): OutboxRouter {
  return {
    route: async (written, context) => {
      const first = await context.nextEventNumbers(destination, written.length);
      return written.map((v, i) => ({ destination, patientId: '', resourceType: v.resourceType, resourceId: v.id, versionId: v.versionId, eventNumber: first + i }));
    },
  };
}

export function describeOutboxRetentionContract(name: string, factory: StoreFactory, openAnother: (store: FhirStore) => Promise<FhirStore>): void {
  describe(`${name} store, outbox retention`, () => {
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

    const rowsOf = (destination: string): Promise<Delivery[]> => store.listDeliveries({ destination, limit: 1000 });
    const countsOf = async (destination: string): Promise<DeliveryCounts | undefined> => (await store.countDeliveries()).find((c) => c.destination === destination);
    const claimed = async (destination: string): Promise<Delivery[]> => (await store.claimDeliveries('h1', { limit: 1000, leaseMs: 60_000 })).filter((d) => d.destination === destination);
    /** Claims and delivers, one at a time, everything of the destination that is due. */
    async function deliverAll(destination: string): Promise<void> {
      for (let batch = await claimed(destination); batch.length > 0; batch = await claimed(destination)) {
        for (const delivery of batch) {
          await store.settleDelivery('h1', delivery.id, { state: 'delivered', sentVersionId: delivery.versionId });
        }
      }
    }
    /** `n` new patients routed to `dest`, queued (and with `deliver`, delivered); the router off again. */
    async function write(dest: string, n: number, tag: string, deliver: boolean): Promise<void> {
      store.configure({ outboxRouter: everythingTo(dest) });
      for (let i = 0; i < n; i += 1) {
        await store.create(patient(`${tag}${i}`));
      }
      store.configure({ outboxRouter: undefined });
      if (deliver) {
        await deliverAll(dest);
      }
    }
    /** Earlier tests' settled rows gone, so a test's figures are its own. */
    const clean = (): Promise<unknown> => pruneOutbox(store, { settledBeforeMs: Date.now() + 1, keepEvents: 0, pauseMs: 0 });
    /** An instant strictly after everything settled so far, and before anything settled later. */
    async function cutOff(): Promise<number> {
      await sleep(5);
      const at = Date.now();
      await sleep(5);
      return at;
    }

    it('prunes delivered and superseded rows settled before the cut-off; pending and dead rows stay whatever their age, and the counts do not move', async () => {
      const dest = `peer-${randomUUID().slice(0, 8)}`;
      store.configure({ outboxRouter: everythingTo(dest) });
      const a = (await store.create(patient('A'))).version;
      await store.update({ ...(a.resource as Resource), name: [{ family: 'A2' }] } as Resource);
      await store.update({ ...(a.resource as Resource), name: [{ family: 'A3' }] } as Resource);
      const b = (await store.create(patient('B'))).version.id;
      const c = (await store.create(patient('C'))).version.id;
      const d = (await store.create(patient('D'))).version.id;
      const f = (await store.create(patient('F'))).version.id;
      const heads = await claimed(dest);
      expect(heads.map((h) => h.resourceId)).toEqual([a.id, b, c, d, f]);
      const head = (id: string): Delivery => heads.find((h) => h.resourceId === id) as Delivery;
      // A's first version goes out as version 3: versions 2 and 3 are superseded.
      await store.settleDelivery('h1', head(a.id).id, { state: 'delivered', sentVersionId: '3' });
      await store.settleDelivery('h1', head(b).id, { state: 'dead', error: 'peer answered 422', status: 422 });
      await store.settleDelivery('h1', head(c).id, { state: 'retry', nextAttemptMs: Date.now() + DAY_MS, error: 'peer answered 503', status: 503 });
      await store.settleDelivery('h1', head(d).id, { state: 'delivered', sentVersionId: '1' });
      const before = await countsOf(dest);
      expect(before).toMatchObject({ pending: 2, dead: 1, delivered: 2, superseded: 2 });
      const cut = await cutOff();
      // Created before the cut-off, settled after it: young by its settlement, so it stays.
      await store.settleDelivery('h1', head(f).id, { state: 'delivered', sentVersionId: '1' });
      // Created and settled after the cut-off.
      const e = (await store.create(patient('E'))).version.id;
      await deliverAll(dest);

      const result = await pruneOutbox(store, { settledBeforeMs: cut, keepEvents: 0, batchRows: 2, pauseMs: 0 });
      expect(result.deleted).toBe(4);
      expect(result.batches).toBeGreaterThan(1);
      expect((await rowsOf(dest)).map((r) => [r.resourceId, r.versionId, r.state])).toEqual([
        [b, '1', 'dead'],
        [c, '1', 'pending'],
        [f, '1', 'delivered'],
        [e, '1', 'delivered'],
      ]);
      const after = await countsOf(dest);
      expect(after).toMatchObject({ pending: 1, dead: 1, delivered: 4, superseded: 2 });
      const kept = await rowsOf(dest);
      expect(after?.oldestPendingMs).toBe(kept.find((r) => r.resourceId === c)?.createdMs);
      expect(after?.lastDeliveredMs).toBe(kept.find((r) => r.resourceId === e)?.doneMs);
      // Again: nothing more is old enough.
      expect((await pruneOutbox(store, { settledBeforeMs: cut, keepEvents: 0, pauseMs: 0 })).deleted).toBe(0);
      // An operator replays the dead one: it is sent as ever.
      expect(await store.replayDeliveries({ id: head(b).id })).toBe(1);
      await deliverAll(dest);
      expect(await countsOf(dest)).toMatchObject({ dead: 0, delivered: 5 });
    });

    it("keeps a Subscription's last keepEvents events for $events, and its stream's numbers and last delivery", async () => {
      await clean();
      const sub = `subscription/${randomUUID().slice(0, 8)}`;
      store.configure({ outboxRouter: numberedTo(sub) });
      for (let i = 0; i < 5; i += 1) {
        await store.create(patient(`N${i}`));
      }
      await deliverAll(sub);
      const lastDelivered = (await store.streamState(sub)).lastDeliveredMs;
      const cut = await cutOff();
      expect((await pruneOutbox(store, { settledBeforeMs: cut, keepEvents: 10, pauseMs: 0 })).deleted).toBe(0);
      expect((await pruneOutbox(store, { settledBeforeMs: cut, keepEvents: 2, pauseMs: 0 })).deleted).toBe(3);
      expect((await store.listDeliveries({ destination: sub, eventNumbers: { from: 1, to: 5 }, limit: 10 })).map((r) => r.eventNumber)).toEqual([4, 5]);
      expect(await store.streamState(sub)).toMatchObject({ lastEventNumber: 5, lastDeliveredMs: lastDelivered });
      expect(await countsOf(sub)).toMatchObject({ pending: 0, delivered: 5 });
      // Something delivered lately: no keep-alive, though its row is gone.
      expect(await store.claimKeepAlive(sub, (lastDelivered as number) - 1, Date.now())).toBe(false);
      // The next event is number 6.
      await store.create(patient('N5'));
      expect((await rowsOf(sub)).map((r) => r.eventNumber)).toEqual([4, 5, 6]);
      store.configure({ outboxRouter: undefined });
    });

    it('looks at `limit` rows per batch, and the next batch starts where it ended', async () => {
      const dest = `peer-${randomUUID().slice(0, 8)}`;
      await write(dest, 7, 'L', true);
      const cut = await cutOff();
      // Every earlier test's rows come first in id order; count this destination's batch by batch.
      const left = async (): Promise<number> => (await rowsOf(dest)).length;
      let afterId: number | undefined;
      const sizes: number[] = [];
      for (;;) {
        const before = await left();
        const batch = await store.pruneDeliveries({ settledBeforeMs: cut, keepEvents: 0, limit: 3, ...(afterId !== undefined ? { afterId } : {}) });
        expect(batch.deleted).toBeLessThanOrEqual(3);
        sizes.push(before - (await left()));
        if (batch.nextAfterId === undefined) {
          break;
        }
        expect(batch.nextAfterId).toBeGreaterThan(afterId ?? 0);
        afterId = batch.nextAfterId;
      }
      expect(await left()).toBe(0);
      expect(sizes.reduce((n, s) => n + s, 0)).toBe(7);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
      expect(await countsOf(dest)).toMatchObject({ pending: 0, dead: 0, delivered: 7 });
      // Rows created after the cut-off cannot have been settled before it: a run ends at the first.
      await write(dest, 4, 'Y', false);
      const [young] = await rowsOf(dest);
      expect(await store.pruneDeliveries({ settledBeforeMs: cut, keepEvents: 0, limit: 3, afterId: (young?.id as number) - 1 })).toEqual({ deleted: 0 });
    });

    it('runs on one instance at a time: the other is busy while the first prunes, then finds nothing left', async () => {
      const dest = `peer-${randomUUID().slice(0, 8)}`;
      await write(dest, 5, 'J', true);
      await sleep(5);
      // The first instance's store, with its first batch held until released: a run caught mid-way.
      let release!: () => void;
      let started!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const inBatch = new Promise<void>((resolve) => (started = resolve));
      const heldStore: PruneStore = {
        claimLease: (...args) => store.claimLease(...args),
        releaseLease: (...args) => store.releaseLease(...args),
        pruneDeliveries: async (options) => {
          started();
          await gate;
          return store.pruneDeliveries(options);
        },
      };
      // "Now" is a day ahead with a retention of one day: everything settled so far is old enough.
      const retention = { enabled: true, deliveredDays: 1, keepEvents: 0, schedule: '17 * * * *' };
      const now = (): number => Date.now() + DAY_MS;
      const first = new RetentionJob({ store: heldStore, retention, now, holder: 'instance-1', pauseMs: 0 });
      const second = new RetentionJob({ store: other, retention, now, holder: 'instance-2', pauseMs: 0 });
      const running = first.trigger();
      await inBatch;
      expect(await second.trigger()).toEqual({ outcome: 'busy' });
      release();
      const outcome = await running;
      expect(outcome.outcome).toBe('pruned');
      expect(outcome.outcome === 'pruned' && outcome.result.deleted).toBeGreaterThanOrEqual(5);
      expect(await rowsOf(dest)).toEqual([]);
      // The lease was given back: the other instance runs, and finds nothing to delete.
      expect(await second.trigger()).toEqual({ outcome: 'pruned', result: { deleted: 0, batches: 1, stopped: false } });
      expect(await other.claimLease(RETENTION_LEASE, 'instance-3', 1000)).toBe(true);
      await other.releaseLease(RETENTION_LEASE, 'instance-3');
      expect(await countsOf(dest)).toMatchObject({ delivered: 5 });
    });
  });
}
