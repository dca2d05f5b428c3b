import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { describeAuditTrail } from './trail-contract.ts';

const dirs = new Map<object, string>();

describeAuditTrail('SQLite', {
  open: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'carebridge-audit-'));
    const store = await SqliteStore.open(join(dir, 'carebridge.db'));
    dirs.set(store, dir);
    return store;
  },
  dispose: async (store) => {
    await store.close();
    rmSync(dirs.get(store) as string, { recursive: true, force: true });
  },
});
