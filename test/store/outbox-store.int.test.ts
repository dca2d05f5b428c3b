import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { DATABASE_URL, postgresStores } from '../support/postgres.ts';
import { describeOutboxContract } from './outbox-contract.ts';
import { describeOutboxRetentionContract } from './outbox-retention-contract.ts';

const stores = postgresStores('carebridge_outbox');

describeOutboxContract(
  'PostgreSQL',
  stores,
  // A second instance on the same schema.
  (store) => PostgresStore.open(DATABASE_URL, { schema: stores.schemaOf(store) }),
  true,
);

describeOutboxRetentionContract('PostgreSQL', stores, (store) => PostgresStore.open(DATABASE_URL, { schema: stores.schemaOf(store) }));
