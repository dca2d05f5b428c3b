// What both SQL adapters share above their transactions: single writes run in a transaction of
// their own; reads of versions, history and the schema go to the read connection. forCaller()
// gives a view of the same store that reads and writes as one tenant.
import { OperationOutcomeError } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { StoreCaller } from '../access.ts';
import type { SearchRequest } from '@medplum/core';
import { DEFERRABLE_TYPES } from '../fhir-store.ts';
import type { CreateOptions, DeleteOptions, FhirStore, HistoryOptions, SearchOptions, SearchResult, StoreTransaction, StoredVersion, UpdateOptions, WriteResult } from '../fhir-store.ts';
import type { ClaimOptions, Delivery, DeliveryCounts, DeliveryQuery, DeliverySettlement, PruneBatch, PruneOptions, ReplaySelector, StreamState } from '../outbox.ts';
import { resolveAccess } from './access-sql.ts';
import { claimKeepAliveSql, claimSql, countSql, deferSql, listSql, releaseSql, replaySql, resumeSql, settleSql, streamStateSql } from './outbox-sql.ts';
import type { SqlExecutor } from './executor.ts';
import { pruneSql } from './outbox-retention-sql.ts';
import { readHistory, readVersion } from './history-sql.ts';
import { currentSchemaVersion } from './schema.ts';
import type { MigrationReport } from './schema.ts';
import { claimLeaseSql, pollStatusSql, readCursorSql, recordPollRunSql, releaseLeaseSql } from './sync-sql.ts';
import type { PollRunRecord, PollStatus } from '../sync-store.ts';
import { DEFAULT_SETTINGS, SqlTransaction } from './sql-transaction.ts';
import type { BacklogRead, TransactionSettings } from './sql-transaction.ts';

/** Deferred resources indexed per transaction at most (500 gave a p99 of 277 ms). */
const DEFERRED_INDEX_BATCH = 100;
/**
 * ...and for about this long: extracting holds the event loop, and the transaction that writes
 * the rows holds the write lock (and, on SQLite, the event loop again). An AuditEvent of a search
 * over 20 patients takes ~0.5 ms to index, one of a read ~0.1 ms: a fixed count of 25 stalled
 * 3–13 ms; a time budget keeps the stall short whatever the events hold, and batches cheap ones
 * bigger.
 */
const DEFERRED_INDEX_BUDGET_MS = 4;
/**
 * While transactions keep using their whole budget (the backlog grows faster than 4 ms slices
 * clear it), the budget doubles up to this: under sustained load the backlog stays bounded,
 * paid for in latency, instead of growing until an AuditEvent search has to catch up on it.
 */
const DEFERRED_INDEX_MAX_BUDGET_MS = 16;

export abstract class SqlStore extends SqlTransaction implements FhirStore {
  abstract readonly kind: FhirStore['kind'];
  protected readonly reader: SqlExecutor;
  readonly clock: () => Date;
  settings: TransactionSettings = DEFAULT_SETTINGS;
  /** What opening the store did to its schema (set by open). */
  migration: MigrationReport = { from: 0, to: 0, applied: [] };

  protected constructor(reader: SqlExecutor, now: () => Date = () => new Date()) {
    super(reader, now);
    this.reader = reader;
    this.clock = now;
  }

  /** Runs `work` in one database transaction as `caller` (undefined: carebridge itself). */
  abstract runTransaction<T>(caller: StoreCaller | undefined, work: (tx: SqlTransaction) => Promise<T>): Promise<T>;
  abstract close(): Promise<void>;
  abstract claimAssertion(clientId: string, jti: string, expiresMs: number): Promise<boolean>;
  abstract claimSigningKey(name: string, candidate: string): Promise<string>;
  /** Runs `work` in a write transaction of its own, outside the resource write path. */
  protected abstract withWriter<T>(work: (db: SqlExecutor) => Promise<T>): Promise<T>;

  claimDeliveries(holder: string, options: ClaimOptions): Promise<Delivery[]> {
    return this.withWriter((db) => claimSql(db, holder, options, this.clock().getTime()));
  }

  settleDelivery(holder: string, id: number, settlement: DeliverySettlement): Promise<boolean> {
    return this.withWriter((db) => settleSql(db, holder, id, settlement, this.clock().getTime()));
  }

  deferDestination(destination: string, untilMs: number): Promise<number> {
    return this.withWriter((db) => deferSql(db, destination, untilMs));
  }

  resumeDestination(destination: string): Promise<number> {
    return this.withWriter((db) => resumeSql(db, destination, this.clock().getTime()));
  }

  releaseLeases(holder?: string): Promise<number> {
    return this.withWriter((db) => releaseSql(db, holder));
  }

  listDeliveries(query: DeliveryQuery): Promise<Delivery[]> {
    return listSql(this.reader, query);
  }

  countDeliveries(): Promise<DeliveryCounts[]> {
    return countSql(this.reader);
  }

  replayDeliveries(selector: ReplaySelector): Promise<number> {
    return this.withWriter((db) => replaySql(db, selector, this.clock().getTime()));
  }

  pruneDeliveries(options: PruneOptions): Promise<PruneBatch> {
    return this.withWriter((db) => pruneSql(db, options));
  }

  streamState(destination: string): Promise<StreamState> {
    return streamStateSql(this.reader, destination);
  }

  claimKeepAlive(destination: string, quietSinceMs: number, nowMs: number): Promise<boolean> {
    return this.withWriter((db) => claimKeepAliveSql(db, destination, quietSinceMs, nowMs));
  }

  transaction<T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    return this.runTransaction(undefined, work);
  }

  forCaller(caller: StoreCaller): FhirStore {
    return new CallerStore(this, caller);
  }

  /** The next deferred-index transaction's time budget (see DEFERRED_INDEX_MAX_BUDGET_MS). */
  private deferredBudgetMs = DEFERRED_INDEX_BUDGET_MS;

  async indexDeferred(resourceType?: string, limit = DEFERRED_INDEX_BATCH): Promise<number> {
    return (await this.indexDeferredBatch({ resourceType, limit, claim: 'skip' })).done;
  }

  /** The batch being indexed now: this store indexes one at a time (see indexDeferredBatch). */
  private indexing: Promise<unknown> = Promise.resolve();

  /**
   * One batch: how many were waiting and how many this wrote. One at a time per store: concurrent
   * catch-ups (several AuditEvent searches at once) would extract the same events and then find
   * them written by the first; each waits its turn and reads the backlog afresh.
   */
  private indexDeferredBatch(read: BacklogRead & { claim: 'skip' | 'wait' }): Promise<{ waiting: number; done: number }> {
    const batch = this.indexing.then(() => this.indexOneBatch(read));
    this.indexing = batch.catch(() => undefined);
    return batch;
  }

  /** `claim`: on PostgreSQL, whether events another instance is indexing are skipped or waited for. */
  private async indexOneBatch(read: BacklogRead & { claim: 'skip' | 'wait' }): Promise<{ waiting: number; done: number }> {
    const started = performance.now();
    let waiting: number;
    let done: number;
    if (this.reader.dialect === 'sqlite') {
      // Extracted before the write transaction, which then only writes. SQLite's inserts hold the
      // event loop too, and cost about what extracting did (an audited search's profile: 3.8 s
      // extracting, 4.4 s inserting): there extraction stops at half the budget.
      const prepared = await this.prepareBacklog({ ...read, budgetMs: this.deferredBudgetMs / 2 });
      waiting = prepared.length;
      done = waiting === 0 ? 0 : await this.runTransaction(undefined, (tx) => tx.indexBacklog(prepared));
    } else {
      // Claimed and extracted in the transaction: its locks split the backlog between instances.
      ({ waiting, done } = await this.runTransaction(undefined, async (tx) => {
        const claimed = await tx.prepareBacklog({ ...read, budgetMs: this.deferredBudgetMs });
        return { waiting: claimed.length, done: claimed.length === 0 ? 0 : await tx.indexBacklog(claimed, true) };
      }));
    }
    // Out of time before out of work (extracting, waiting for the turn and writing): more was
    // waiting than the budget could clear; bigger batches while the writes queue up.
    const outOfTime = performance.now() - started >= this.deferredBudgetMs;
    this.deferredBudgetMs = waiting > 0 && outOfTime && waiting < read.limit ? Math.min(this.deferredBudgetMs * 2, DEFERRED_INDEX_MAX_BUDGET_MS) : DEFERRED_INDEX_BUDGET_MS;
    return { waiting, done };
  }

  /**
   * Before a search outside a transaction: resources of the types it reads that were stored with
   * deferred index rows (the audit trail) are indexed first, so a search never misses one.
   */
  async catchUpIndex(request: SearchRequest): Promise<void> {
    const types = new Set([request.resourceType, ...(request.revInclude ?? []).map((r) => r.resourceType), ...(request.include ?? []).flatMap((i) => (i.targetType ? [i.targetType] : []))]);
    // Only types that may be deferred are checked: other searches pay nothing (no backlog query).
    const deferrable = [...types].filter((t) => DEFERRABLE_TYPES.has(t));
    if (deferrable.length === 0) {
      return;
    }
    // What was written when the search began: on a busy server new events keep arriving, and a
    // search catching up on them too might never get to answer.
    const [latest] = await this.reader.all<{ seq: number | string | null }>('SELECT MAX(seq) AS seq FROM resource_history');
    const upToSeq = Number(latest?.seq ?? 0);
    for (const resourceType of deferrable) {
      // Until none of this type is left: a batch another indexer wrote first counts as progress,
      // and one another instance is writing is waited for.
      while ((await this.indexDeferredBatch({ resourceType, limit: DEFERRED_INDEX_BATCH, claim: 'wait', upToSeq })).waiting > 0) {
        // next batch
      }
    }
  }

  override async search(request: SearchRequest, options?: SearchOptions): Promise<SearchResult> {
    await this.catchUpIndex(request);
    return super.search(request, options);
  }

  /** Settings every later transaction follows (from the config file at start). */
  configure(settings: Partial<TransactionSettings>): void {
    this.settings = { ...this.settings, ...settings };
  }

  override create(resource: Resource, options?: CreateOptions): Promise<WriteResult> {
    return this.transaction((tx) => tx.create(resource, options));
  }

  override update(resource: Resource, options?: UpdateOptions): Promise<WriteResult> {
    return this.transaction((tx) => tx.update(resource, options));
  }

  override delete(resourceType: string, id: string, options?: DeleteOptions): Promise<WriteResult | undefined> {
    return this.transaction((tx) => tx.delete(resourceType, id, options));
  }

  override writeCursor(peer: string, queryKey: string, cursor: string): Promise<void> {
    return this.transaction((tx) => tx.writeCursor(peer, queryKey, cursor));
  }

  vread(resourceType: string, id: string, versionId: string): Promise<StoredVersion | undefined> {
    return readVersion(this.reader, resourceType, id, versionId);
  }

  history(resourceType: string | undefined, id: string | undefined, options: HistoryOptions): Promise<StoredVersion[]> {
    return readHistory(this.reader, resourceType, id, options);
  }

  /** History as `caller` sees it. */
  async historyFor(caller: StoreCaller, resourceType: string | undefined, id: string | undefined, options: HistoryOptions): Promise<StoredVersion[]> {
    return readHistory(this.reader, resourceType, id, options, await resolveAccess(this.reader, caller));
  }

  /** A reader transaction as `caller`. */
  readerFor(caller: StoreCaller): SqlTransaction {
    return new SqlTransaction(this.reader, this.clock, caller, this.settings);
  }

  schemaVersion(): Promise<number> {
    return currentSchemaVersion(this.reader);
  }

  // SyncStore: cursors and status are read on the read connection; leases and runs are written in
  // a transaction of their own, as carebridge.
  readCursor(peer: string, queryKey: string): Promise<string | undefined> {
    return readCursorSql(this.reader, peer, queryKey);
  }

  claimLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return this.runTransaction(undefined, (tx) => tx.withSyncSql((db, now) => claimLeaseSql(db, name, holder, ttlMs, now.getTime())));
  }

  releaseLease(name: string, holder: string): Promise<void> {
    return this.runTransaction(undefined, (tx) => tx.withSyncSql((db) => releaseLeaseSql(db, name, holder)));
  }

  recordPollRun(peer: string, queryKey: string, run: PollRunRecord): Promise<void> {
    return this.runTransaction(undefined, (tx) => tx.withSyncSql((db) => recordPollRunSql(db, peer, queryKey, run)));
  }

  pollStatus(peer?: string): Promise<PollStatus[]> {
    return pollStatusSql(this.reader, peer);
  }
}

/** The store as one caller sees it: every read filtered, every write authored and guarded. */
class CallerStore implements FhirStore {
  private readonly base: SqlStore;
  private readonly caller: StoreCaller;
  private readonly reads: SqlTransaction;

  constructor(base: SqlStore, caller: StoreCaller) {
    this.base = base;
    this.caller = caller;
    this.reads = base.readerFor(caller);
  }

  get kind(): FhirStore['kind'] {
    return this.base.kind;
  }

  transaction<T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    return this.base.runTransaction(this.caller, work);
  }

  forCaller(caller: StoreCaller): FhirStore {
    return this.base.forCaller(caller);
  }

  configure(settings: Parameters<FhirStore['configure']>[0]): void {
    this.base.configure(settings);
  }

  indexDeferred(resourceType?: string, limit?: number): Promise<number> {
    return this.base.indexDeferred(resourceType, limit);
  }

  claimAssertion(...args: Parameters<FhirStore['claimAssertion']>): ReturnType<FhirStore['claimAssertion']> {
    return this.base.claimAssertion(...args);
  }

  claimSigningKey(...args: Parameters<FhirStore['claimSigningKey']>): ReturnType<FhirStore['claimSigningKey']> {
    return this.base.claimSigningKey(...args);
  }

  // The outbox is carebridge's own machinery: the admin API decides who may touch it.
  claimDeliveries(...args: Parameters<FhirStore['claimDeliveries']>): ReturnType<FhirStore['claimDeliveries']> {
    return this.base.claimDeliveries(...args);
  }

  settleDelivery(...args: Parameters<FhirStore['settleDelivery']>): ReturnType<FhirStore['settleDelivery']> {
    return this.base.settleDelivery(...args);
  }

  deferDestination(...args: Parameters<FhirStore['deferDestination']>): ReturnType<FhirStore['deferDestination']> {
    return this.base.deferDestination(...args);
  }

  resumeDestination(...args: Parameters<FhirStore['resumeDestination']>): ReturnType<FhirStore['resumeDestination']> {
    return this.base.resumeDestination(...args);
  }

  releaseLeases(...args: Parameters<FhirStore['releaseLeases']>): ReturnType<FhirStore['releaseLeases']> {
    return this.base.releaseLeases(...args);
  }

  listDeliveries(...args: Parameters<FhirStore['listDeliveries']>): ReturnType<FhirStore['listDeliveries']> {
    return this.base.listDeliveries(...args);
  }

  countDeliveries(): ReturnType<FhirStore['countDeliveries']> {
    return this.base.countDeliveries();
  }

  replayDeliveries(...args: Parameters<FhirStore['replayDeliveries']>): ReturnType<FhirStore['replayDeliveries']> {
    return this.base.replayDeliveries(...args);
  }

  pruneDeliveries(...args: Parameters<FhirStore['pruneDeliveries']>): ReturnType<FhirStore['pruneDeliveries']> {
    return this.base.pruneDeliveries(...args);
  }

  streamState(...args: Parameters<FhirStore['streamState']>): ReturnType<FhirStore['streamState']> {
    return this.base.streamState(...args);
  }

  claimKeepAlive(...args: Parameters<FhirStore['claimKeepAlive']>): ReturnType<FhirStore['claimKeepAlive']> {
    return this.base.claimKeepAlive(...args);
  }

  read(resourceType: string, id: string): Promise<StoredVersion | undefined> {
    return this.reads.read(resourceType, id);
  }

  async search(request: SearchRequest, options?: SearchOptions): Promise<SearchResult> {
    await this.base.catchUpIndex(request);
    return this.reads.search(request, options);
  }

  conditionCandidates(conditions: readonly SearchRequest[]): Promise<(string[] | undefined)[]> {
    return this.reads.conditionCandidates(conditions);
  }

  create(resource: Resource, options?: CreateOptions): Promise<WriteResult> {
    return this.transaction((tx) => tx.create(resource, options));
  }

  update(resource: Resource, options?: UpdateOptions): Promise<WriteResult> {
    return this.transaction((tx) => tx.update(resource, options));
  }

  delete(resourceType: string, id: string, options?: DeleteOptions): Promise<WriteResult | undefined> {
    return this.transaction((tx) => tx.delete(resourceType, id, options));
  }

  async vread(resourceType: string, id: string, versionId: string): Promise<StoredVersion | undefined> {
    // A past version is visible when the resource is (its current row decides).
    return (await this.reads.read(resourceType, id)) ? this.base.vread(resourceType, id, versionId) : undefined;
  }

  history(resourceType: string | undefined, id: string | undefined, options: HistoryOptions): Promise<StoredVersion[]> {
    return this.base.historyFor(this.caller, resourceType, id, options);
  }

  schemaVersion(): Promise<number> {
    return this.base.schemaVersion();
  }

  writeCursor(peer: string, queryKey: string, cursor: string): Promise<void> {
    return this.transaction((tx) => tx.writeCursor(peer, queryKey, cursor));
  }

  readCursor(...args: Parameters<FhirStore['readCursor']>): ReturnType<FhirStore['readCursor']> {
    return this.base.readCursor(...args);
  }

  claimLease(...args: Parameters<FhirStore['claimLease']>): ReturnType<FhirStore['claimLease']> {
    return this.base.claimLease(...args);
  }

  releaseLease(...args: Parameters<FhirStore['releaseLease']>): ReturnType<FhirStore['releaseLease']> {
    return this.base.releaseLease(...args);
  }

  recordPollRun(...args: Parameters<FhirStore['recordPollRun']>): ReturnType<FhirStore['recordPollRun']> {
    return this.base.recordPollRun(...args);
  }

  pollStatus(...args: Parameters<FhirStore['pollStatus']>): ReturnType<FhirStore['pollStatus']> {
    return this.base.pollStatus(...args);
  }

  close(): Promise<void> {
    return Promise.reject(new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', details: { text: 'A caller view does not close the store' } }] }));
  }
}
