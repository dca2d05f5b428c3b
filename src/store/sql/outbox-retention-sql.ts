// The outbox's retention, shared by both adapters: the running totals that let settled rows go
// (migration 12) and one bounded batch of pruning. Pending and dead rows are never pruned: they
// wait for a dispatcher or an operator.
import type { PruneBatch, PruneOptions } from '../outbox.ts';
import type { Dialect, SqlExecutor } from './executor.ts';
import type { Migration } from './schema.ts';

const bigint = (d: Dialect): string => (d === 'postgres' ? 'BIGINT' : 'INTEGER');
/**
 * Rows a peer's totals are spread over on PostgreSQL: the dispatcher's 16 deliveries in flight
 * settle on different rows (a settle's shard is its row id's remainder). With one row, 16 settles
 * at once waited for each other's commits: 2–3 times fewer settles a second to one peer. SQLite
 * (one writer) and numbered destinations (one delivery at a time) keep one row, shard 0.
 */
export const TOTALS_SHARDS = 16;

/**
 * Every destination's totals as the outbox's rows say them: the migration's backfill, and the
 * benchmark's for rows it writes by hand.
 */
export const OUTBOX_TOTALS_BACKFILL = `INSERT INTO outbox_totals (destination, shard, delivered, superseded, last_delivered_ms)
  SELECT destination, 0, SUM(CASE WHEN state = 'delivered' THEN 1 ELSE 0 END), SUM(CASE WHEN state = 'superseded' THEN 1 ELSE 0 END), MAX(CASE WHEN state = 'delivered' THEN done_ms END)
  FROM outbox GROUP BY destination`;

export const OUTBOX_TOTALS_MIGRATION: Migration = {
  version: 12,
  description: 'outbox totals per destination, so settled rows can be pruned',
  statements: (d) => [
    // Per destination that was ever settled: how many were delivered and superseded, and when the
    // last delivery was. Counting these from the rows cost a scan of every row ever written at
    // each /metrics scrape; they are kept as rows settle instead, and survive pruning. A
    // destination's totals are spread over TOTALS_SHARDS rows (summed when read), so settles
    // running side by side on PostgreSQL do not all wait for one row's lock.
    `CREATE TABLE outbox_totals (destination TEXT NOT NULL, shard INTEGER NOT NULL, delivered ${bigint(d)} NOT NULL, superseded ${bigint(d)} NOT NULL, last_delivered_ms ${bigint(d)}, PRIMARY KEY (destination, shard))`,
    OUTBOX_TOTALS_BACKFILL,
    // The counts' pending rows per destination and the oldest of them, read from the index alone:
    // a backlog is counted without visiting its rows, wherever they lie in the table.
    "CREATE INDEX outbox_pending_created ON outbox (destination, created_ms) WHERE state = 'pending'",
  ],
};

/** In the settle of row `id`, as its last statement (on PostgreSQL its shard row is locked until the commit: held briefly). */
export async function addToTotalsSql(db: SqlExecutor, row: { destination: string; id: number; numbered: boolean }, delivered: number, superseded: number, deliveredMs: number | null): Promise<void> {
  const shard = db.dialect === 'postgres' && !row.numbered ? row.id % TOTALS_SHARDS : 0;
  await db.run(
    `INSERT INTO outbox_totals (destination, shard, delivered, superseded, last_delivered_ms) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (destination, shard) DO UPDATE SET delivered = outbox_totals.delivered + excluded.delivered, superseded = outbox_totals.superseded + excluded.superseded,
       last_delivered_ms = CASE WHEN excluded.last_delivered_ms IS NOT NULL AND (outbox_totals.last_delivered_ms IS NULL OR outbox_totals.last_delivered_ms < excluded.last_delivered_ms) THEN excluded.last_delivered_ms ELSE outbox_totals.last_delivered_ms END`,
    [row.destination, shard, delivered, superseded, deliveredMs],
  );
}

/** A dead row's destination gets a totals row (no lock taken when it has one): the counts find its dead rows from there. */
export async function knowDestinationSql(db: SqlExecutor, destination: string): Promise<void> {
  await db.run('INSERT INTO outbox_totals (destination, shard, delivered, superseded) VALUES (?, 0, 0, 0) ON CONFLICT (destination, shard) DO NOTHING', [destination]);
}

/** When the last delivery to the destination was settled, if one was. */
export async function lastDeliveredMsSql(db: SqlExecutor, destination: string): Promise<number | undefined> {
  const [row] = await db.all<{ last_delivered_ms: number | string | null }>('SELECT MAX(last_delivered_ms) AS last_delivered_ms FROM outbox_totals WHERE destination = ?', [destination]);
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
