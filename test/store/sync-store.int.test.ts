import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { DATABASE_URL, postgresStores } from '../support/postgres.ts';
import { describeSyncStoreContract } from './sync-store-contract.ts';

const stores = postgresStores('carebridge_sync');

describeSyncStoreContract(
  'PostgreSQL',
  stores,
  // A second instance on the same schema.
  (store) => PostgresStore.open(DATABASE_URL, { schema: stores.schemaOf(store) }),
  true,
);
