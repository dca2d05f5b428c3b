// The audit trail against the real PostgreSQL (DATABASE_URL, default the local server), in a
// schema of its own per test, dropped after.
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { describeAuditTrail } from './trail-contract.ts';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas = new Map<object, string>();

describeAuditTrail('PostgreSQL', {
  open: async () => {
    const schema = `carebridge_audit_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
    const store = await PostgresStore.open(DATABASE_URL, { schema });
    schemas.set(store, schema);
    return store;
  },
  dispose: async (store) => {
    await (store as PostgresStore).dropSchema(schemas.get(store) as string);
    await store.close();
  },
});
