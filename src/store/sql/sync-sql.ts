// The SQL behind SyncStore, shared by both adapters: the migration that adds its tables and the
// statements (run inside one of their transactions, or on the read connection).
import type { PollRunRecord, PollStatus } from '../sync-store.ts';
import type { Dialect, SqlExecutor } from './executor.ts';
import type { Migration } from './schema.ts';

const bigint = (d: Dialect): string => (d === 'postgres' ? 'BIGINT' : 'INTEGER');

export const SYNC_MIGRATION: Migration = {
  version: 9,
  description: 'sync cursors and job leases',
  statements: (d) => [
    // A peer's query and how far it has been read: the peer's own lastUpdated (its text, as the
    // peer wrote it, to ask again with its precision) and that instant in ms (to compare).
    `CREATE TABLE sync_cursors (peer TEXT NOT NULL, query_key TEXT NOT NULL, cursor TEXT NOT NULL, cursor_ms ${bigint(d)} NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (peer, query_key))`,
    // A cron job runs on one instance at a time: the holder until until_ms (epoch ms).
    `CREATE TABLE job_leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, until_ms ${bigint(d)} NOT NULL)`,
    // The health of each peer's query ('*': the peer's whole run), for the board and the metrics.
    `CREATE TABLE sync_status (
      peer TEXT NOT NULL,
      query_key TEXT NOT NULL,
      last_started_at TEXT,
      last_finished_at TEXT,
      last_success_at TEXT,
      last_error_at TEXT,
      last_error TEXT,
      stored ${bigint(d)} NOT NULL,
      skipped ${bigint(d)} NOT NULL,
      total_stored ${bigint(d)} NOT NULL,
      total_skipped ${bigint(d)} NOT NULL,
      PRIMARY KEY (peer, query_key)
    )`,
  ],
};

export async function readCursorSql(db: SqlExecutor, peer: string, queryKey: string): Promise<string | undefined> {
  const rows = await db.all<{ cursor: string }>('SELECT cursor FROM sync_cursors WHERE peer = ? AND query_key = ?', [peer, queryKey]);
  return rows[0]?.cursor;
}

/** Upsert that never moves a cursor back (two overlapping polls commit pages in any order). */
export async function writeCursorSql(db: SqlExecutor, peer: string, queryKey: string, cursor: string, now: string): Promise<void> {
  const ms = Date.parse(cursor);
  if (Number.isNaN(ms)) {
    throw new Error('A sync cursor must be an instant');
  }
  await db.run(
    `INSERT INTO sync_cursors (peer, query_key, cursor, cursor_ms, updated_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (peer, query_key) DO UPDATE SET cursor = excluded.cursor, cursor_ms = excluded.cursor_ms, updated_at = excluded.updated_at
     WHERE excluded.cursor_ms >= sync_cursors.cursor_ms`,
    [peer, queryKey, cursor, ms, now],
  );
}

/**
 * Takes the lease when free, expired or already the holder's, in one statement: concurrent
 * claims on PostgreSQL serialise on the row (the second sees the first's row and its holder).
 */
export async function claimLeaseSql(db: SqlExecutor, name: string, holder: string, ttlMs: number, nowMs: number): Promise<boolean> {
  const { changes } = await db.run(
    `INSERT INTO job_leases (name, holder, until_ms) VALUES (?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
     WHERE job_leases.holder = excluded.holder OR job_leases.until_ms <= ?`,
    [name, holder, nowMs + ttlMs, nowMs],
  );
  return changes === 1;
}

export async function releaseLeaseSql(db: SqlExecutor, name: string, holder: string): Promise<void> {
  await db.run('DELETE FROM job_leases WHERE name = ? AND holder = ?', [name, holder]);
}

export async function recordPollRunSql(db: SqlExecutor, peer: string, queryKey: string, run: PollRunRecord): Promise<void> {
  // Only carebridge's own words are stored, and never much of them.
  const error = run.ok ? null : (run.error ?? 'failed').slice(0, 500);
  await db.run(
    `INSERT INTO sync_status (peer, query_key, last_started_at, last_finished_at, last_success_at, last_error_at, last_error, stored, skipped, total_stored, total_skipped)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (peer, query_key) DO UPDATE SET
       last_started_at = excluded.last_started_at,
       last_finished_at = excluded.last_finished_at,
       last_success_at = COALESCE(excluded.last_success_at, sync_status.last_success_at),
       last_error_at = COALESCE(excluded.last_error_at, sync_status.last_error_at),
       last_error = COALESCE(excluded.last_error, sync_status.last_error),
       stored = excluded.stored,
       skipped = excluded.skipped,
       total_stored = sync_status.total_stored + excluded.stored,
       total_skipped = sync_status.total_skipped + excluded.skipped`,
    [peer, queryKey, run.startedAt, run.finishedAt, run.ok ? run.startedAt : null, run.ok ? null : run.finishedAt, error, run.stored, run.skipped, run.stored, run.skipped],
  );
}

interface StatusRow {
  peer: string;
  query_key: string;
  cursor: string | null;
  last_started_at: string | null;
  last_finished_at: string | null;
  last_success_at: string | null;
  last_error_at: string | null;
  last_error: string | null;
  stored: number | string | null;
  skipped: number | string | null;
  total_stored: number | string | null;
  total_skipped: number | string | null;
}

function toPollStatus(row: StatusRow): PollStatus {
  const optional = (key: keyof PollStatus, value: string | null): Partial<PollStatus> => (value === null ? {} : { [key]: value });
  return {
    peer: row.peer,
    queryKey: row.query_key,
    ...optional('cursor', row.cursor),
    ...optional('lastStartedAt', row.last_started_at),
    ...optional('lastFinishedAt', row.last_finished_at),
    ...optional('lastSuccessAt', row.last_success_at),
    ...optional('lastErrorAt', row.last_error_at),
    ...optional('lastError', row.last_error),
    stored: Number(row.stored ?? 0),
    skipped: Number(row.skipped ?? 0),
    totalStored: Number(row.total_stored ?? 0),
    totalSkipped: Number(row.total_skipped ?? 0),
  };
}

/** Every (peer, query) that has a cursor or a recorded run, with both. */
export async function pollStatusSql(db: SqlExecutor, peer?: string): Promise<PollStatus[]> {
  const columns = 's.last_started_at, s.last_finished_at, s.last_success_at, s.last_error_at, s.last_error, s.stored, s.skipped, s.total_stored, s.total_skipped';
  // A full outer join of two small tables, written as a union (SQLite before 3.39 has none).
  const where = peer === undefined ? '' : ' WHERE x.peer = ?';
  const rows = await db.all<StatusRow>(
    `SELECT x.peer, x.query_key, c.cursor, ${columns}
     FROM (SELECT peer, query_key FROM sync_status UNION SELECT peer, query_key FROM sync_cursors) x
     LEFT JOIN sync_status s ON s.peer = x.peer AND s.query_key = x.query_key
     LEFT JOIN sync_cursors c ON c.peer = x.peer AND c.query_key = x.query_key${where}
     ORDER BY x.peer, x.query_key`,
    peer === undefined ? [] : [peer],
  );
  return rows.map(toPollStatus);
}
