// vread and history over resource_history, newest first.
import type { HistoryOptions, StoredVersion } from '../fhir-store.ts';
import type { ResolvedAccess } from './access-sql.ts';
import { visibleWhere } from './access-sql.ts';
import type { SqlExecutor } from './executor.ts';
import { toStoredVersion } from './sql-transaction.ts';

const COLUMNS = 'resource_type, id, version_id, seq, last_updated, deleted, content';

export async function readVersion(db: SqlExecutor, resourceType: string, id: string, versionId: string): Promise<StoredVersion | undefined> {
  if (!/^\d{1,9}$/.test(versionId)) {
    return undefined;
  }
  const rows = await db.all<Parameters<typeof toStoredVersion>[0]>(`SELECT ${COLUMNS} FROM resource_history WHERE resource_type = ? AND id = ? AND version_id = ?`, [resourceType, id, Number(versionId)]);
  return rows[0] ? toStoredVersion(rows[0]) : undefined;
}

/** History, newest first; with `access`, only of resources the caller may see now. */
export async function readHistory(db: SqlExecutor, resourceType: string | undefined, id: string | undefined, options: HistoryOptions, access?: ResolvedAccess): Promise<StoredVersion[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (access) {
    const visible = visibleWhere(access, 'r', db.dialect);
    where.push(`EXISTS (SELECT 1 FROM resources r WHERE r.resource_type = resource_history.resource_type AND r.id = resource_history.id AND ${visible.sql})`);
    params.push(...visible.params);
  }
  if (resourceType) {
    where.push('resource_type = ?');
    params.push(resourceType);
  }
  if (id) {
    where.push('id = ?');
    params.push(id);
  }
  if (options.since) {
    where.push('last_updated > ?');
    params.push(options.since);
  }
  if (options.beforeSeq !== undefined) {
    where.push('seq < ?');
    params.push(options.beforeSeq);
  }
  const sql = `SELECT ${COLUMNS} FROM resource_history ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
  const rows = await db.all<Parameters<typeof toStoredVersion>[0]>(sql, [...params, options.count]);
  return rows.map(toStoredVersion);
}
