import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { describeAuthStoreContract } from './auth-store-contract.ts';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const schemas = new Map<object, string>();

describeAuthStoreContract(
  'PostgreSQL',
  {
    open: async () => {
      const schema = `carebridge_auth_${process.pid}_${Date.now()}`;
      const store = await PostgresStore.open(DATABASE_URL, { schema });
      schemas.set(store, schema);
      return store;
    },
    dispose: async (store) => {
      await (store as PostgresStore).dropSchema(schemas.get(store) as string);
      await store.close();
    },
  },
  // A second instance on the same schema.
  (store) => PostgresStore.open(DATABASE_URL, { schema: schemas.get(store) as string }),
  true,
);
