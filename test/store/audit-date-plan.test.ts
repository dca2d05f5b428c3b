// A search of the audit trail by date starts from audit_date's lookup index (code, start_ms, …), not
// a scan of every AuditEvent; sorted by that date, it reads the index in order and sorts only ties.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseSearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSearch } from '../../src/store/sql/search-sql.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../../src/validation/definitions.ts';
import { explainingExecutor } from '../support/query-plans.ts';

const dir = mkdtempSync(join(tmpdir(), 'carebridge-audit-date-'));
const file = join(dir, 'carebridge.db');
let store: SqliteStore;

beforeAll(async () => {
  loadDefinitions();
  store = await SqliteStore.open(file);
  for (let hour = 10; hour < 14; hour++) {
    await store.create({
      resourceType: 'AuditEvent',
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
      recorded: `2026-11-24T${hour}:00:00.000Z`,
      agent: [{ requestor: true, altId: `plan-${hour}` }],
      source: { observer: { display: 'carebridge' } },
    } as unknown as Resource);
  }
});

afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the search on the file, returning its ids and the plan of each statement it ran. */
async function planned(query: string): Promise<{ ids: string[]; plans: string[] }> {
  const { db, statements, close } = explainingExecutor(file);
  try {
    const found = await runSearch(db, parseSearchRequest(query), {});
    return { ids: found.resources.map((r) => (r as { agent: { altId: string }[] }).agent[0]?.altId as string), plans: statements.map((s) => s.plan) };
  } finally {
    close();
  }
}

describe('searching the audit trail by date (SQLite plans)', () => {
  it('drives "what happened since…, newest first" from audit_date_lookup in index order', async () => {
    const { ids, plans } = await planned('AuditEvent?date=ge2026-11-24T11:00:00Z&_sort=-date&_count=2');
    expect(ids).toEqual(['plan-13', 'plan-12']);
    const [plan] = plans;
    expect(plan).toMatch(/^SEARCH d USING INDEX audit_date_lookup \(code=\? AND start_ms>\?\)/);
    expect(plan).toMatch(/SEARCH r USING INDEX sqlite_autoindex_resources_1 \(resource_type=\? AND id=\?\)/);
    // Only ties of the same instant are sorted; no sort value is computed per event.
    expect(plan).not.toMatch(/TEMP B-TREE FOR ORDER BY/);
    expect(plan).not.toMatch(/SCAN (r|d|s)\b|CORRELATED/);
  });

  it('drives a range between its two bounds, and unsorted or with other filters from the index too', async () => {
    const range = await planned('AuditEvent?date=ge2026-11-24T11:00:00Z&date=le2026-11-24T12:30:00Z&_sort=date');
    expect(range.ids).toEqual(['plan-11', 'plan-12']);
    expect(range.plans[0]).toMatch(/^SEARCH d USING INDEX audit_date_lookup \(code=\? AND start_ms>\? AND start_ms<\?\)/);
    const expected: [string, string[]][] = [
      ['AuditEvent?date=sa2026-11-24T11:00:00Z&_total=accurate', ['plan-12', 'plan-13']],
      ['AuditEvent?date=eq2026-11-24T12:00Z&altid=plan-12,plan-13', ['plan-12']],
    ];
    for (const [query, wanted] of expected) {
      expect((await planned(query)).ids.sort()).toEqual(wanted);
    }
    for (const query of [...expected.map(([q]) => q), 'AuditEvent?date=ap2026-11-24T12:00:00Z&_sort=-_lastUpdated']) {
      const { ids, plans } = await planned(query);
      expect(ids.length).toBeGreaterThan(0);
      for (const plan of plans) {
        expect(plan).toMatch(/SEARCH d USING (COVERING )?INDEX audit_date_lookup \(code=\? AND start_ms>\?/);
        expect(plan).not.toMatch(/SCAN (r|d)\b/);
      }
    }
  });

  it('checks a date bounded only from above, and sorts what another filter found, by each event\'s own rows', async () => {
    // An upper bound alone matches most of the trail: each event is checked, by its key, not by a scan of the range.
    const older = await planned('AuditEvent?date=lt2026-11-24T11:00:00Z');
    expect(older.ids).toEqual(['plan-10']);
    expect(older.plans[0]).toMatch(/SEARCH d EXISTS USING PRIMARY KEY \(resource_id=\? AND code=\?\)/);
    expect(older.plans[0]).not.toMatch(/audit_date_lookup/);
    const byId = (await store.search(parseSearchRequest('AuditEvent?altid=plan-11,plan-12'))).resources.map((r) => r.id).join(',');
    const sorted = await planned(`AuditEvent?_id=${byId}&date=ge2026-11-24&_sort=-date`);
    expect(sorted.ids).toEqual(['plan-12', 'plan-11']);
    expect(sorted.plans[0]).toMatch(/SEARCH s USING PRIMARY KEY \(resource_id=\? AND code=\?\)/);
    expect(sorted.plans[0]).not.toMatch(/audit_date_lookup/);
  });
});
