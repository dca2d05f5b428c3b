import { describe, expect, it } from '@jest/globals';
import { parseSearchRequest } from '@medplum/core';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { MIGRATIONS } from '../../src/store/sql/schema.ts';
import { describeConditionContract } from './condition-contract.ts';
import { describeStoreContract } from './store-contract.ts';
import type { StoreFactory } from './store-contract.ts';

const dirs = new Map<object, string>();

const sqliteStores: StoreFactory = {
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
};

describeStoreContract('SQLite', sqliteStores);
describeConditionContract('SQLite', sqliteStores);

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

describe('SQLite planner statistics', () => {
  it('keeps the row counts (sqlite_stat1) but not the per-value samples (sqlite_stat4) that make statements be prepared again for every new value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'carebridge-stat4-'));
    const path = join(dir, 'carebridge.db');
    const first = await SqliteStore.open(path);
    for (let i = 0; i < 50; i++) {
      await first.create({ resourceType: 'Organization', name: `Agency ${i}` });
    }
    await first.close();
    // Another tool analyzed the file meanwhile: the samples are back.
    const other = new Database(path);
    other.exec('ANALYZE');
    const tables = (db: Database.Database): string[] => (db.prepare("SELECT name FROM sqlite_schema WHERE name LIKE 'sqlite_stat%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    expect(tables(other)).toEqual(['sqlite_stat1', 'sqlite_stat4']);
    other.close();
    const second = await SqliteStore.open(path);
    await second.close();
    const check = new Database(path, { readonly: true });
    const rows = (table: string): number => (tables(check).includes(table) ? (check.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n : 0);
    expect(rows('sqlite_stat1')).toBeGreaterThan(0);
    expect(rows('sqlite_stat4')).toBe(0);
    check.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('SQLite reads beside a write transaction', () => {
  it('see only what is committed: not a group commit in progress, and all of it once committed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'carebridge-reads-'));
    const store = await SqliteStore.open(join(dir, 'carebridge.db'));
    try {
      const before = (await store.create({ resourceType: 'Organization', name: 'Before' })).version.id;
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      let written: string | undefined;
      // A write transaction that stays open (BEGIN done, a row written, no COMMIT yet).
      const writing = store.transaction(async (tx) => {
        written = (await tx.create({ resourceType: 'Organization', name: 'During' })).version.id;
        await held;
      });
      while (written === undefined) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      // The reads this process makes meanwhile (read, search, history) do not see it.
      expect(await store.read('Organization', written)).toBeUndefined();
      expect((await store.search(parseSearchRequest('Organization?name=During'))).resources).toEqual([]);
      expect((await store.read('Organization', before))?.resource).toMatchObject({ name: 'Before' });
      release();
      await writing;
      expect((await store.read('Organization', written))?.resource).toMatchObject({ name: 'During' });
      expect((await store.search(parseSearchRequest('Organization?name=During'))).resources.map((r) => r.id)).toEqual([written]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite write lock usage (carebridge_sqlite_write_lock_* metrics)', () => {
  it('counts the time a process holds the write lock, and the time it waits while another process holds it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'carebridge-lock-'));
    const path = join(dir, 'carebridge.db');
    const first = await SqliteStore.open(path);
    const second = await SqliteStore.open(path);
    try {
      const start = { first: first.writeLockUsage(), second: second.writeLockUsage() };
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      let inside = false;
      // The first "process" holds the lock (a write transaction left open) for at least 150 ms.
      const holding = first.transaction(async (tx) => {
        await tx.create({ resourceType: 'Organization', name: 'Holder' });
        inside = true;
        await held;
      });
      while (!inside) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      const waiting = second.create({ resourceType: 'Organization', name: 'Waiter' });
      await new Promise((resolve) => setTimeout(resolve, 150));
      // While it is held, the held time so far counts too (a scrape during a long transaction).
      expect(first.writeLockUsage().heldSeconds - start.first.heldSeconds).toBeGreaterThanOrEqual(0.14);
      release();
      await holding;
      await waiting;
      const end = { first: first.writeLockUsage(), second: second.writeLockUsage() };
      expect(end.first.transactions - start.first.transactions).toBe(1);
      expect(end.second.transactions - start.second.transactions).toBe(1);
      expect(end.first.heldSeconds - start.first.heldSeconds).toBeGreaterThanOrEqual(0.14);
      expect(end.second.waitedSeconds - start.second.waitedSeconds).toBeGreaterThanOrEqual(0.14);
      // The first never waited: nobody else held the lock when it asked.
      expect(end.first.waitedSeconds - start.first.waitedSeconds).toBeLessThan(0.05);
      // And once done, holding stops counting.
      const later = first.writeLockUsage().heldSeconds;
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(first.writeLockUsage().heldSeconds).toBe(later);
    } finally {
      await second.close();
      await first.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts a group commit of several writes as one transaction, and a failed one too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'carebridge-lock-'));
    const store = await SqliteStore.open(join(dir, 'carebridge.db'));
    try {
      const start = store.writeLockUsage();
      // Queued in one turn of the event loop: one group, one SQLite transaction.
      await Promise.all([1, 2, 3].map((n) => store.create({ resourceType: 'Organization', name: `Org ${n}` })));
      const grouped = store.writeLockUsage();
      expect(grouped.transactions - start.transactions).toBe(1);
      await expect(store.transaction(() => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
      expect(store.writeLockUsage().transactions - grouped.transactions).toBe(1);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
