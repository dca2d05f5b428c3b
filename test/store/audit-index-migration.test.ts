// Migration 13 on a store whose audit trail was indexed in idx_*: the rows move to audit_*, keep
// answering the same searches, and no AuditEvent row is left behind in idx_*. Migration 14 on a
// store whose audit references had a lookup index: their terms are written, the index dropped.
import { afterAll, describe, expect, it } from '@jest/globals';
import { parseSearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_REFERENCE_TERMS } from '../../src/store/sql/audit-terms.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../../src/validation/definitions.ts';

const dir = mkdtempSync(join(tmpdir(), 'carebridge-audit-index-'));
const file = join(dir, 'carebridge.db');
const KINDS = ['token', 'string', 'reference', 'date', 'number', 'uri'];

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const event = (altId: string, patient: string): Resource =>
  ({
    resourceType: 'AuditEvent',
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
    action: 'R',
    recorded: '2026-11-24T10:00:00Z',
    outcome: '0',
    agent: [{ requestor: true, altId, name: `Client ${altId}` }],
    source: { observer: { display: 'carebridge' } },
    entity: [{ what: { reference: patient } }],
  }) as unknown as Resource;

const count = (db: Database.Database, table: string): number => Number((db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE resource_type = 'AuditEvent'`).get() as { n: number }).n);

describe('audit index migration', () => {
  it('moves the AuditEvent rows of an older store from idx_* to audit_*, where searches find them', async () => {
    loadDefinitions();
    const store = await SqliteStore.open(file);
    const { version: patient } = await store.create({ resourceType: 'Patient', name: [{ family: 'Okafor' }] });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await store.create(event(`client-${i % 2}`, `Patient/${patient.id}`))).version.id);
    }
    await store.close();

    // The store as version 12 left it: the same rows, in idx_*, and no audit_* tables.
    const old = new Database(file);
    const rowsBefore = KINDS.reduce((n, kind) => n + count(old, `audit_${kind}`), 0);
    expect(rowsBefore).toBeGreaterThanOrEqual(5 * 8);
    for (const kind of KINDS) {
      const columns = (old.prepare(`SELECT name FROM pragma_table_info('idx_${kind}')`).all() as { name: string }[]).map((c) => c.name).join(', ');
      old.exec(`INSERT INTO idx_${kind} (${columns}) SELECT ${columns} FROM audit_${kind}; DROP TABLE audit_${kind};`);
    }
    old.exec(`DROP TABLE ${AUDIT_REFERENCE_TERMS}; DELETE FROM schema_migrations WHERE version IN (13, 14)`);
    old.close();

    const upgraded = await SqliteStore.open(file);
    try {
      expect(upgraded.migration.applied.map((m) => m.version)).toEqual([13, 14]);
      const db = new Database(file, { readonly: true });
      expect(KINDS.reduce((n, kind) => n + count(db, `idx_${kind}`), 0)).toBe(0);
      expect(KINDS.reduce((n, kind) => n + count(db, `audit_${kind}`), 0)).toBe(rowsBefore);
      db.close();
      const found = async (query: string): Promise<string[]> => (await upgraded.search(parseSearchRequest(query))).resources.map((r) => r.id as string).sort();
      expect(await found(`AuditEvent?patient=Patient/${patient.id}`)).toEqual([...ids].sort());
      expect(await found('AuditEvent?altid=client-1')).toEqual([ids[1], ids[3]].sort());
      // New events index into audit_* alongside the moved ones.
      const next = (await upgraded.create(event('client-1', `Patient/${patient.id}`))).version.id;
      expect(await found('AuditEvent?altid=client-1&agent-name=client')).toEqual([ids[1], ids[3], next].sort());
    } finally {
      await upgraded.close();
    }
  });

  it('gives the references stored before migration 14 their terms, and drops their lookup index', async () => {
    const path = join(dir, 'before-terms.db');
    const store = await SqliteStore.open(path);
    const { version: patient } = await store.create({ resourceType: 'Patient', name: [{ family: 'Adeyemi' }] });
    const earlier = [(await store.create(event('terms-0', `Patient/${patient.id}`))).version.id, (await store.create(event('terms-1', `Patient/${patient.id}`))).version.id];
    const other = (await store.create(event('terms-2', 'Patient/someone-else'))).version.id;
    await store.close();

    // The store as version 13 left it: no term table, the lookup index by target.
    const old = new Database(path);
    old.exec(`DROP TABLE ${AUDIT_REFERENCE_TERMS}; CREATE INDEX audit_reference_lookup ON audit_reference (code, target_id, target_type, resource_id, resource_type); DELETE FROM schema_migrations WHERE version = 14`);
    old.close();

    const upgraded = await SqliteStore.open(path);
    try {
      expect(upgraded.migration.applied.map((m) => m.version)).toEqual([14]);
      const db = new Database(path, { readonly: true });
      expect(db.prepare("SELECT name FROM sqlite_schema WHERE name = 'audit_reference_lookup'").all()).toEqual([]);
      db.close();
      const found = async (query: string): Promise<string[]> => (await upgraded.search(parseSearchRequest(query))).resources.map((r) => r.id as string).sort();
      expect(await found(`AuditEvent?patient=Patient/${patient.id}`)).toEqual([...earlier].sort());
      expect(await found(`AuditEvent?entity=${patient.id}`)).toEqual([...earlier].sort());
      expect(await found('AuditEvent?entity=Patient/someone-else')).toEqual([other]);
    } finally {
      await upgraded.close();
    }
  });
});
