// PostgreSQL-backed stores for the *.int.test.ts suites: each in a schema of its own (DATABASE_URL,
// default the local server), dropped when the suite disposes of it.
import type { FhirStore } from '../../src/store/fhir-store.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface PostgresFactory {
  open: () => Promise<PostgresStore>;
  dispose: (store: FhirStore) => Promise<void>;
  /** The schema a store of this factory lives in (for a second instance on it). */
  schemaOf: (store: FhirStore) => string;
}

export function postgresStores(prefix: string): PostgresFactory {
  const schemas = new Map<FhirStore, string>();
  return {
    open: async () => {
      const schema = `${prefix}_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
      const store = await PostgresStore.open(DATABASE_URL, { schema });
      schemas.set(store, schema);
      return store;
    },
    dispose: async (store) => {
      await (store as PostgresStore).dropSchema(schemas.get(store) as string);
      await store.close();
    },
    schemaOf: (store) => schemas.get(store) as string,
  };
}
