// SQLite: the audit trail's reference rows are looked up through an FTS5 term index instead of a
// b-tree keyed by target. Every request's AuditEvent names its patients (~20 reference rows for a
// 10-patient search); keyed by target, each row landed on a random page of the lookup index, and
// SQLite's WAL writes whole 4 kB pages: ~320 kB written and ~40 % of a Task search's server CPU.
// FTS5 keeps what a transaction adds as a new small segment and merges segments later, like an
// LSM tree. A term only nominates candidates: the exact condition on audit_reference (keyed by
// the event) still decides, so a hash collision or a bare id matching another type costs a
// lookup, never a wrong result. PostgreSQL logs row changes, not pages: it keeps its b-tree.
import { hash } from 'node:crypto';

/** The FTS5 table (rowid = the AuditEvent's ordinal) of audit_reference's targets. */
export const AUDIT_REFERENCE_TERMS = 'audit_reference_terms';

/** SQL function the migration registers to compute terms of the rows already stored. */
export const AUDIT_TERM_FUNCTION = 'carebridge_audit_term';

/**
 * The term of a reference search parameter `code` pointing at a resource id: 64 bits of SHA-1 in
 * hex, behind a letter — one token to FTS5's tokenizer, whatever characters the id holds.
 */
export function auditReferenceTerm(code: string, targetId: string): string {
  return `r${hash('sha1', `${code}\u0000${targetId}`, 'hex').slice(0, 16)}`;
}

/** The terms of one AuditEvent's reference rows (rows without a resource id have none: URLs have their own index). */
export function auditTermsOf(rows: readonly { code: string; targetId?: string | null }[]): string {
  const terms = new Set<string>();
  for (const row of rows) {
    if (row.targetId) {
      terms.add(auditReferenceTerm(row.code, row.targetId));
    }
  }
  return [...terms].join(' ');
}

/** An FTS5 query matching events with any of these targets of `code`. */
export function auditTermQuery(code: string, targetIds: readonly string[]): string {
  return [...new Set(targetIds.map((id) => auditReferenceTerm(code, id)))].join(' OR ');
}
