// The outbox: every change that must go somewhere becomes a row in the same transaction as the
// change (one per destination), so nothing committed is ever not sent and nothing is sent before
// it commits. A dispatcher claims rows (leased, so a crashed sender's rows go to another), sends
// them and settles them. Rows of one patient for one destination go out one at a time, in order.
import type { StoreCaller } from './access.ts';
import type { StoreTransaction, StoredVersion } from './fhir-store.ts';

/** A change routed to one destination, as the router makes it inside the write transaction. */
export interface OutboxEntry {
  /** A peer's name, or "subscription/<id>". */
  destination: string;
  /** Ordering key: deliveries of one patient to one destination go out in the order written ('' when the resource is about no patient). */
  patientId: string;
  resourceType: string;
  resourceId: string;
  versionId: string;
  /**
   * The event's number in its destination's numbered stream (a subscription's
   * eventsSinceSubscriptionStart), from RoutingContext.nextEventNumbers in the same transaction.
   * A numbered row is owed to its destination as it is: it is never superseded.
   */
  eventNumber?: number;
}

/**
 * pending: waiting or in flight (leased); delivered; superseded: a newer version of the same
 * resource went to the same destination instead; dead: given up on (retry window passed, or the
 * peer refused it for good) until an operator replays it.
 */
export type DeliveryState = 'pending' | 'delivered' | 'superseded' | 'dead';

export interface Delivery extends OutboxEntry {
  /** Outbox order (per store). */
  id: number;
  /** Stable for the change and destination: the receiver drops repeats by it. */
  eventId: string;
  state: DeliveryState;
  attempts: number;
  createdMs: number;
  /** Start of the retry window (the creation, or the last replay). */
  windowStartMs: number;
  nextAttemptMs: number;
  lastError?: string;
  lastStatus?: number;
  doneMs?: number;
}

export type DeliverySettlement =
  /** Sent: the peer now holds `sentVersionId` (the newest when it was sent); older pending rows of the resource for this destination are superseded. */
  | { state: 'delivered'; sentVersionId: string }
  | { state: 'retry'; nextAttemptMs: number; error: string; status?: number }
  | { state: 'dead'; error: string; status?: number };

export interface ClaimOptions {
  limit: number;
  /** How long the claim holds; after that another dispatcher may take the row (the sender died). */
  leaseMs: number;
  /** Destinations not to claim for now (paused: blocked peers). */
  exclude?: readonly string[];
}

export interface DeliveryQuery {
  destination?: string;
  state?: DeliveryState;
  /** Rows with id above this (paging). */
  afterId?: number;
  /** Numbered rows only, with event numbers in this range (inclusive), in event order. */
  eventNumbers?: { from: number; to: number };
  limit: number;
}

/** A numbered destination's stream (a subscription's): how many events, when last heard from us. */
export interface StreamState {
  destination: string;
  /** The last event number given out (0: none yet). */
  lastEventNumber: number;
  /** When the last delivery to the destination was settled as delivered, if one was. */
  lastDeliveredMs?: number;
  /** When the last keep-alive was claimed, if one was. */
  lastKeepAliveMs?: number;
}

/**
 * Read at every /metrics scrape and board refresh, so it costs what waits, not what was ever sent:
 * pending and dead are counted over their rows (indexed), delivered and superseded are running
 * totals kept as rows are settled (pruning a row leaves them as they are).
 */
export interface DeliveryCounts {
  destination: string;
  pending: number;
  dead: number;
  /** Every delivery ever settled as delivered (pruned rows included). */
  delivered: number;
  /** Every delivery ever superseded (pruned rows included). */
  superseded: number;
  /** Creation time of the oldest pending row (ms), when there is one: how far behind the destination is. */
  oldestPendingMs?: number;
  /** When the last delivery to the destination succeeded (ms), when one has: the sync health a board shows. */
  lastDeliveredMs?: number;
}

/** One batch of the outbox's retention (see OutboxStore.pruneDeliveries). */
export interface PruneOptions {
  /** Delivered and superseded rows settled before this instant (ms) go; pending and dead rows never do. */
  settledBeforeMs: number;
  /** A numbered destination's (a subscription's) last this-many events stay whatever their age: $events serves them again. */
  keepEvents: number;
  /** Rows looked at in this batch, in id order: the work of one short write transaction. */
  limit: number;
  /** Start after this id (the previous batch's nextAfterId; none: from the first row). */
  afterId?: number;
}

export interface PruneBatch {
  deleted: number;
  /** Where the next batch starts; absent when no later row can be old enough (the run is over). */
  nextAfterId?: number;
}

/** What can be replayed: one delivery, a destination's dead deliveries, or all dead deliveries. */
export type ReplaySelector = { id: number } | { destination: string } | { all: true };

export interface OutboxStore {
  /**
   * Due rows, each the oldest pending row of its (destination, patient), leased to `holder`
   * (FOR UPDATE SKIP LOCKED on PostgreSQL: two instances never claim one row at the same time).
   */
  claimDeliveries(holder: string, options: ClaimOptions): Promise<Delivery[]>;
  /** Settles a claimed row; false when the lease was lost (another holder has it now) and nothing was changed. */
  settleDelivery(holder: string, id: number, settlement: DeliverySettlement): Promise<boolean>;
  /** Pushes back every pending row of a destination to `untilMs` at the earliest (a peer that refuses us). */
  deferDestination(destination: string, untilMs: number): Promise<number>;
  /** Every pending row of a destination that waits for a later attempt is due now (the peer is back); how many. */
  resumeDestination(destination: string): Promise<number>;
  /** Ends every lease `holder` holds, or every lease (a single dispatcher restarting). */
  releaseLeases(holder?: string): Promise<number>;
  listDeliveries(query: DeliveryQuery): Promise<Delivery[]>;
  countDeliveries(): Promise<DeliveryCounts[]>;
  /** Dead (or, for one id, also pending-and-waiting) rows back to pending, due now, with a fresh retry window; how many. */
  replayDeliveries(selector: ReplaySelector): Promise<number>;
  /**
   * One bounded batch of retention, in a write transaction of its own: of the next `limit` rows,
   * deletes the delivered and superseded ones settled before `settledBeforeMs`, except a numbered
   * destination's last `keepEvents` events. The counts' delivered and superseded totals stay.
   */
  pruneDeliveries(options: PruneOptions): Promise<PruneBatch>;
  /** The stream of a numbered destination (lastEventNumber 0 when it has none). */
  streamState(destination: string): Promise<StreamState>;
  /**
   * Whether to send the destination a keep-alive (a subscription's heartbeat) now: true when
   * nothing was delivered to it and no keep-alive was claimed since `quietSinceMs`, and then the
   * claim is recorded (as `nowMs`) — so of several instances asking at once, exactly one is told to send.
   */
  claimKeepAlive(destination: string, quietSinceMs: number, nowMs: number): Promise<boolean>;
}

/** What the router may ask about a transaction's writes, on the transaction's own connection. */
export interface RoutingContext {
  /** The writing organization's key ("system|value"); null when carebridge itself wrote. */
  writer: string | null;
  /** Whether `caller` may see the resource now (its tenancy rules, after this transaction's writes). */
  visibleTo(caller: StoreCaller, resourceType: string, id: string): Promise<boolean>;
  /** Ids of the Organization resources that carry `caller`'s organization identifier. */
  organizationIdsOf(caller: StoreCaller): Promise<readonly string[]>;
  /** The patient whose compartment the resource is in ('' for none): the ordering key. */
  patientOf(resourceType: string, id: string): Promise<string>;
  /** Reads and searches as carebridge itself, inside the transaction. */
  system: StoreTransaction;
  /**
   * Reserves `count` consecutive event numbers of the destination's stream and returns the first.
   * The counter row is written (and on PostgreSQL locked) in this transaction: numbers of
   * committed transactions have no gaps and follow commit order; a rollback gives them back.
   */
  nextEventNumbers(destination: string, count: number): Promise<number>;
  /**
   * A value that changes whenever a resource of the type is written and committed (creates,
   * updates, deletes): the key of a cache of, say, the active Subscriptions. Costs one aggregate
   * over that type's current rows.
   */
  changeMark(resourceType: string): Promise<string>;
}

/** Decides, inside the write transaction, which destinations each written version goes to. */
export interface OutboxRouter {
  route(written: readonly StoredVersion[], context: RoutingContext): Promise<OutboxEntry[]>;
}
