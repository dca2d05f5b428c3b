// The parties of the broadcast example (fixtures/plans/broadcast-three-agencies.json) as principals,
// and a full dump of a SQLite store, to show that a refused push left nothing behind.
import { expect } from '@jest/globals';
import Database from 'better-sqlite3';
import type { ClientRole, Principal } from '../../../src/auth/principal.ts';
import { parseScopes } from '../../../src/auth/scopes.ts';

const NPI = 'http://hl7.org/fhir/sid/us-npi';

export const party = (clientId: string, role: ClientRole, npi: string, system = NPI): Principal => ({
  clientId,
  clientName: clientId,
  role,
  organization: { system, value: npi },
  scopes: parseScopes('system/*.cruds').scopes,
});

export const HOSPITAL = party('harbor-point', 'hospital', '1599024316');
export const OTHER_HOSPITAL = party('other-hospital', 'hospital', '1144246767');
export const AGENCY_A = party('charm-city', 'agency', '1266190432');
export const AGENCY_B = party('inner-harbor', 'agency', '1877352900');
export const AGENCY_C = party('chesapeake', 'agency', '1455266175');
export const ADMIN = party('admin', 'admin', 'admin', 'urn:carebridge-test:org');
export const PARTIES = [HOSPITAL, OTHER_HOSPITAL, AGENCY_A, AGENCY_B, AGENCY_C, ADMIN];

export type Dump = Record<string, string[]>;

/** Every row of every table, each as canonical JSON, sorted: two dumps are equal iff the stores hold the same data. */
export function dumpSqlite(file: string): Dump {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[];
    return Object.fromEntries(
      tables.map(({ name }) => [name, (db.prepare(`SELECT * FROM "${name}"`).all() as Record<string, unknown>[]).map((row) => JSON.stringify(row, Object.keys(row).sort())).sort()]),
    );
  } finally {
    db.close();
  }
}

/** The rows `after` has that `before` had not, and the rows it lost, per table. */
export function dumpDiff(before: Dump, after: Dump): { added: Record<string, string[]>; removed: Record<string, string[]> } {
  const added: Record<string, string[]> = {};
  const removed: Record<string, string[]> = {};
  for (const table of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const b = new Set(before[table] ?? []);
    const a = new Set(after[table] ?? []);
    const plus = [...a].filter((r) => !b.has(r));
    const minus = [...b].filter((r) => !a.has(r));
    if (plus.length > 0) {
      added[table] = plus;
    }
    if (minus.length > 0) {
      removed[table] = minus;
    }
  }
  return { added, removed };
}

/**
 * The refused request's AuditEvent is the one thing a refused push may add: its row, its history
 * row and sequence, and the audit trail's own bookkeeping of index rows (which may also index
 * earlier AuditEvents meanwhile). Every row about anything else is exactly as it was.
 */
export function expectOnlyItsAuditEvent(before: Dump, after: Dump): void {
  const { added, removed } = dumpDiff(before, after);
  const { sqlite_sequence: seqAdded, ...addedRest } = added;
  const { sqlite_sequence: seqRemoved, ...removedRest } = removed;
  for (const [table, rows] of [...Object.entries(addedRest), ...Object.entries(removedRest)]) {
    for (const row of rows) {
      expect(`${table}: ${row}`).toContain('"AuditEvent"');
    }
  }
  expect(removed.resources ?? []).toEqual([]);
  expect(added.resources?.filter((r) => r.includes('"AuditEvent"'))).toHaveLength(1);
  expect((seqAdded ?? []).length).toBe((seqRemoved ?? []).length);
}
