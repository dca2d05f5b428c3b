import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { describeOutboxContract } from './outbox-contract.ts';

const files = new Map<FhirStore, string>();

describeOutboxContract(
  'SQLite',
  {
    open: async () => {
      const file = join(mkdtempSync(join(tmpdir(), 'carebridge-outbox-store-')), 'carebridge.db');
      const store = await SqliteStore.open(file);
      files.set(store, file);
      return store;
    },
    dispose: async (store) => {
      await store.close();
      rmSync(dirname(files.get(store) as string), { recursive: true, force: true });
    },
  },
  (store) => SqliteStore.open(files.get(store) as string),
  false,
);
