// carebridge migrate on PostgreSQL: each database a schema of its own, dropped afterwards.
import { afterAll, describe } from '@jest/globals';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { DATABASE_URL } from '../support/postgres.ts';
import { migrateContract } from './support/migrate-contract.ts';

const schemas: string[] = [];

afterAll(async () => {
  // Opened on a schema of this suite (already migrated), not on the database's public one.
  const store = await PostgresStore.open(DATABASE_URL, { schema: schemas[0] });
  try {
    for (const schema of schemas) {
      await store.dropSchema(schema);
    }
  } finally {
    await store.close();
  }
});

describe('carebridge migrate on PostgreSQL', () => {
  migrateContract('postgres', () => {
    const schema = `carebridge_migrate_${process.pid}_${Date.now()}_${schemas.length}`;
    schemas.push(schema);
    const url = new URL(DATABASE_URL);
    url.searchParams.set('schema', schema);
    return url.toString();
  });
});
