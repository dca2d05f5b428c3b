import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { describeSyncStoreContract } from './sync-store-contract.ts';

const files = new Map<FhirStore, string>();

describeSyncStoreContract(
  'SQLite',
  {
    open: async () => {
      const file = join(mkdtempSync(join(tmpdir(), 'carebridge-sync-store-')), 'carebridge.db');
      const store = await SqliteStore.open(file);
      files.set(store, file);
      return store;
    },
    dispose: async (store) => {
      await store.close();
      rmSync(dirname(files.get(store) as string), { recursive: true, force: true });
    },
  },
  // A second store on the same file (used one call at a time: in production it is another process).
  (store) => SqliteStore.open(files.get(store) as string),
  false,
);
