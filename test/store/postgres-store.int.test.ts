// Runs the store contract against the real PostgreSQL (DATABASE_URL, default the local server),
// each run in its own schema, dropped at the end. jest.config.js leaves *.int.test.ts out, with a
// warning, where PostgreSQL is not reachable, except in CI (CI=true), where it must be.
import { describe, expect, it } from '@jest/globals';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { MIGRATIONS } from '../../src/store/sql/schema.ts';
import { DATABASE_URL, postgresStores } from '../support/postgres.ts';
import { describeConditionContract } from './condition-contract.ts';
import { describeStoreContract } from './store-contract.ts';

const stores = postgresStores('carebridge_test');

describeStoreContract('PostgreSQL', stores);
describeConditionContract('PostgreSQL', stores);

describe('PostgreSQL migrations', () => {
  it('run once even when two instances start at the same moment', async () => {
    const schema = `carebridge_migrate_${process.pid}_${Date.now()}`;
    const [a, b] = await Promise.all([PostgresStore.open(DATABASE_URL, { schema }), PostgresStore.open(DATABASE_URL, { schema })]);
    expect(await a.schemaVersion()).toBe(Math.max(...MIGRATIONS.map((m) => m.version)));
    expect(await b.schemaVersion()).toBe(Math.max(...MIGRATIONS.map((m) => m.version)));
    await a.dropSchema(schema);
    await a.close();
    await b.close();
  });
});
