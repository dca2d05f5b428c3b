// The store port: what carebridge needs from a database, whatever it is. Adapters: sqlite/
// (embedded default) and postgres/ (several instances). Both pass test/store/store-contract.ts.
import type { Resource } from '@medplum/fhirtypes';
import type { SearchRequest } from '@medplum/core';
import type { StoreCaller } from './access.ts';
import type { AuthStore } from './auth-store.ts';
import type { OutboxRouter, OutboxStore } from './outbox.ts';
import type { SyncStore, SyncTransaction } from './sync-store.ts';
import type { PreparedIndex } from '../search/extract-index.ts';

/** Types whose index rows may be written later (CreateOptions.deferIndex): carebridge's own records. */
export const DEFERRABLE_TYPES: ReadonlySet<string> = new Set(['AuditEvent', 'Provenance']);

/** A resource as stored: its current (or a past) version, or the marker of its deletion. */
export interface StoredVersion {
  resourceType: string;
  id: string;
  versionId: string;
  lastUpdated: string;
  /** Global, strictly increasing write sequence: history order, paging and sync cursors. */
  seq: number;
  deleted: boolean;
  /** The resource with meta.versionId/lastUpdated set; undefined for a deletion. */
  resource?: Resource;
}

export type WriteOutcome = 'created' | 'updated' | 'unchanged' | 'deleted' | 'existing';

export interface WriteResult {
  outcome: WriteOutcome;
  version: StoredVersion;
}

export interface CreateOptions {
  /** Conditional create: the If-None-Exist query (e.g. "identifier=sys|val"). */
  ifNoneExist?: string;
  /** An id the server already chose (transaction entries referenced before they exist). */
  assignedId?: string;
  /**
   * `assignedId` was just minted by newResourceId() (time-ordered, 74 random bits): it cannot be
   * taken, so the store does not look (a lookup per entry, a round trip on PostgreSQL). Were it
   * ever taken, the history row's unique key still refuses the write.
   */
  assignedIdMinted?: boolean;
  /** Index rows the caller extracted before the transaction; used only if extracted from the content written. */
  index?: PreparedIndex;
  /** The caller searched the If-None-Exist condition in this same transaction and found nothing. */
  searchedAbsent?: boolean;
  /** The condition matches only what the caller may change (SearchOptions.writable): a conditional update creating. */
  matchWritable?: boolean;
  /**
   * Store the resource now, its search index rows later (indexDeferred): for the audit trail,
   * whose records must be durable before a response leaves but are searched rarely. Honoured for
   * DEFERRABLE_TYPES only, so a search of any other type never needs to catch up.
   */
  deferIndex?: boolean;
}

export interface UpdateOptions {
  /** Optimistic locking: the versionId the client last saw (If-Match). */
  ifMatch?: string;
  /** Create the resource with this id if it does not exist (update as create). Default true. */
  allowCreate?: boolean;
  /** Index rows the caller extracted before the transaction; used only if extracted from the content written. */
  index?: PreparedIndex;
}

export interface DeleteOptions {
  /** Optimistic locking: the versionId the client last saw (If-Match); another one deletes nothing. */
  ifMatch?: string;
}

export interface HistoryOptions {
  /** Only versions written after this instant (_since). */
  since?: string;
  /** Only versions with seq below this (paging backwards through history). */
  beforeSeq?: number;
  count: number;
}

export interface SearchResult {
  resources: Resource[];
  /** Resources added by _include / _revinclude. */
  included: Resource[];
  /** Total matches when asked for (_total=accurate or _summary=count). */
  total?: number;
  /** Opaque cursor of the next page, if there is one. */
  next?: string;
  /** Opaque cursor of the previous page, if there is one. */
  previous?: string;
  /** Search parameters that were not understood and ignored (lenient handling). */
  ignored: string[];
}

export interface SearchOptions {
  /** Opaque cursor from a previous page (stable while new data arrives: keyset, not offset). */
  cursor?: string;
  /**
   * Only what the caller may change (a conditional update's match): directory data that every
   * reader sees matches only where the caller's organization wrote it (AccessScope.writesOthers).
   */
  writable?: boolean;
}

/** What can be done inside one transaction: all of it commits, or none of it. */
export interface StoreTransaction extends SyncTransaction {
  read(resourceType: string, id: string): Promise<StoredVersion | undefined>;
  create(resource: Resource, options?: CreateOptions): Promise<WriteResult>;
  update(resource: Resource, options?: UpdateOptions): Promise<WriteResult>;
  delete(resourceType: string, id: string, options?: DeleteOptions): Promise<WriteResult | undefined>;
  search(request: SearchRequest, options?: SearchOptions): Promise<SearchResult>;
  /**
   * For each condition (If-None-Exist, conditional update), the resources that may match it, from
   * one look at the index for all of them: [] when none can; else up to 2 ids per value it names,
   * which match only if its search says so. Undefined where the index cannot tell.
   */
  conditionCandidates(conditions: readonly SearchRequest[]): Promise<(string[] | undefined)[]>;
}

export interface FhirStore extends StoreTransaction, AuthStore, OutboxStore, SyncStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Runs `work` in one database transaction (retried when the database asks for it). */
  transaction<T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  vread(resourceType: string, id: string, versionId: string): Promise<StoredVersion | undefined>;
  history(resourceType: string | undefined, id: string | undefined, options: HistoryOptions): Promise<StoredVersion[]>;
  /**
   * Writes the search index rows of resources stored with deferIndex (at most `limit`, of one
   * type or all); returns how many. Searches of such a type call it first, so they miss nothing.
   */
  indexDeferred(resourceType?: string, limit?: number): Promise<number>;
  /** Rules every later transaction follows (from the config file at start). */
  configure(settings: { referralEndsOn?: readonly string[]; outboxRouter?: OutboxRouter }): void;
  /** The same store as one tenant sees it: reads filtered to what it may see, writes authored by it. */
  forCaller(caller: StoreCaller): FhirStore;
  /** Schema version after migrations ran. */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}
