// The audit trail's behaviour against a real store, run by the SQLite suite and the PostgreSQL
// one (*.int.test.ts).
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { OperationOutcomeError, getStatus, parseSearchRequest } from '@medplum/core';
import type { AuditEvent } from '@medplum/fhirtypes';
import { auditEventFor } from '../../src/audit/audit-event.ts';
import { AuditTrail, recordInTransaction } from '../../src/audit/audit-trail.ts';
import { provenanceFor } from '../../src/audit/provenance.ts';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import { loadDefinitions } from '../../src/validation/definitions.ts';
import type { CountingStore } from './support.ts';
import { agencyPrincipal, countingStore } from './support.ts';

export interface StoreFactory {
  open: () => Promise<FhirStore>;
  dispose: (store: FhirStore) => Promise<void>;
}

const observer = { site: 'carebridge-test' };

function readEvent(i: number, clientId = 'sunrise-home-health'): AuditEvent {
  return auditEventFor({
    interaction: 'read',
    principal: agencyPrincipal({ clientId }),
    resourceType: 'Task',
    references: [`Task/t-${i}`],
    patients: [`Patient/p-${i % 7}`],
    status: 200,
    address: '10.0.0.8',
    requestId: `req-${i}`,
    recorded: new Date(),
    observer,
  });
}

async function total(store: FhirStore, query: string): Promise<number> {
  const result = await store.search({ ...parseSearchRequest(query), total: 'accurate', count: 0 });
  expect(result.ignored).toEqual([]);
  return result.total ?? -1;
}

export function describeAuditTrail(name: string, factory: StoreFactory): void {
  describe(`AuditTrail on ${name}`, () => {
    let inner: FhirStore;
    let counting: CountingStore;

    beforeAll(() => {
      loadDefinitions();
    });

    beforeEach(async () => {
      inner = await factory.open();
      counting = countingStore(inner);
    });

    afterEach(async () => {
      await factory.dispose(inner);
    });

    it('writes 500 concurrent events in far fewer transactions, all stored and searchable', async () => {
      const trail = new AuditTrail(counting.store, { maxBatch: 200 });
      await Promise.all(Array.from({ length: 500 }, (_, i) => trail.record(readEvent(i, i % 2 === 0 ? 'client-even' : 'client-odd'))));
      expect(counting.transactions()).toBeLessThanOrEqual(5);
      expect(trail.stats()).toMatchObject({ written: 500, pending: 0, transactions: counting.transactions() });
      expect(await total(inner, 'AuditEvent?altid=client-even')).toBe(250);
      expect(await total(inner, 'AuditEvent?entity=Task/t-17')).toBe(1);
      expect(await total(inner, 'AuditEvent?patient=Patient/p-3&subtype=read')).toBe(71);
      await trail.close();
    });

    it('groups events that arrive while a transaction runs into the next one (timer mode too)', async () => {
      const trail = new AuditTrail(counting.store, { maxBatch: 50, flushDelayMs: 2 });
      const first = Array.from({ length: 10 }, (_, i) => trail.record(readEvent(i)));
      await new Promise((resolve) => setTimeout(resolve, 0));
      const second = Array.from({ length: 120 }, (_, i) => trail.record(readEvent(100 + i)));
      await Promise.all([...first, ...second]);
      // 10 in the first flush, then 120 in batches of at most 50.
      expect(counting.transactions()).toBeLessThanOrEqual(4);
      expect(await total(inner, 'AuditEvent?altid=sunrise-home-health')).toBe(130);
      await trail.close();
    });

    it('rejects every pending record when the transaction fails, and recovers after', async () => {
      const trail = new AuditTrail(counting.store);
      counting.failTransactions(true);
      const results = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => trail.record(readEvent(i))));
      expect(results.every((r) => r.status === 'rejected' && (r.reason as Error).message === 'disk I/O error')).toBe(true);
      counting.failTransactions(false);
      await trail.record(readEvent(1000));
      expect(await total(inner, 'AuditEvent?altid=sunrise-home-health')).toBe(1);
      await trail.close();
    });

    it('rolls back the whole batch when one event cannot be written', async () => {
      const trail = new AuditTrail(counting.store);
      // JSON cannot hold a BigInt: the store throws while writing this event, mid-transaction.
      const bad = { ...readEvent(0), extension: [{ url: 'urn:x', valueInteger: 1n }] } as unknown as AuditEvent;
      const results = await Promise.allSettled([trail.record(readEvent(1)), trail.record(bad), trail.record(readEvent(2))]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect(await total(inner, 'AuditEvent?altid=sunrise-home-health')).toBe(0);
      await trail.close();
    });

    it('close() writes what is queued, then refuses new events', async () => {
      const trail = new AuditTrail(counting.store, { flushDelayMs: 50 });
      const pending = Array.from({ length: 30 }, (_, i) => trail.record(readEvent(i)));
      await trail.close();
      await Promise.all(pending);
      expect(await total(inner, 'AuditEvent?altid=sunrise-home-health')).toBe(30);
      await expect(trail.record(readEvent(99))).rejects.toThrow('closed');
    });

    it('refuses with 429 beyond the pending limit instead of queueing without bound', async () => {
      const trail = new AuditTrail(counting.store, { maxBatch: 10, maxPending: 25 });
      const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => trail.record(readEvent(i))));
      const refused = results.filter((r) => r.status === 'rejected');
      expect(refused).toHaveLength(15);
      const reason = (refused[0] as PromiseRejectedResult).reason as unknown;
      expect(reason).toBeInstanceOf(OperationOutcomeError);
      expect(getStatus((reason as OperationOutcomeError).outcome)).toBe(429);
      expect(trail.stats()).toMatchObject({ written: 25, refused: 15 });
      await trail.close();
    });

    it('commits a write, its AuditEvent and its Provenance together, or none of them', async () => {
      const principal = agencyPrincipal();
      const write = async (fail: boolean): Promise<void> => {
        await inner.transaction(async (tx) => {
          const { version } = await tx.create({ resourceType: 'Task', status: 'requested', intent: 'order' });
          const target = `Task/${version.id}/_history/${version.versionId}`;
          await tx.create(provenanceFor({ principal, targets: [target], activity: 'CREATE', recorded: new Date(), sourceSystem: 'https://ehr.example/fhir' }));
          await recordInTransaction(tx, auditEventFor({ interaction: 'create', principal, resourceType: 'Task', references: [target], status: 201, recorded: new Date(), observer }));
          if (fail) {
            throw new Error('the write failed after auditing');
          }
        });
      };
      await write(false);
      await expect(write(true)).rejects.toThrow('after auditing');
      expect(await total(inner, 'Task?status=requested')).toBe(1);
      expect(await total(inner, 'Provenance?agent-type=author')).toBe(1);
      expect(await total(inner, 'AuditEvent?subtype=create')).toBe(1);
    });
  });
}
