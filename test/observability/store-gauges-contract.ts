// The gauges read from a real store at scrape time: the outbox per destination (every Subscription
// as one), the TCM deadlines overdue or waiting for the sweep, the poller's lag.
// store-gauges.test.ts runs it on SQLite, store-gauges.int.test.ts on PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Resource, Task } from '@medplum/fhirtypes';
import { SYSTEMS } from '../../src/model/terminology.ts';
import { redact } from '../../src/log/logger.ts';
import type { Logger } from '../../src/log/logger.ts';
import { StoreGauges } from '../../src/observability/store-gauges.ts';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import type { OutboxEntry, OutboxRouter } from '../../src/store/outbox.ts';
import { PEER_RUN } from '../../src/store/sync-store.ts';
import { loadDefinitions } from '../../src/validation/definitions.ts';
import { sample } from './support/server.ts';

const NOW = Date.parse('2026-03-10T12:00:00Z');

export interface GaugeStoreFactory {
  open: () => Promise<FhirStore>;
  dispose: (store: FhirStore) => Promise<void>;
}

/** Every Patient written goes to each of `destinations`. */
function patientsTo(destinations: string[]): OutboxRouter {
  return {
    route: (written) =>
      Promise.resolve(written.filter((v) => v.resourceType === 'Patient').flatMap((v) => destinations.map((destination): OutboxEntry => ({ destination, patientId: v.id, resourceType: v.resourceType, resourceId: v.id, versionId: v.versionId })))),
  };
}

function deadline(kind: string, due: string, changes: Partial<Task> = {}): Task {
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'plan',
    code: { coding: [{ system: SYSTEMS.tcmDeadline, code: kind }] },
    for: { reference: 'Patient/p1' },
    restriction: { period: { start: '2026-03-01T10:00:00Z', end: due } },
    ...changes,
  };
}

const overdue: Task['businessStatus'] = { coding: [{ system: SYSTEMS.tcmDeadline, code: 'overdue' }] };

export function describeStoreGauges(name: string, stores: GaugeStoreFactory): void {
  describe(`StoreGauges on ${name}`, () => {
    let store: FhirStore;

    beforeAll(async () => {
      loadDefinitions();
      store = await stores.open();
    });

    afterAll(async () => {
      await stores.dispose(store);
    });

    it('the outbox per destination: pending, dead, the oldest waiting row\'s age; Subscriptions summed; configured peers at 0', async () => {
      store.configure({ outboxRouter: patientsTo(['charm-city', 'subscription/a1', 'subscription/b2']) });
      const written: Resource[] = [];
      for (const family of ['Okafor', 'Lindqvist', 'Moreau']) {
        written.push((await store.create({ resourceType: 'Patient', name: [{ family }] })).version.resource as Resource);
      }
      store.configure({ outboxRouter: undefined });
      // One row of charm-city given up on.
      const [claimed] = await store.claimDeliveries('test', { limit: 1, leaseMs: 60_000, exclude: ['subscription/a1', 'subscription/b2'] });
      expect(claimed?.destination).toBe('charm-city');
      expect(await store.settleDelivery('test', claimed?.id as number, { state: 'dead', error: 'refused' })).toBe(true);

      const oldest = Math.min(...(await store.listDeliveries({ state: 'pending', limit: 100 })).filter((d) => d.destination === 'charm-city').map((d) => d.createdMs));
      const gauges = new StoreGauges({ store, peers: ['charm-city', 'inner-harbor'], now: () => oldest + 90_000 });
      const text = await gauges.metrics();
      expect(sample(text, 'carebridge_store_up')).toBe(1);
      expect(sample(text, 'carebridge_outbox_pending{destination="charm-city"}')).toBe(2);
      expect(sample(text, 'carebridge_outbox_dead{destination="charm-city"}')).toBe(1);
      expect(sample(text, 'carebridge_outbox_oldest_pending_age_seconds{destination="charm-city"}')).toBe(90);
      expect(sample(text, 'carebridge_outbox_pending{destination="subscriptions"}')).toBe(6);
      expect(sample(text, 'carebridge_outbox_pending{destination="inner-harbor"}')).toBe(0);
      expect(sample(text, 'carebridge_outbox_dead{destination="inner-harbor"}')).toBe(0);
      expect(text).not.toContain('carebridge_outbox_oldest_pending_age_seconds{destination="inner-harbor"}');
      // Subscription ids are not labels.
      expect(text).not.toMatch(/a1|b2/);
      expect(written).toHaveLength(3);
    });

    it('TCM deadlines: marked overdue and still open; past due and not settled yet; nothing else', async () => {
      const past = '2026-03-05T23:59:59Z';
      const future = '2026-03-20T23:59:59Z';
      for (const task of [
        deadline('interactive-contact', past, { businessStatus: overdue }),
        deadline('face-to-face-visit', past, { businessStatus: overdue, status: 'in-progress' }),
        // Met late: completed, overdue too.
        deadline('medication-reconciliation', past, { businessStatus: overdue, status: 'completed' }),
        // Past due, the sweep has not seen them.
        deadline('interactive-contact', past),
        deadline('tcm-period-end', '2026-03-09T23:59:59Z'),
        // Not due yet; met in time.
        deadline('face-to-face-visit', future),
        deadline('interactive-contact', past, { status: 'completed' }),
      ]) {
        await store.create(task);
      }
      const text = await new StoreGauges({ store, now: () => NOW }).metrics();
      expect(sample(text, 'carebridge_tcm_deadlines_overdue')).toBe(2);
      expect(sample(text, 'carebridge_tcm_deadlines_past_due_unsettled')).toBe(2);
      // Later, the deadline due on the 20th is past due too.
      const later = await new StoreGauges({ store, now: () => Date.parse('2026-03-21T00:00:00Z') }).metrics();
      expect(sample(later, 'carebridge_tcm_deadlines_past_due_unsettled')).toBe(3);
    });

    it('poller lag per peer: seconds since its last successful run began; absent before a first success', async () => {
      const run = { finishedAt: '2026-03-10T11:50:05Z', stored: 1, skipped: 0 };
      await store.recordPollRun('mercy-ehr', PEER_RUN, { ...run, startedAt: '2026-03-10T11:50:00Z', ok: true });
      await store.recordPollRun('mercy-ehr', 'Encounter?status=finished', { ...run, startedAt: '2026-03-10T11:58:00Z', ok: true });
      // A later failure does not reset the lag: it is the time since the last success.
      await store.recordPollRun('mercy-ehr', PEER_RUN, { ...run, startedAt: '2026-03-10T11:55:00Z', ok: false, error: 'HTTP 503' });
      await store.recordPollRun('harbor-ehr', PEER_RUN, { ...run, startedAt: '2026-03-10T11:55:00Z', ok: false, error: 'HTTP 401' });
      const text = await new StoreGauges({ store, now: () => NOW }).metrics();
      expect(sample(text, 'carebridge_poller_lag_seconds{peer="mercy-ehr"}')).toBe(600);
      expect(text).not.toContain('harbor-ehr');
    });

    it('a scrape while the store is down: carebridge_store_up 0 and no store-backed sample; the next one recovers', async () => {
      let down = false;
      const flaky: Pick<FhirStore, 'countDeliveries' | 'pollStatus' | 'search'> = {
        // A database's message may quote row values: only the class and code may reach the log.
        countDeliveries: () => (down ? Promise.reject(Object.assign(new Error('duplicate key (mrn)=(MRN-4417) Okafor'), { code: '23505' })) : store.countDeliveries()),
        pollStatus: (peer) => store.pollStatus(peer),
        search: (request, options) => store.search(request, options),
      };
      const warnings: unknown[] = [];
      // What the real logger writes: its redaction of the fields.
      const logger = { warn: (message: string, meta: unknown) => warnings.push({ message, meta: redact(meta) }) } as unknown as Logger;
      const gauges = new StoreGauges({ store: flaky, now: () => NOW, logger });
      expect(sample(await gauges.metrics(), 'carebridge_tcm_deadlines_overdue')).toBe(2);
      down = true;
      const text = await gauges.metrics();
      expect(sample(text, 'carebridge_store_up')).toBe(0);
      expect(text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))).toEqual(['carebridge_store_up 0']);
      expect(warnings).toEqual([{ message: 'metrics could not read the store', meta: { error: expect.objectContaining({ name: 'Error', code: '23505' }) } }]);
      expect(JSON.stringify(warnings)).not.toMatch(/Okafor|MRN-4417/);
      down = false;
      expect(sample(await gauges.metrics(), 'carebridge_store_up')).toBe(1);
    });
  });
}
