// What every store adapter does for the outbox (OutboxStore and the router hook): outbox-store.test.ts
// runs it on SQLite, outbox-store.int.test.ts on PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Resource } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import type { Delivery, OutboxEntry, OutboxRouter } from '../../src/store/outbox.ts';
import type { StoreFactory } from './store-contract.ts';

const patient = (family: string): Resource => ({ resourceType: 'Patient', name: [{ family }] });
const observation = (patientId: string, value: number): Resource => ({
  resourceType: 'Observation',
  status: 'final',
  code: { text: 'weight' },
  subject: { reference: `Patient/${patientId}` },
  valueQuantity: { value, unit: 'kg' },
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Every write to each of `destinations`, ordered by the resource's patient. */
function everythingTo(destinations: string[]): OutboxRouter {
  return {
    route: async (written, context) => {
      const entries: OutboxEntry[] = [];
      for (const version of written) {
        const patientId = await context.patientOf(version.resourceType, version.id);
        entries.push(...destinations.map((destination) => ({ destination, patientId, resourceType: version.resourceType, resourceId: version.id, versionId: version.versionId })));
      }
      return entries;
    },
  };
}

/** Every write to `destination` as a numbered event (a subscription's stream: one ordering key). */
function numberedTo(destination: string): OutboxRouter {
  return {
    route: async (written, context) => {
      const first = await context.nextEventNumbers(destination, written.length);
      return written.map((v, i) => ({ destination, patientId: '', resourceType: v.resourceType, resourceId: v.id, versionId: v.versionId, eventNumber: first + i }));
    },
  };
}

export function describeOutboxContract(name: string, factory: StoreFactory, openAnother: (store: FhirStore) => Promise<FhirStore>, concurrentAcrossStores: boolean): void {
  describe(`${name} store, outbox`, () => {
    let store: FhirStore;
    let other: FhirStore;
    let destination: string;

    beforeAll(async () => {
      store = await factory.open();
      other = await openAnother(store);
    });

    afterAll(async () => {
      await other.close();
      await factory.dispose(store);
    });

    /** A fresh destination per test, so tests do not see each other's rows. */
    function route(...extra: string[]): string {
      destination = `peer-${randomUUID().slice(0, 8)}`;
      store.configure({ outboxRouter: everythingTo([destination, ...extra]) });
      return destination;
    }

    const pendingOf = async (dest: string): Promise<Delivery[]> => store.listDeliveries({ destination: dest, state: 'pending', limit: 1000 });
    const claimAll = (holder: string, db = store): Promise<Delivery[]> => db.claimDeliveries(holder, { limit: 1000, leaseMs: 60_000 });

    it('queues a row per destination in the transaction of the change, none for an unchanged write or a rolled-back one', async () => {
      const second = `peer-${randomUUID().slice(0, 8)}`;
      const dest = route(second);
      const { version } = await store.create(patient('Okafor'));
      expect((await pendingOf(dest)).map((d) => [d.resourceType, d.resourceId, d.versionId, d.patientId])).toEqual([['Patient', version.id, '1', version.id]]);
      expect(await pendingOf(second)).toHaveLength(1);
      await store.update({ ...(version.resource as Resource) });
      expect(await pendingOf(dest)).toHaveLength(1);
      await expect(
        store.transaction(async (tx) => {
          await tx.create(observation(version.id, 80));
          throw new Error('the planner cancelled');
        }),
      ).rejects.toThrow('the planner cancelled');
      expect(await pendingOf(dest)).toHaveLength(1);
      const [row] = await pendingOf(dest);
      expect(row?.eventId).toMatch(/^[0-9a-f-]{36}$/);
      expect(row?.eventId).not.toBe((await pendingOf(second))[0]?.eventId);
    });

    it('hands out only the oldest pending row of each patient and destination, in order', async () => {
      const dest = route();
      const a = (await store.create(patient('A'))).version.id;
      const b = (await store.create(patient('B'))).version.id;
      const first = (await store.create(observation(a, 80))).version;
      await store.create(observation(a, 81));
      const claimed = (await claimAll('h1')).filter((d) => d.destination === dest);
      expect(claimed.map((d) => d.resourceId)).toEqual([a, b]);
      // Another dispatcher gets nothing of these patients while their heads are out.
      expect((await claimAll('h2')).filter((d) => d.destination === dest)).toEqual([]);
      for (const delivery of claimed) {
        expect(await store.settleDelivery('h1', delivery.id, { state: 'delivered', sentVersionId: delivery.versionId })).toBe(true);
      }
      const next = (await claimAll('h2')).filter((d) => d.destination === dest);
      expect(next.map((d) => d.resourceId)).toEqual([first.id]);
      await store.settleDelivery('h2', next[0]?.id as number, { state: 'delivered', sentVersionId: '1' });
      expect((await claimAll('h2')).filter((d) => d.destination === dest)).toHaveLength(1);
    });

    it('supersedes the older queued versions of a resource once a newer one was sent', async () => {
      const dest = route();
      const { version } = await store.create(patient('C'));
      await store.update({ ...(version.resource as Resource), name: [{ family: 'C2' }] } as Resource);
      await store.update({ ...(version.resource as Resource), name: [{ family: 'C3' }] } as Resource);
      const [head] = (await claimAll('h1')).filter((d) => d.destination === dest);
      expect(head?.versionId).toBe('1');
      // The sender read the resource as it is now (version 3) and sent that.
      await store.settleDelivery('h1', head?.id as number, { state: 'delivered', sentVersionId: '3' });
      const rows = await store.listDeliveries({ destination: dest, limit: 10 });
      expect(rows.map((d) => [d.versionId, d.state])).toEqual([
        ['1', 'delivered'],
        ['2', 'superseded'],
        ['3', 'superseded'],
      ]);
    });

    it('retries later, keeps the patient waiting meanwhile, and dead-letters until replayed', async () => {
      const dest = route();
      const p = (await store.create(patient('D'))).version.id;
      await store.create(observation(p, 70));
      const [head] = (await claimAll('h1')).filter((d) => d.destination === dest);
      expect(await store.settleDelivery('h1', head?.id as number, { state: 'retry', nextAttemptMs: Date.now() + 60_000, error: 'peer answered 503', status: 503 })).toBe(true);
      expect((await claimAll('h1')).filter((d) => d.destination === dest)).toEqual([]);
      const [waiting] = await pendingOf(dest);
      expect(waiting).toMatchObject({ attempts: 1, lastError: 'peer answered 503', lastStatus: 503 });
      // An operator's "try now" for one delivery.
      expect(await store.replayDeliveries({ id: head?.id as number })).toBe(1);
      const [again] = (await claimAll('h1')).filter((d) => d.destination === dest);
      expect(again?.id).toBe(head?.id);
      await store.settleDelivery('h1', again?.id as number, { state: 'dead', error: 'retry window passed', status: 503 });
      // A dead row does not hold the patient's later changes back.
      const [later] = (await claimAll('h1')).filter((d) => d.destination === dest);
      expect(later?.resourceType).toBe('Observation');
      await store.settleDelivery('h1', later?.id as number, { state: 'delivered', sentVersionId: '1' });
      const counts = (await store.countDeliveries()).find((c) => c.destination === dest);
      expect(counts).toMatchObject({ pending: 0, dead: 1, delivered: 1, superseded: 0 });
      expect(await store.replayDeliveries({ destination: dest })).toBe(1);
      const [replayed] = (await claimAll('h1')).filter((d) => d.destination === dest);
      expect(replayed).toMatchObject({ id: head?.id, attempts: 0, state: 'pending' });
      expect(replayed?.windowStartMs).toBeGreaterThanOrEqual(head?.windowStartMs as number);
    });

    it('defers a blocked destination, and a lease that ran out goes to another holder', async () => {
      const dest = route();
      await store.create(patient('E'));
      expect(await store.deferDestination(dest, Date.now() + 60_000)).toBe(1);
      expect((await claimAll('h1')).filter((d) => d.destination === dest)).toEqual([]);
      // The peer is back: what waits is due now.
      expect(await store.resumeDestination(dest)).toBe(1);
      expect(await store.resumeDestination(dest)).toBe(0);
      await store.deferDestination(dest, Date.now() + 60_000);
      await store.replayDeliveries({ destination: dest });
      const [short] = (await store.claimDeliveries('h1', { limit: 1000, leaseMs: 30 })).filter((d) => d.destination === dest);
      expect(short).toBeDefined();
      await sleep(60);
      const [taken] = (await claimAll('h2')).filter((d) => d.destination === dest);
      expect(taken?.id).toBe(short?.id);
      // The first holder's late answer changes nothing: the row is h2's now.
      expect(await store.settleDelivery('h1', short?.id as number, { state: 'delivered', sentVersionId: '1' })).toBe(false);
      expect(await store.releaseLeases('h2')).toBeGreaterThanOrEqual(1);
      expect((await claimAll('h3')).filter((d) => d.destination === dest).map((d) => d.id)).toEqual([short?.id]);
    });

    it('excludes paused destinations from a claim, and pages the list', async () => {
      const dest = route();
      for (const family of ['F1', 'F2', 'F3']) {
        await store.create(patient(family));
      }
      const claimed = await store.claimDeliveries('h1', { limit: 1000, leaseMs: 60_000, exclude: [dest] });
      expect(claimed.filter((d) => d.destination === dest)).toEqual([]);
      const [page1] = await store.listDeliveries({ destination: dest, limit: 2 });
      const page2 = await store.listDeliveries({ destination: dest, limit: 2, afterId: (await store.listDeliveries({ destination: dest, limit: 2 }))[1]?.id });
      expect(page1).toBeDefined();
      expect(page2).toHaveLength(1);
    });

    it('numbers a stream without gaps, gives a rolled-back transaction\'s numbers back, and never supersedes a numbered row', async () => {
      const dest = `subscription/${randomUUID().slice(0, 8)}`;
      store.configure({ outboxRouter: numberedTo(dest) });
      const { version } = await store.create(patient('N'));
      await store.update({ ...(version.resource as Resource), name: [{ family: 'N2' }] } as Resource);
      await expect(
        store.transaction(async (tx) => {
          await tx.create(patient('rolled back'));
          throw new Error('no');
        }),
      ).rejects.toThrow('no');
      await store.transaction(async (tx) => {
        await tx.create(patient('A'));
        await tx.create(patient('B'));
      });
      const rows = await store.listDeliveries({ destination: dest, limit: 10 });
      expect(rows.map((d) => d.eventNumber)).toEqual([1, 2, 3, 4]);
      expect((await store.streamState(dest)).lastEventNumber).toBe(4);
      // Version 2 was sent with event 1's delivery: event 2 is still owed, as is everything after.
      const [head] = (await claimAll('h1')).filter((d) => d.destination === dest);
      expect(head?.eventNumber).toBe(1);
      await store.settleDelivery('h1', head?.id as number, { state: 'delivered', sentVersionId: '2' });
      expect((await pendingOf(dest)).map((d) => d.eventNumber)).toEqual([2, 3, 4]);
      expect((await store.listDeliveries({ destination: dest, eventNumbers: { from: 2, to: 3 }, limit: 10 })).map((d) => [d.eventNumber, d.resourceId])).toEqual([
        [2, version.id],
        [3, rows[2]?.resourceId],
      ]);
      const state = await store.streamState(dest);
      expect(state.lastDeliveredMs).toBeGreaterThan(0);
      expect((await store.streamState('subscription/none')).lastEventNumber).toBe(0);
    });

    it('numbers writes of two instances at once in commit order, without gaps', async () => {
      const dest = `subscription/${randomUUID().slice(0, 8)}`;
      store.configure({ outboxRouter: numberedTo(dest) });
      other.configure({ outboxRouter: numberedTo(dest) });
      const writer = async (db: FhirStore, tag: string): Promise<void> => {
        for (let i = 0; i < 10; i += 1) {
          await db.create(patient(`${tag}${i}`));
        }
      };
      await Promise.all([writer(store, 'S'), writer(concurrentAcrossStores ? other : store, 'O')]);
      const rows = await store.listDeliveries({ destination: dest, limit: 100 });
      // In outbox order (the order the dispatcher sends in) the numbers run 1..20.
      expect(rows.map((d) => d.eventNumber)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      other.configure({ outboxRouter: undefined });
    });

    it('grants a keep-alive once per quiet period, to one of several instances asking at once', async () => {
      const dest = `subscription/${randomUUID().slice(0, 8)}`;
      const now = Date.now();
      const answers = await Promise.all([store.claimKeepAlive(dest, now - 30_000, now), (concurrentAcrossStores ? other : store).claimKeepAlive(dest, now - 30_000, now)]);
      expect(answers.filter(Boolean)).toHaveLength(1);
      expect(await store.claimKeepAlive(dest, now - 30_000, now + 1000)).toBe(false);
      expect(await store.claimKeepAlive(dest, now + 31_000 - 30_000, now + 31_000)).toBe(true);
      expect((await store.streamState(dest)).lastKeepAliveMs).toBe(now + 31_000);
      // Something delivered since the quiet period began: no keep-alive.
      const numbered = `subscription/${randomUUID().slice(0, 8)}`;
      store.configure({ outboxRouter: numberedTo(numbered) });
      await store.create(patient('K'));
      const [row] = (await claimAll('h1')).filter((d) => d.destination === numbered);
      await store.settleDelivery('h1', row?.id as number, { state: 'delivered', sentVersionId: '1' });
      expect(await store.claimKeepAlive(numbered, Date.now() - 30_000, Date.now())).toBe(false);
    });

    it('never lets two dispatchers hold one row at the same time', async () => {
      const dest = route();
      for (let i = 0; i < 40; i += 1) {
        await store.create(patient(`G${i}`));
      }
      const seen = new Map<number, string>();
      const dispatcher = async (holder: string, db: FhirStore): Promise<void> => {
        for (let round = 0; round < 20; round += 1) {
          const claimed = (await db.claimDeliveries(holder, { limit: 5, leaseMs: 60_000 })).filter((d) => d.destination === dest);
          for (const delivery of claimed) {
            expect(seen.has(delivery.id)).toBe(false);
            seen.set(delivery.id, holder);
            expect(await db.settleDelivery(holder, delivery.id, { state: 'delivered', sentVersionId: delivery.versionId })).toBe(true);
          }
        }
      };
      if (concurrentAcrossStores) {
        await Promise.all([dispatcher('h1', store), dispatcher('h2', other), dispatcher('h3', store)]);
      } else {
        await Promise.all([dispatcher('h1', store), dispatcher('h2', store)]);
      }
      expect(seen.size).toBe(40);
      expect((await store.countDeliveries()).find((c) => c.destination === dest)).toMatchObject({ pending: 0, delivered: 40 });
    });
  });
}
