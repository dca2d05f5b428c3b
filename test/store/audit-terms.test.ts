// SQLite looks the audit trail's references up through an FTS5 term index (src/store/sql/audit-terms.ts):
// the terms follow every write of an event (create, deferred index, update, delete), searches find
// exactly what the rows say (a term only nominates), and the planner starts from the terms.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseSearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_REFERENCE_TERMS, auditTermQuery } from '../../src/store/sql/audit-terms.ts';
import { runSearch } from '../../src/store/sql/search-sql.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../../src/validation/definitions.ts';
import { explainingExecutor } from '../support/query-plans.ts';

const dir = mkdtempSync(join(tmpdir(), 'carebridge-audit-terms-'));
const file = join(dir, 'carebridge.db');
let store: SqliteStore;

beforeAll(async () => {
  loadDefinitions();
  store = await SqliteStore.open(file);
});

afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const event = (altId: string, ...references: string[]): Resource =>
  ({
    resourceType: 'AuditEvent',
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
    action: 'R',
    recorded: '2026-11-24T10:00:00Z',
    outcome: '0',
    agent: [{ requestor: true, altId }],
    source: { observer: { display: 'carebridge' } },
    entity: references.map((reference) => ({ what: { reference } })),
  }) as unknown as Resource;

/** The ordinals (FTS5 rowids) whose terms name `targetId` for `code`, read straight from the term index. */
function termRows(code: string, targetId: string): number[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(`SELECT rowid FROM ${AUDIT_REFERENCE_TERMS} WHERE ${AUDIT_REFERENCE_TERMS} MATCH ?`).all(auditTermQuery(code, [targetId])) as { rowid: number }[]).map((r) => r.rowid).sort();
  } finally {
    db.close();
  }
}

function ordinalOf(id: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare("SELECT ordinal FROM resources WHERE resource_type = 'AuditEvent' AND id = ?").get(id) as { ordinal: number }).ordinal;
  } finally {
    db.close();
  }
}

const ids = async (query: string): Promise<string[]> => (await store.search(parseSearchRequest(query))).resources.map((r) => r.id as string).sort();

describe('the audit trail term index (SQLite)', () => {
  it('follows an event through create, deferred indexing, update and delete', async () => {
    const indexed = (await store.create(event('terms-a', 'Patient/alpha', 'Task/t1'))).version.id;
    const deferred = (await store.create(event('terms-b', 'Patient/alpha'), { deferIndex: true })).version.id;
    // The deferred event has no terms until its index rows are written (the search below does so first).
    expect(termRows('entity', 'alpha')).toEqual([ordinalOf(indexed)]);
    expect(await ids('AuditEvent?entity=Patient/alpha')).toEqual([indexed, deferred].sort());
    expect(termRows('entity', 'alpha')).toEqual([ordinalOf(indexed), ordinalOf(deferred)].sort());
    expect(termRows('patient', 'alpha')).toEqual([ordinalOf(indexed), ordinalOf(deferred)].sort());

    // An update replaces the event's terms: the old target no longer nominates it.
    const current = (await store.read('AuditEvent', indexed))?.resource as Resource;
    await store.update({ ...current, entity: [{ what: { reference: 'Patient/beta' } }] } as Resource);
    expect(termRows('entity', 'alpha')).toEqual([ordinalOf(deferred)]);
    expect(termRows('entity', 'beta')).toEqual([ordinalOf(indexed)]);
    expect(termRows('entity', 't1')).toEqual([]);
    expect(await ids('AuditEvent?entity=Patient/beta')).toEqual([indexed]);

    await store.delete('AuditEvent', deferred);
    expect(termRows('entity', 'alpha')).toEqual([]);
    expect(await ids('AuditEvent?entity=Patient/alpha')).toEqual([]);
  });

  it('answers what the index rows say: bare ids, alternatives, another type with the same id, URLs', async () => {
    const first = (await store.create(event('exact-a', 'Patient/gamma', 'http://example.org/fhir/Patient/far'))).version.id;
    const second = (await store.create(event('exact-b', 'Patient/delta', 'Task/gamma'))).version.id;
    expect(await ids('AuditEvent?entity=Patient/gamma')).toEqual([first]);
    // The term of "gamma" nominates both events; only the Task reference is Task/gamma.
    expect(await ids('AuditEvent?entity=Task/gamma')).toEqual([second]);
    expect(await ids('AuditEvent?entity=gamma')).toEqual([first, second].sort());
    expect(await ids('AuditEvent?entity=Basic/gamma')).toEqual([]);
    expect(await ids('AuditEvent?entity=Patient/gamma,Patient/delta')).toEqual([first, second].sort());
    expect(await ids('AuditEvent?patient=Patient/delta')).toEqual([second]);
    expect(await ids('AuditEvent?entity=http://example.org/fhir/Patient/far')).toEqual([first]);
    expect(await ids('AuditEvent?entity=http://example.org/fhir/Patient/far,Patient/delta')).toEqual([first, second].sort());
    expect(await ids('AuditEvent?entity:missing=true&altid=exact-a,exact-b')).toEqual([]);
  });

  it('plans a search by reference from the term index, not a scan of the audit trail', async () => {
    const patient = (await store.create({ resourceType: 'Patient', name: [{ family: 'Planner' }] })).version.id;
    await store.create(event('plan-a', `Patient/${patient}`));
    const { db, statements, close } = explainingExecutor(file);
    try {
      const found = await runSearch(db, parseSearchRequest(`AuditEvent?patient=Patient/${patient}&altid=plan-a`), {});
      const revIncluded = await runSearch(db, parseSearchRequest(`Patient?_id=${patient}&_revinclude=AuditEvent:patient`), {});
      expect(found.resources).toHaveLength(1);
      expect(revIncluded.included.map((r) => r.id)).toEqual(found.resources.map((r) => r.id));
      const plans = statements.filter((s) => s.sql.includes(AUDIT_REFERENCE_TERMS)).map((s) => s.plan);
      expect(plans).toHaveLength(2);
      for (const plan of plans) {
        expect(plan).toMatch(new RegExp(`SCAN ${AUDIT_REFERENCE_TERMS} VIRTUAL TABLE INDEX`));
        expect(plan).toMatch(/SEARCH r USING INDEX resources_ordinal/);
        expect(plan).not.toMatch(/SCAN (r|x)\b/);
      }
    } finally {
      close();
    }
  });
});
