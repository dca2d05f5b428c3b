import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FhirStore } from '../../../src/store/fhir-store.ts';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../../../src/validation/definitions.ts';
import { describeTenancy } from './tenancy-contract.ts';

const dirs = new Map<FhirStore, string>();

describeTenancy(
  'SQLite',
  async () => {
    loadDefinitions();
    const dir = mkdtempSync(join(tmpdir(), 'carebridge-tenancy-'));
    const store = await SqliteStore.open(join(dir, 'carebridge.db'));
    dirs.set(store, dir);
    return store;
  },
  async (store) => {
    await store.close();
    rmSync(dirs.get(store) as string, { recursive: true, force: true });
  },
);
