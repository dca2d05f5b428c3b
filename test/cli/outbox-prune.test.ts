// carebridge outbox prune on a SQLite file: deletes what the server's retention job would, under
// the same lease; the age from --older-than or the config file.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli.ts';
import { runOutboxPrune } from '../../src/cli/outbox-prune-command.ts';
import type { Io } from '../../src/cli/output.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { RETENTION_LEASE } from '../../src/sync/outbox/retention-job.ts';

const DAY_MS = 24 * 3600_000;
const dir = mkdtempSync(join(tmpdir(), 'carebridge-outbox-prune-'));
const file = join(dir, 'carebridge.db');
const env = { CAREBRIDGE_DATABASE: `sqlite:${file}` };

function capture(): Io & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (t) => lines.push(t), err: (t) => errors.push(t) };
}

/** Deliveries to sunrise written and settled `daysAgo` days ago: `delivered` of them delivered, one dead. */
async function seed(daysAgo: number, delivered: number): Promise<void> {
  const store = await SqliteStore.open(file, { now: () => new Date(Date.now() - daysAgo * DAY_MS) });
  store.configure({ outboxRouter: { route: async (written) => written.map((v) => ({ destination: 'sunrise', patientId: v.id, resourceType: v.resourceType, resourceId: v.id, versionId: v.versionId })) } });
  for (let i = 0; i <= delivered; i += 1) {
    await store.create({ resourceType: 'Patient', name: [{ family: `P${daysAgo}-${i}` }] });
  }
  const rows = await store.claimDeliveries('seed', { limit: 100, leaseMs: DAY_MS * 30 });
  for (const [i, row] of rows.entries()) {
    await store.settleDelivery('seed', row.id, i === 0 ? { state: 'dead', error: 'peer answered 422' } : { state: 'delivered', sentVersionId: row.versionId });
  }
  await store.close();
}

async function rows(): Promise<{ state: string; createdMs: number }[]> {
  const store = await SqliteStore.open(file);
  try {
    return await store.listDeliveries({ destination: 'sunrise', limit: 100 });
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  await seed(10, 3);
  await seed(3, 2);
  await seed(0, 1);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('carebridge outbox prune', () => {
  it('refuses an age that is not whole days, and options of the listing', async () => {
    for (const argv of [['outbox', 'prune', '--older-than', '0'], ['outbox', 'prune', '--older-than', '1.5'], ['outbox', 'prune', '--state', 'dead'], ['outbox', '--older-than', '3']]) {
      const io = capture();
      expect({ argv, exit: await main(argv, io) }).toEqual({ argv, exit: 2 });
    }
  });

  it('is busy while another instance holds the lease', async () => {
    const store = await SqliteStore.open(file);
    try {
      expect(await store.claimLease(RETENTION_LEASE, 'the-server', 60_000)).toBe(true);
      const io = capture();
      expect(await runOutboxPrune({ olderThan: '1' }, io, env)).toBe(1);
      expect(io.errors.join('\n')).toMatch(/Another instance is pruning/);
      expect(await rows()).toHaveLength(9);
    } finally {
      await store.releaseLease(RETENTION_LEASE, 'the-server');
      await store.close();
    }
  });

  it('deletes the delivered deliveries older than the config says, then than --older-than says; dead ones stay', async () => {
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ clients: [], outbox: { retention: { deliveredDays: 7 } } }));
    const fromConfig = capture();
    expect(await runOutboxPrune({ json: true }, fromConfig, { ...env, CAREBRIDGE_CONFIG: config })).toBe(0);
    expect(JSON.parse(fromConfig.lines[0] as string)).toEqual({ deleted: 3, batches: 1 });
    const text = capture();
    expect(await runOutboxPrune({ olderThan: '2' }, text, env)).toBe(0);
    expect(text.lines).toEqual(['Deleted 2 deliveries settled more than 2 days ago.']);
    const left = await rows();
    expect(left.map((r) => r.state)).toEqual(['dead', 'dead', 'dead', 'delivered']);
    const store = await SqliteStore.open(file);
    try {
      expect((await store.countDeliveries())[0]).toMatchObject({ destination: 'sunrise', pending: 0, dead: 3, delivered: 6 });
    } finally {
      await store.close();
    }
  });
});
