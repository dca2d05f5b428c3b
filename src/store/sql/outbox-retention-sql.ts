// The outbox's retention, shared by both adapters: the running totals that let settled rows go
// (migration 12) and one bounded batch of pruning. Pending and dead rows are never pruned: they
// wait for a dispatcher or an operator.
import type { PruneBatch, PruneOptions } from '../outbox.ts';
import type { SqlExecutor } from './executor.ts';
import type { Migration } from './schema.ts';

/**
 * Every destination's totals as the outbox's rows say them: the migration's backfill, and the
 * benchmark's for rows it writes by hand.
 */
export const OUTBOX_TOTALS_BACKFILL = `INSERT INTO outbox_totals (destination, delivered, superseded, last_delivered_ms)
  SELECT destination, SUM(CASE WHEN state = 'delivered' THEN 1 ELSE 0 END), SUM(CASE WHEN state = 'superseded' THEN 1 ELSE 0 END), MAX(CASE WHEN state = 'delivered' THEN done_ms END)
  FROM outbox GROUP BY destination`;

export const OUTBOX_TOTALS_MIGRATION: Migration = {
  version: 12,
  description: 'outbox totals per destination, so settled rows can be pruned',
  statements: (d) => [
    // One row per destination that was ever settled: how many were delivered and superseded, and
    // when the last delivery was. Counting these from the rows cost a scan of every row ever
    // written at each /metrics scrape; they are kept as rows settle instead, and survive pruning.
    `CREATE TABLE outbox_totals (destination TEXT PRIMARY KEY, delivered ${d === 'postgres' ? 'BIGINT' : 'INTEGER'} NOT NULL, superseded ${d === 'postgres' ? 'BIGINT' : 'INTEGER'} NOT NULL, last_delivered_ms ${d === 'postgres' ? 'BIGINT' : 'INTEGER'})`,
    OUTBOX_TOTALS_BACKFILL,
  ],
};

/** In the settle's transaction, as its last statement (on PostgreSQL the row is locked until the commit, so it is held briefly). */
export async function addToTotalsSql(db: SqlExecutor, destination: string, delivered: number, superseded: number, deliveredMs: number | null): Promise<void> {
  await db.run(
    `INSERT INTO outbox_totals (destination, delivered, superseded, last_delivered_ms) VALUES (?, ?, ?, ?)
     ON CONFLICT (destination) DO UPDATE SET delivered = outbox_totals.delivered + excluded.delivered, superseded = outbox_totals.superseded + excluded.superseded,
       last_delivered_ms = CASE WHEN excluded.last_delivered_ms IS NOT NULL AND (outbox_totals.last_delivered_ms IS NULL OR outbox_totals.last_delivered_ms < excluded.last_delivered_ms) THEN excluded.last_delivered_ms ELSE outbox_totals.last_delivered_ms END`,
    [destination, delivered, superseded, deliveredMs],
  );
}

/** A dead row's destination gets a totals row (no lock taken when it has one): the counts find its dead rows from there. */
export async function knowDestinationSql(db: SqlExecutor, destination: string): Promise<void> {
  await db.run('INSERT INTO outbox_totals (destination, delivered, superseded) VALUES (?, 0, 0) ON CONFLICT (destination) DO NOTHING', [destination]);
}

/** When the last delivery to the destination was settled, if one was. */
export async function lastDeliveredMsSql(db: SqlExecutor, destination: string): Promise<number | undefined> {
  const [row] = await db.all<{ last_delivered_ms: number | string | null }>('SELECT last_delivered_ms FROM outbox_totals WHERE destination = ?', [destination]);
  return row?.last_delivered_ms === null || row?.last_delivered_ms === undefined ? undefined : Number(row.last_delivered_ms);
}

/**
 * One batch: the next `limit` rows by id (the primary key), then one DELETE over that id range.
 * A row is settled after it is created (done_ms >= created_ms), so past the first row created
 * after the cut-off nothing can be old enough and the run ends there: a run reads the old rows
 * that stay (pending, dead, a stream's kept events) and the ones it deletes, never the young bulk.
 */
export async function pruneSql(db: SqlExecutor, options: PruneOptions): Promise<PruneBatch> {
  const after = options.afterId ?? 0;
  const rows = await db.all<{ id: number | string; created_ms: number | string }>('SELECT id, created_ms FROM outbox WHERE id > ? ORDER BY id LIMIT ?', [after, options.limit]);
  const young = rows.findIndex((r) => Number(r.created_ms) >= options.settledBeforeMs);
  const examined = young === -1 ? rows : rows.slice(0, young);
  const last = examined.at(-1);
  if (!last) {
    return { deleted: 0 };
  }
  // A numbered row stays while it is among its stream's last keepEvents: a subscriber that finds
  // a gap asks $events for it by number.
  const { changes } = await db.run(
    `DELETE FROM outbox WHERE id > ? AND id <= ? AND state IN ('delivered', 'superseded') AND done_ms < ?
       AND (event_number IS NULL OR event_number <= COALESCE((SELECT s.last_number FROM outbox_streams s WHERE s.destination = outbox.destination), 0) - ?)`,
    [after, Number(last.id), options.settledBeforeMs, options.keepEvents],
  );
  const more = young === -1 && rows.length === options.limit;
  return { deleted: changes, ...(more ? { nextAfterId: Number(last.id) } : {}) };
}
