// The outbox retention job as `carebridge serve` runs it: started by startSync where the
// background jobs run, on its cron schedule, with the config's retention; not started elsewhere.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PassThrough } from 'node:stream';
import type { OutboxRetentionConfig } from '../../src/config/outbox.ts';
import { createLogger } from '../../src/log/logger.ts';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import { startSync } from '../../src/sync/sync-service.ts';
import { sqliteStores } from '../support/sqlite.ts';

const DAY_MS = 24 * 3600_000;
const stores = sqliteStores('carebridge-retention-job');
const logger = createLogger({ stream: new PassThrough(), level: 'error' });

describe('the outbox retention job in the sync service', () => {
  let store: FhirStore;

  beforeAll(async () => {
    store = await stores.open();
  });

  afterAll(async () => {
    await stores.dispose(store);
  });

  /** `n` deliveries to a destination, delivered now. */
  async function delivered(destination: string, n: number): Promise<void> {
    store.configure({ outboxRouter: { route: async (written) => written.map((v) => ({ destination, patientId: v.id, resourceType: v.resourceType, resourceId: v.id, versionId: v.versionId })) } });
    for (let i = 0; i < n; i += 1) {
      await store.create({ resourceType: 'Patient', name: [{ family: `R${i}` }] });
    }
    store.configure({ outboxRouter: undefined });
    for (const row of await store.claimDeliveries('seed', { limit: 100, leaseMs: 60_000 })) {
      await store.settleDelivery('seed', row.id, { state: 'delivered', sentVersionId: row.versionId });
    }
  }

  /** The sync service of a process that runs the background jobs, its clock two days on. */
  const startJobs = (retention: OutboxRetentionConfig): ReturnType<typeof startSync> =>
    startSync({
      store,
      peers: [],
      logger,
      dispatch: true,
      fhirBaseUrl: 'http://127.0.0.1:1/fhir',
      heartbeatTickMs: 0,
      poll: false,
      sweepSchedule: false,
      outboxRetention: retention,
      dispatcher: { idleMs: 50, clock: () => Date.now() + 2 * DAY_MS },
    });

  it('prunes on its schedule in a process that runs the background jobs, with the configured age', async () => {
    await delivered('charm-city', 3);
    // Two days on, with a retention of one day: what was delivered now is old enough.
    const sync = await startJobs({ enabled: true, deliveredDays: 1, keepEvents: 0, schedule: '* * * * * *' });
    try {
      expect(sync.retention).toBeDefined();
      const deadline = Date.now() + 5000;
      while ((await store.listDeliveries({ destination: 'charm-city', limit: 10 })).length > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(await store.listDeliveries({ destination: 'charm-city', limit: 10 })).toEqual([]);
      expect((await store.countDeliveries()).find((c) => c.destination === 'charm-city')).toMatchObject({ pending: 0, dead: 0, delivered: 3 });
    } finally {
      await sync.stop();
    }
  });

  it('keeps everything when retention is off, and is not started where the background jobs do not run', async () => {
    await delivered('riverside', 2);
    const off = await startJobs({ enabled: false, deliveredDays: 1, keepEvents: 0, schedule: '* * * * * *' });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await off.stop();
    expect(await store.listDeliveries({ destination: 'riverside', limit: 10 })).toHaveLength(2);
    const requestsOnly = await startSync({ store, peers: [], logger, dispatch: false, fhirBaseUrl: 'http://127.0.0.1:1/fhir' });
    expect(requestsOnly.retention).toBeUndefined();
    await requestsOnly.stop();
  });
});
