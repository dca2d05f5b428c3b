// Migration 12 on a store that already has an outbox: its totals start from the rows there, so
// the counts read the same before and after the upgrade (and after pruning).
import { afterAll, describe, expect, it } from '@jest/globals';
import Database from 'better-sqlite3';
import type { Resource } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OUTBOX_TOTALS_MIGRATION } from '../../src/store/sql/outbox-retention-sql.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'carebridge-outbox-totals-'));
const file = join(dir, 'carebridge.db');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('outbox totals migration', () => {
  it('backfills delivered, superseded and the last delivery per destination from the rows an older store holds', async () => {
    const store = await SqliteStore.open(file);
    store.configure({
      outboxRouter: {
        route: async (written) => written.flatMap((v) => ['charm-city', 'riverside'].map((destination) => ({ destination, patientId: v.id, resourceType: v.resourceType, resourceId: v.id, versionId: v.versionId }))),
      },
    });
    const { version } = await store.create({ resourceType: 'Patient', name: [{ family: 'Okafor' }] });
    await store.update({ ...(version.resource as Resource), name: [{ family: 'Okafor-Reyes' }] } as Resource);
    await store.create({ resourceType: 'Patient', name: [{ family: 'Lindqvist' }] });
    const heads = await store.claimDeliveries('h1', { limit: 100, leaseMs: 60_000 });
    for (const head of heads) {
      const settlement = head.destination === 'riverside' && head.resourceId !== version.id ? { state: 'dead' as const, error: 'peer answered 422' } : { state: 'delivered' as const, sentVersionId: '2' };
      await store.settleDelivery('h1', head.id, settlement);
    }
    const before = await store.countDeliveries();
    expect(before).toEqual([
      expect.objectContaining({ destination: 'charm-city', pending: 0, dead: 0, delivered: 2, superseded: 1 }),
      expect.objectContaining({ destination: 'riverside', pending: 0, dead: 1, delivered: 1, superseded: 1 }),
    ]);
    await store.close();

    // The store as the version before left it: no totals table, no pending index by age.
    const db = new Database(file);
    db.exec(`DROP TABLE outbox_totals; DROP INDEX outbox_pending_created; DELETE FROM schema_migrations WHERE version = ${OUTBOX_TOTALS_MIGRATION.version};`);
    db.close();

    const upgraded = await SqliteStore.open(file);
    try {
      expect(upgraded.migration.applied.map((m) => m.version)).toEqual([OUTBOX_TOTALS_MIGRATION.version]);
      expect(await upgraded.countDeliveries()).toEqual(before);
    } finally {
      await upgraded.close();
    }
  });
});
