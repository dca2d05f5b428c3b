// Two carebridge instances on one PostgreSQL database dispatching the same outbox to one webhook
// receiver: every change arrives, none twice, each patient's changes in the order written, and
// both instances take part (FOR UPDATE SKIP LOCKED, leases).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Resource } from '@medplum/fhirtypes';
import { PassThrough } from 'node:stream';
import { withPeerDefaults } from '../../src/config/peers.ts';
import { createLogger } from '../../src/log/logger.ts';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import type { Delivery, DeliverySettlement, OutboxRouter } from '../../src/store/outbox.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { peerDeliverers, peerReads } from '../../src/sync/outbox/deliverers.ts';
import { Dispatcher } from '../../src/sync/outbox/dispatcher.ts';
import type { WebhookReceiver } from '../../src/sync/simulated/webhook-receiver.ts';
import { startWebhookReceiver } from '../../src/sync/simulated/webhook-receiver.ts';
import { DATABASE_URL, postgresStores } from '../support/postgres.ts';

const PATIENTS = 60;
const OBSERVATIONS = 4;
const stores = postgresStores('carebridge_two_dispatchers');
const logger = createLogger({ stream: new PassThrough(), level: 'error' });

const toHook: OutboxRouter = {
  route: async (written, context) =>
    Promise.all(written.map(async (v) => ({ destination: 'hook', patientId: await context.patientOf(v.resourceType, v.id), resourceType: v.resourceType, resourceId: v.id, versionId: v.versionId }))),
};

let first: FhirStore;
let second: FhirStore;
let receiver: WebhookReceiver;

beforeAll(async () => {
  first = await stores.open();
  second = await PostgresStore.open(DATABASE_URL, { schema: stores.schemaOf(first) });
  first.configure({ outboxRouter: toHook });
  receiver = await startWebhookReceiver();
});

afterAll(async () => {
  await receiver?.close();
  await second?.close();
  await stores.dispose(first);
});

function dispatcherOn(store: FhirStore, sent: number[]): Dispatcher {
  const peer = withPeerDefaults({ name: 'hook', kind: 'agency', organization: { system: 'urn:test', value: 'hook' }, webhookUrl: receiver.url, push: { resourceTypes: ['Patient', 'Observation'] } });
  const deliverers = peerDeliverers([peer], peerReads(store));
  const onSettled = (delivery: Delivery, settlement: DeliverySettlement): void => {
    if (settlement.state === 'delivered') {
      sent.push(delivery.id);
    }
  };
  return new Dispatcher({ store, logger, delivererFor: (d) => deliverers.get(d), idleMs: 10, maxInFlight: 8, onSettled });
}

describe('two instances dispatching one PostgreSQL outbox', () => {
  it('deliver every change once, in order per patient, both taking part', async () => {
    const written: { patient: string; ids: string[] }[] = [];
    for (let p = 0; p < PATIENTS; p += 1) {
      const patient = (await first.create({ resourceType: 'Patient', name: [{ family: `P${p}` }] } as Resource)).version.id;
      const ids = [patient];
      for (let o = 0; o < OBSERVATIONS; o += 1) {
        ids.push((await first.create({ resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: `Patient/${patient}` }, valueQuantity: { value: 80 + o } } as Resource)).version.id);
      }
      written.push({ patient, ids });
    }
    const sentByA: number[] = [];
    const sentByB: number[] = [];
    const a = dispatcherOn(first, sentByA);
    const b = dispatcherOn(second, sentByB);
    // Until nothing is pending: a send that failed (a keep-alive socket closed under it) is retried.
    await Promise.all([a.drain({ untilSettled: true }), b.drain({ untilSettled: true })]);
    const total = PATIENTS * (OBSERVATIONS + 1);
    const rows = await first.listDeliveries({ destination: 'hook', limit: 10_000 });
    expect(rows.filter((r) => r.state === 'delivered')).toHaveLength(total);
    // Once in effect: every change arrived; one arrived twice only if its first send failed and was retried.
    const firstArrivals = new Map<string, string>();
    for (const r of receiver.received) {
      const eventId = r.headers['x-carebridge-event-id'] as string;
      if (!firstArrivals.has(eventId)) {
        firstArrivals.set(eventId, ((r.body as { entry: { fullUrl: string }[] }).entry[0]?.fullUrl ?? '').split('/')[1] as string);
      }
    }
    expect(firstArrivals.size).toBe(total);
    const retried = new Set(rows.filter((r) => r.attempts > 1).map((r) => r.eventId));
    expect(receiver.received.length - total).toBeLessThanOrEqual(retried.size);
    const arrived = [...firstArrivals.values()];
    for (const { ids } of written) {
      expect(arrived.filter((id) => ids.includes(id))).toEqual(ids);
    }
    // Both instances took part, and no row was settled by both.
    expect(sentByA.length).toBeGreaterThan(0);
    expect(sentByB.length).toBeGreaterThan(0);
    // No row was delivered by both.
    expect(sentByA.filter((id) => sentByB.includes(id))).toEqual([]);
  });
});
