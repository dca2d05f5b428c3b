// SQLite-backed stores for the store contract suites: each on a file in a temp folder of its own,
// removed when the suite disposes of it; `openAnother` opens a second store on the same file (used
// one call at a time: in production it is another process).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

export interface SqliteFactory {
  open: () => Promise<FhirStore>;
  dispose: (store: FhirStore) => Promise<void>;
  openAnother: (store: FhirStore) => Promise<FhirStore>;
}

export function sqliteStores(prefix: string): SqliteFactory {
  const files = new Map<FhirStore, string>();
  return {
    open: async () => {
      const file = join(mkdtempSync(join(tmpdir(), `${prefix}-`)), 'carebridge.db');
      const store = await SqliteStore.open(file);
      files.set(store, file);
      return store;
    },
    dispose: async (store) => {
      await store.close();
      rmSync(dirname(files.get(store) as string), { recursive: true, force: true });
    },
    openAnother: (store) => SqliteStore.open(files.get(store) as string),
  };
}
