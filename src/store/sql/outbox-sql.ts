// The SQL behind OutboxStore, shared by both adapters. Each function runs inside one of their
// write transactions (enqueue: inside the transaction of the change itself).
import { v5 } from 'uuid';
import type { ClaimOptions, Delivery, DeliveryCounts, DeliveryQuery, DeliverySettlement, DeliveryState, OutboxEntry, ReplaySelector, StreamState } from '../outbox.ts';
import type { SqlExecutor } from './executor.ts';
import { addToTotalsSql, knowDestinationSql, lastDeliveredMsSql } from './outbox-retention-sql.ts';

/** Namespace of carebridge's delivery event ids (UUID v5: the same change to the same destination always gets the same id). */
const EVENT_NAMESPACE = '6f1c2a7e-5b0d-4c3e-9a41-2d8e7f6b9c10';

/** Rows per INSERT: 500 × 12 parameters stays far below both databases' limits. */
const ENTRIES_PER_INSERT = 500;

export function eventIdOf(entry: OutboxEntry): string {
  return v5(`${entry.destination}\n${entry.resourceType}/${entry.resourceId}/_history/${entry.versionId}`, EVENT_NAMESPACE);
}

interface OutboxRow {
  id: number | string;
  event_id: string;
  destination: string;
  patient_id: string;
  resource_type: string;
  resource_id: string;
  version_id: number | string;
  state: string;
  attempts: number | string;
  created_ms: number | string;
  window_start_ms: number | string;
  next_attempt_ms: number | string;
  last_error: string | null;
  last_status: number | string | null;
  done_ms: number | string | null;
  event_number: number | string | null;
}

const COLUMNS = 'id, event_id, destination, patient_id, resource_type, resource_id, version_id, state, attempts, created_ms, window_start_ms, next_attempt_ms, last_error, last_status, done_ms, event_number';

function toDelivery(row: OutboxRow): Delivery {
  return {
    id: Number(row.id),
    eventId: row.event_id,
    destination: row.destination,
    patientId: row.patient_id,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    versionId: String(row.version_id),
    state: row.state as DeliveryState,
    attempts: Number(row.attempts),
    createdMs: Number(row.created_ms),
    windowStartMs: Number(row.window_start_ms),
    nextAttemptMs: Number(row.next_attempt_ms),
    ...(row.last_error !== null ? { lastError: row.last_error } : {}),
    ...(row.last_status !== null ? { lastStatus: Number(row.last_status) } : {}),
    ...(row.done_ms !== null ? { doneMs: Number(row.done_ms) } : {}),
    ...(row.event_number !== null ? { eventNumber: Number(row.event_number) } : {}),
  };
}

/** Inside the change's own transaction; an entry already queued (same event id) is not queued twice. */
export async function enqueueSql(db: SqlExecutor, entries: readonly OutboxEntry[], nowMs: number): Promise<void> {
  for (let start = 0; start < entries.length; start += ENTRIES_PER_INSERT) {
    const part = entries.slice(start, start + ENTRIES_PER_INSERT);
    await db.run(
      `INSERT INTO outbox (event_id, destination, patient_id, resource_type, resource_id, version_id, state, attempts, created_ms, window_start_ms, next_attempt_ms, event_number)
       VALUES ${part.map(() => "(?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)").join(', ')} ON CONFLICT (event_id) DO NOTHING`,
      part.flatMap((e) => [eventIdOf(e), e.destination, e.patientId, e.resourceType, e.resourceId, Number(e.versionId), nowMs, nowMs, nowMs, e.eventNumber ?? null]),
    );
  }
}

export async function claimSql(db: SqlExecutor, holder: string, options: ClaimOptions, nowMs: number): Promise<Delivery[]> {
  const exclude = options.exclude ?? [];
  // The oldest pending row of each (destination, patient) only: a later change of a patient waits
  // until the earlier one is settled, so a destination sees a patient's changes in order.
  const rows = await db.all<OutboxRow>(
    `SELECT ${COLUMNS.replace(/(^|, )/g, '$1o.')} FROM outbox o
     WHERE o.state = 'pending' AND o.next_attempt_ms <= ? AND (o.lease_until_ms IS NULL OR o.lease_until_ms <= ?)
       ${exclude.length > 0 ? `AND o.destination NOT IN (${exclude.map(() => '?').join(', ')})` : ''}
       AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.state = 'pending' AND e.destination = o.destination AND e.patient_id = o.patient_id AND e.id < o.id)
     ORDER BY o.id LIMIT ?${db.dialect === 'postgres' ? ' FOR UPDATE OF o SKIP LOCKED' : ''}`,
    [nowMs, nowMs, ...exclude, options.limit],
  );
  if (rows.length === 0) {
    return [];
  }
  await db.run(`UPDATE outbox SET lease_holder = ?, lease_until_ms = ? WHERE id IN (${rows.map(() => '?').join(', ')})`, [holder, nowMs + options.leaseMs, ...rows.map((r) => Number(r.id))]);
  return rows.map(toDelivery);
}

export async function settleSql(db: SqlExecutor, holder: string, id: number, settlement: DeliverySettlement, nowMs: number): Promise<boolean> {
  const mine = 'WHERE id = ? AND lease_holder = ? AND state = \'pending\'';
  if (settlement.state === 'retry') {
    const { changes } = await db.run(`UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ?, last_error = ?, last_status = ?, lease_holder = NULL, lease_until_ms = NULL ${mine}`, [
      settlement.nextAttemptMs,
      settlement.error.slice(0, 1000),
      settlement.status ?? null,
      id,
      holder,
    ]);
    return changes === 1;
  }
  const [row] = await db.all<{ destination: string; resource_type: string; resource_id: string; event_number: number | string | null }>(`SELECT destination, resource_type, resource_id, event_number FROM outbox ${mine}`, [id, holder]);
  if (!row) {
    return false;
  }
  if (settlement.state === 'dead') {
    const { changes } = await db.run(`UPDATE outbox SET state = 'dead', attempts = attempts + 1, done_ms = ?, last_error = ?, last_status = ?, lease_holder = NULL, lease_until_ms = NULL ${mine}`, [
      nowMs,
      settlement.error.slice(0, 1000),
      settlement.status ?? null,
      id,
      holder,
    ]);
    if (changes === 1) {
      await knowDestinationSql(db, row.destination);
    }
    return changes === 1;
  }
  const delivered = await db.run(`UPDATE outbox SET state = 'delivered', attempts = attempts + 1, done_ms = ?, lease_holder = NULL, lease_until_ms = NULL ${mine}`, [nowMs, id, holder]);
  if (delivered.changes !== 1) {
    return false; // taken by another holder since the read: its settle counts it
  }
  // What the peer now holds makes the older queued versions of the resource pointless to send.
  // Not numbered rows: each event of a subscription's stream is owed to it, in order (a gap
  // would tell the subscriber it missed one).
  const superseded = await db.run(
    `UPDATE outbox SET state = 'superseded', done_ms = ? WHERE destination = ? AND resource_type = ? AND resource_id = ? AND state = 'pending' AND version_id <= ? AND id <> ?
       AND event_number IS NULL AND (lease_until_ms IS NULL OR lease_until_ms <= ?)`,
    [nowMs, row.destination, row.resource_type, row.resource_id, Number(settlement.sentVersionId), id, nowMs],
  );
  await addToTotalsSql(db, { destination: row.destination, id, numbered: row.event_number !== null }, 1, superseded.changes, nowMs);
  return true;
}

export async function deferSql(db: SqlExecutor, destination: string, untilMs: number): Promise<number> {
  return (await db.run("UPDATE outbox SET next_attempt_ms = ? WHERE destination = ? AND state = 'pending' AND next_attempt_ms < ?", [untilMs, destination, untilMs])).changes;
}

export async function resumeSql(db: SqlExecutor, destination: string, nowMs: number): Promise<number> {
  return (await db.run("UPDATE outbox SET next_attempt_ms = ? WHERE destination = ? AND state = 'pending' AND next_attempt_ms > ?", [nowMs, destination, nowMs])).changes;
}

export async function releaseSql(db: SqlExecutor, holder: string | undefined): Promise<number> {
  return (await db.run(`UPDATE outbox SET lease_holder = NULL, lease_until_ms = NULL WHERE state = 'pending' AND lease_holder IS NOT NULL${holder ? ' AND lease_holder = ?' : ''}`, holder ? [holder] : [])).changes;
}

export async function listSql(db: SqlExecutor, query: DeliveryQuery): Promise<Delivery[]> {
  const where: string[] = ['id > ?'];
  const params: unknown[] = [query.afterId ?? 0];
  if (query.destination) {
    where.push('destination = ?');
    params.push(query.destination);
  }
  if (query.state) {
    where.push('state = ?');
    params.push(query.state);
  }
  if (query.eventNumbers) {
    where.push('event_number >= ? AND event_number <= ?');
    params.push(query.eventNumbers.from, query.eventNumbers.to);
  }
  const order = query.eventNumbers ? 'event_number' : 'id';
  const rows = await db.all<OutboxRow>(`SELECT ${COLUMNS} FROM outbox WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT ?`, [...params, query.limit]);
  return rows.map(toDelivery);
}

/** Inside the change's own transaction: the counter row is written (locked) until it commits. */
export async function nextEventNumbersSql(db: SqlExecutor, destination: string, count: number): Promise<number> {
  const [row] = await db.all<{ last_number: number | string }>(
    'INSERT INTO outbox_streams (destination, last_number) VALUES (?, ?) ON CONFLICT (destination) DO UPDATE SET last_number = outbox_streams.last_number + excluded.last_number RETURNING last_number',
    [destination, count],
  );
  return Number(row?.last_number) - count + 1;
}

export async function streamStateSql(db: SqlExecutor, destination: string): Promise<StreamState> {
  const [row] = await db.all<{ last_number: number | string; beat_ms: number | string | null }>('SELECT last_number, beat_ms FROM outbox_streams WHERE destination = ?', [destination]);
  const delivered = await lastDeliveredMsSql(db, destination);
  return {
    destination,
    lastEventNumber: Number(row?.last_number ?? 0),
    ...(delivered !== undefined ? { lastDeliveredMs: delivered } : {}),
    ...(row?.beat_ms !== null && row?.beat_ms !== undefined ? { lastKeepAliveMs: Number(row.beat_ms) } : {}),
  };
}

/** Compare-and-set on the stream's keep-alive time: one of several instances asking at once wins. */
export async function claimKeepAliveSql(db: SqlExecutor, destination: string, quietSinceMs: number, nowMs: number): Promise<boolean> {
  const delivered = await lastDeliveredMsSql(db, destination);
  if (delivered !== undefined && delivered > quietSinceMs) {
    return false;
  }
  const { changes } = await db.run(
    `INSERT INTO outbox_streams (destination, last_number, beat_ms) VALUES (?, 0, ?)
     ON CONFLICT (destination) DO UPDATE SET beat_ms = excluded.beat_ms WHERE outbox_streams.beat_ms IS NULL OR outbox_streams.beat_ms <= ?`,
    [destination, nowMs, quietSinceMs],
  );
  return changes === 1;
}

/** See RoutingContext.changeMark: every committed write of the type raises the count or a version. */
export async function changeMarkSql(db: SqlExecutor, resourceType: string): Promise<string> {
  const [row] = await db.all<{ n: number | string; v: number | string | null }>('SELECT COUNT(*) AS n, SUM(version_id) AS v FROM resources WHERE resource_type = ?', [resourceType]);
  return `${Number(row?.n ?? 0)}:${Number(row?.v ?? 0)}`;
}

/**
 * One statement (one snapshot): the totals per destination, each with its dead rows counted (the
 * by-state index, per destination), and the pending rows grouped (outbox_pending_created, read
 * alone). It costs what the destinations and the waiting rows cost, not what was ever delivered.
 */
export async function countSql(db: SqlExecutor): Promise<DeliveryCounts[]> {
  const rows = await db.all<{ destination: string; delivered: number | string; superseded: number | string; last_done: number | string | null; dead: number | string; pending: number | string; oldest: number | string | null }>(
    `SELECT t.destination, t.delivered, t.superseded, t.last_delivered_ms AS last_done,
       (SELECT COUNT(*) FROM outbox d WHERE d.destination = t.destination AND d.state = 'dead') AS dead, 0 AS pending, NULL AS oldest
     FROM (SELECT destination, SUM(delivered) AS delivered, SUM(superseded) AS superseded, MAX(last_delivered_ms) AS last_delivered_ms FROM outbox_totals GROUP BY destination) t
     UNION ALL
     SELECT destination, 0, 0, NULL, 0, COUNT(*), MIN(created_ms) FROM outbox WHERE state = 'pending' GROUP BY destination`,
  );
  const byDestination = new Map<string, DeliveryCounts>();
  for (const row of rows) {
    const counts = byDestination.get(row.destination) ?? { destination: row.destination, pending: 0, dead: 0, delivered: 0, superseded: 0 };
    counts.pending += Number(row.pending);
    counts.dead += Number(row.dead);
    counts.delivered += Number(row.delivered);
    counts.superseded += Number(row.superseded);
    if (row.oldest !== null) {
      counts.oldestPendingMs = Number(row.oldest);
    }
    if (row.last_done !== null) {
      counts.lastDeliveredMs = Number(row.last_done);
    }
    byDestination.set(row.destination, counts);
  }
  // A destination whose rows were all pruned and that waits for nothing is still listed: its totals stay.
  return [...byDestination.values()].sort((a, b) => (a.destination < b.destination ? -1 : a.destination > b.destination ? 1 : 0));
}

export async function replaySql(db: SqlExecutor, selector: ReplaySelector, nowMs: number): Promise<number> {
  const reset = "SET state = 'pending', attempts = 0, next_attempt_ms = ?, window_start_ms = ?, done_ms = NULL, lease_holder = NULL, lease_until_ms = NULL";
  if ('id' in selector) {
    // One delivery: a dead one comes back; a waiting one is tried now.
    return (await db.run(`UPDATE outbox ${reset} WHERE id = ? AND (state = 'dead' OR (state = 'pending' AND lease_holder IS NULL))`, [nowMs, nowMs, selector.id])).changes;
  }
  const scope = 'destination' in selector ? ' AND destination = ?' : '';
  const scopeParams = 'destination' in selector ? [selector.destination] : [];
  const dead = await db.run(`UPDATE outbox ${reset} WHERE state = 'dead'${scope}`, [nowMs, nowMs, ...scopeParams]);
  // The peer is back: what waits for a later attempt is tried now too.
  await db.run(`UPDATE outbox SET next_attempt_ms = ? WHERE state = 'pending' AND next_attempt_ms > ?${scope}`, [nowMs, nowMs, ...scopeParams]);
  return dead.changes;
}
