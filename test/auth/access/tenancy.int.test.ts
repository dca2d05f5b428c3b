import type { FhirStore } from '../../../src/store/fhir-store.ts';
import { PostgresStore } from '../../../src/store/postgres/postgres-store.ts';
import { loadDefinitions } from '../../../src/validation/definitions.ts';
import { DATABASE_URL, uniqueSchema } from '../../api/support/server.ts';
import { describeTenancy } from './tenancy-contract.ts';

const schemas = new Map<FhirStore, string>();

describeTenancy(
  'PostgreSQL',
  async () => {
    loadDefinitions();
    const schema = uniqueSchema('carebridge_tenancy');
    const store = await PostgresStore.open(DATABASE_URL, { schema });
    schemas.set(store, schema);
    return store;
  },
  async (store) => {
    await (store as PostgresStore).dropSchema(schemas.get(store) as string);
    await store.close();
  },
);
