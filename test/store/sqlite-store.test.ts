import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { MIGRATIONS } from '../../src/store/sql/schema.ts';
import { describeStoreContract } from './store-contract.ts';

const dirs = new Map<object, string>();

describeStoreContract('SQLite', {
  open: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'carebridge-sqlite-'));
    const store = await SqliteStore.open(join(dir, 'data', 'carebridge.db'));
    dirs.set(store, dir);
    return store;
  },
  dispose: async (store) => {
    await store.close();
    rmSync(dirs.get(store) as string, { recursive: true, force: true });
  },
});

describe('SQLite migrations', () => {
  it('run once: opening the same file again keeps the schema version and the data', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'carebridge-migrate-'));
    const path = join(dir, 'carebridge.db');
    const first = await SqliteStore.open(path);
    const { version } = await first.create({ resourceType: 'Organization', name: 'Riverside' });
    await first.close();
    const second = await SqliteStore.open(path);
    expect(await second.schemaVersion()).toBe(Math.max(...MIGRATIONS.map((m) => m.version)));
    expect((await second.read('Organization', version.id))?.resource).toMatchObject({ name: 'Riverside' });
    await second.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
