// The audit_* index tables on PostgreSQL: migration 13 moves an older store's AuditEvent rows
// there, and the per-event checks of a search (EXISTS, :missing, _sort) seek by the event's id
// even before the tables have statistics (a freshly migrated or loaded store).
import { afterAll, describe, expect, it } from '@jest/globals';
import { parseSearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import type { SqlExecutor } from '../../src/store/sql/executor.ts';
import { runSearch } from '../../src/store/sql/search-sql.ts';
import { loadDefinitions } from '../../src/validation/definitions.ts';
import { DATABASE_URL, postgresStores } from '../support/postgres.ts';

const KINDS = ['token', 'string', 'reference', 'date', 'number', 'uri'];
const stores = postgresStores('carebridge_audit_index');
const pools: pg.Pool[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  for (const cleanup of cleanups) {
    await cleanup();
  }
});

const event = (altId: string, patient: string, minute: number): Resource =>
  ({
    resourceType: 'AuditEvent',
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
    action: 'R',
    recorded: new Date(Date.UTC(2026, 10, 24, 10, minute)).toISOString(),
    outcome: '0',
    agent: [{ requestor: true, altId, name: `Client ${altId}` }],
    source: { observer: { display: 'carebridge' } },
    entity: [{ what: { reference: patient } }],
  }) as unknown as Resource;

/** A connection to the store's schema, as the store's own executor speaks (`?` placeholders). */
function executorOn(schema: string): { db: SqlExecutor; pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1, options: `-c search_path=${schema}` });
  pools.push(pool);
  const numbered = (sql: string): string => {
    let n = 0;
    return sql.replace(/\?/g, () => `$${++n}`);
  };
  const db: SqlExecutor = {
    dialect: 'postgres',
    all: async <T>(sql: string, params: readonly unknown[] = []) => (await pool.query(numbered(sql), params as unknown[])).rows as T[],
    run: async (sql, params = []) => ({ changes: (await pool.query(numbered(sql), params as unknown[])).rowCount ?? 0 }),
  };
  return { db, pool };
}

interface PlanNode {
  'Relation Name'?: string;
  'Index Name'?: string;
  'Node Type': string;
  Plans?: PlanNode[];
}

function auditScans(node: PlanNode): string[] {
  const own = node['Relation Name']?.startsWith('audit_') ? [`${node['Relation Name']}: ${node['Index Name'] ?? node['Node Type']}`] : [];
  return [...own, ...(node.Plans ?? []).flatMap(auditScans)];
}

describe('audit index tables on PostgreSQL', () => {
  it('check each candidate event through its clustered key, without statistics', async () => {
    loadDefinitions();
    const store = await stores.open();
    cleanups.push(() => stores.dispose(store));
    const { version: patient } = await store.create({ resourceType: 'Patient', name: [{ family: 'Okafor' }] });
    await store.transaction(async (tx) => {
      for (let i = 0; i < 30; i++) {
        await tx.create(event(`client-${i % 3}`, `Patient/${patient.id}`, i));
      }
    });
    const { db } = executorOn(stores.schemaOf(store));
    // None of these drives from an index (a date bounded only from above, an absence, a sort): each event is checked.
    for (const query of ['AuditEvent?date=lt2026-11-24T10:20:00Z', 'AuditEvent?policy:missing=true', 'AuditEvent?_sort=-date&_count=5']) {
      const statements: [string, readonly unknown[]][] = [];
      const recorder: SqlExecutor = { dialect: 'postgres', all: (sql, params) => (statements.push([sql, params ?? []]), db.all(sql, params)), run: (sql, params) => db.run(sql, params) };
      const found = await runSearch(recorder, parseSearchRequest(query), {});
      expect(found.resources.length).toBeGreaterThan(0);
      const scans = (
        await Promise.all(statements.map(async ([sql, params]) => (await db.all<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(`EXPLAIN (FORMAT JSON) ${sql}`, params))[0]?.['QUERY PLAN'][0]?.Plan))
      ).flatMap((plan) => (plan ? auditScans(plan) : []));
      expect(scans.length).toBeGreaterThan(0);
      // A lookup index (code, value, …) here is read from the code's first row on, for every event.
      expect({ query, notByKey: scans.filter((s) => !/: audit_[a-z]+_pkey$/.test(s)) }).toEqual({ query, notByKey: [] });
    }
    // A lower bound drives: the lookup index is read from the bound on (and the wide rows' partial index, empty), once.
    const statements: [string, readonly unknown[]][] = [];
    const recorder: SqlExecutor = { dialect: 'postgres', all: (sql, params) => (statements.push([sql, params ?? []]), db.all(sql, params)), run: (sql, params) => db.run(sql, params) };
    const since = await runSearch(recorder, parseSearchRequest('AuditEvent?date=ge2026-11-24T10:20:00Z&_sort=-date&_count=5'), {});
    expect(since.resources.map((r) => (r as { recorded?: string }).recorded)).toEqual([29, 28, 27, 26, 25].map((m) => new Date(Date.UTC(2026, 10, 24, 10, m)).toISOString()));
    const [[sql, params]] = statements as [[string, readonly unknown[]]];
    const [plan] = (await db.all<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(`EXPLAIN (FORMAT JSON) ${sql}`, params))[0]?.['QUERY PLAN'] ?? [];
    expect(auditScans(plan?.Plan as PlanNode).sort()).toEqual(['audit_date: audit_date_lookup', 'audit_date: audit_date_wide']);
  });

  it('migration 13 moves the AuditEvent rows of an older store from idx_* to audit_*', async () => {
    loadDefinitions();
    const store = await stores.open();
    const schema = stores.schemaOf(store);
    // Dropped whatever fails below: the store open now, or the one that reopens the schema.
    let current: { store: PostgresStore; closed: boolean } = { store: store as PostgresStore, closed: false };
    cleanups.push(async () => {
      const open = current.closed ? await PostgresStore.open(DATABASE_URL, { schema }) : current.store;
      await open.dropSchema(schema);
      await open.close();
    });
    const { version: patient } = await store.create({ resourceType: 'Patient', name: [{ family: 'Lindqvist' }] });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await store.create(event(`client-${i % 2}`, `Patient/${patient.id}`, i))).version.id);
    }
    // The store as version 12 left it: the same rows, in idx_*, and no audit_* tables.
    const { pool } = executorOn(schema);
    const count = async (prefix: string): Promise<number> => {
      let n = 0;
      for (const kind of KINDS) {
        n += Number((await pool.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${prefix}_${kind} WHERE resource_type = 'AuditEvent'`)).rows[0]?.n);
      }
      return n;
    };
    const rowsBefore = await count('audit');
    expect(rowsBefore).toBeGreaterThanOrEqual(5 * 8);
    for (const kind of KINDS) {
      const columns = (await pool.query<{ column_name: string }>('SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2', [schema, `idx_${kind}`])).rows.map((c) => c.column_name).join(', ');
      await pool.query(`INSERT INTO idx_${kind} (${columns}) SELECT ${columns} FROM audit_${kind}`);
      await pool.query(`DROP TABLE audit_${kind}`);
    }
    await pool.query('DELETE FROM schema_migrations WHERE version = 13');
    await store.close();
    current = { store: current.store, closed: true };

    const upgraded = await PostgresStore.open(DATABASE_URL, { schema });
    current = { store: upgraded, closed: false };
    expect(upgraded.migration.applied.map((m) => m.version)).toEqual([13]);
    expect(await count('idx')).toBe(0);
    expect(await count('audit')).toBe(rowsBefore);
    const found = async (query: string): Promise<string[]> => (await upgraded.search(parseSearchRequest(query))).resources.map((r) => r.id as string).sort();
    expect(await found(`AuditEvent?patient=Patient/${patient.id}`)).toEqual([...ids].sort());
    expect(await found('AuditEvent?altid=client-1')).toEqual([ids[1], ids[3]].sort());
    // New events index into audit_* beside the moved ones; an update replaces its rows there.
    const next = (await upgraded.create(event('client-1', `Patient/${patient.id}`, 9))).version.id;
    expect(await found('AuditEvent?altid=client-1&agent-name=client')).toEqual([ids[1], ids[3], next].sort());
    await upgraded.update({ ...(await upgraded.read('AuditEvent', ids[1] as string))?.resource, agent: [{ requestor: true, altId: 'client-9' }] } as Resource);
    expect(await found('AuditEvent?altid=client-1')).toEqual([ids[3], next].sort());
    expect(await found('AuditEvent?altid=client-9')).toEqual([ids[1]]);
    await upgraded.delete('AuditEvent', ids[3] as string);
    expect(Number((await pool.query<{ n: string }>('SELECT COUNT(*) AS n FROM audit_token WHERE resource_id = $1', [ids[3]])).rows[0]?.n)).toBe(0);
    expect(await found('AuditEvent?altid=client-1')).toEqual([next]);
  });
});
