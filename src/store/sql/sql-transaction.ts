// The write and read path shared by both SQL adapters, on one connection inside one transaction
// (or on a read connection, for reads). Each write stores the new version, its history row and
// its search index rows together.
import { OperationOutcomeError, Operator, badRequest, conflict, forbidden, notFound, parseSearchRequest } from '@medplum/core';
import type { SearchRequest } from '@medplum/core';
import { multipleMatchesError, staleVersionError } from '../../util/precondition-failed.ts';
import type { Resource } from '@medplum/fhirtypes';
import { newResourceId } from '../resource-id.ts';
import { organizationGrants, patientCompartment } from '../../search/compartment.ts';
import { indexRowsOf } from '../../search/extract-index.ts';
import type { PreparedIndex } from '../../search/extract-index.ts';
import type { IndexRows } from '../../search/index-rows.ts';
import { canonicalJson } from '../../util/canonical-json.ts';
import { DEFERRABLE_TYPES } from '../fhir-store.ts';
import type { CreateOptions, DeleteOptions, SearchOptions, SearchResult, StoreTransaction, StoredVersion, UpdateOptions, WriteResult } from '../fhir-store.ts';
import type { StoreCaller } from '../access.ts';
import type { OutboxRouter, RoutingContext } from '../outbox.ts';
import { changeMarkSql, enqueueSql, nextEventNumbersSql } from './outbox-sql.ts';
import { DEFAULT_REFERRAL_ENDS_ON, organizationKeyOf } from '../access.ts';
import type { ResolvedAccess } from './access-sql.ts';
import { resolveAccess, visibleWhere, writableAccess } from './access-sql.ts';
import type { SqlExecutor } from './executor.ts';
import { AUDIT_INDEXED_TYPES, indexTable, indexTables } from './schema.ts';
import type { IndexKind } from './schema.ts';
import { runSearch } from './search-sql.ts';
import { AUDIT_REFERENCE_TERMS, auditTermsOf } from './audit-terms.ts';
import { conditionCandidatesSql } from './condition-sql.ts';
import { writeCursorSql } from './sync-sql.ts';

interface ResourceRow {
  author_org?: string | null;
  resource_type: string;
  id: string;
  version_id: number | string;
  seq: number | string;
  last_updated: string;
  deleted: number | string;
  content: string | null;
}

/** A row of index_backlog with its resource's current row (null columns when it is gone). */
type BacklogRow = { backlog_type: string; backlog_id: string } & { [K in keyof ResourceRow]: ResourceRow[K] | null };

/** One resource's index rows to write (none: a deleted resource, whose rows are only removed). */
interface ResourceIndexRows {
  type: string;
  id: string;
  rows: IndexRows | undefined;
}

/** A deferred resource's index rows, extracted from its current version (none: the resource is gone). */
export interface PreparedBacklog extends ResourceIndexRows {
  /** Still the version created with deferIndex: it never had index rows, there are none to delete. */
  firstVersion: boolean;
}

/** Which deferred resources prepareBacklog reads. */
export interface BacklogRead {
  /** Of one type, or of all. */
  resourceType?: string;
  limit: number;
  /** Extraction stops once this has passed (at least one is done). */
  budgetMs?: number;
  /** PostgreSQL: lock the rows read, skipping those another transaction holds or waiting for them. */
  claim?: 'skip' | 'wait';
  /** Only resources written up to this history seq (a search catches up on what was there when it began). */
  upToSeq?: number;
}

/** The most resources one deferred-index batch takes (each is a parameter of its statements). */
const MAX_BACKLOG_BATCH = 500;

const BACKLOG_SELECT = `SELECT b.resource_type AS backlog_type, b.resource_id AS backlog_id, r.author_org, r.resource_type, r.id, r.version_id, r.seq, r.last_updated, r.deleted, r.content
  FROM index_backlog b LEFT JOIN resources r ON r.resource_type = b.resource_type AND r.id = b.resource_id`;

function backlogItem(row: BacklogRow): PreparedBacklog {
  const version = row.id === null ? undefined : toStoredVersion(row as ResourceRow);
  return {
    type: row.backlog_type,
    id: row.backlog_id,
    // An update would have made version 2 and written its rows.
    firstVersion: version?.versionId === '1' && !version.deleted,
    rows: version?.resource ? indexRowsOf(version.resource, undefined) : undefined,
  };
}

/** Items by resource type, then by id (at most a few hundred: one statement each). */
function groupByType<T extends { type: string; id: string }>(items: readonly T[]): Map<string, Map<string, T>> {
  const byType = new Map<string, Map<string, T>>();
  for (const item of items) {
    const ids = byType.get(item.type) ?? new Map<string, T>();
    byType.set(item.type, ids);
    ids.set(item.id, item);
  }
  return byType;
}

export function toStoredVersion(row: ResourceRow): StoredVersion {
  const deleted = Number(row.deleted) === 1;
  return {
    resourceType: row.resource_type,
    id: row.id,
    versionId: String(row.version_id),
    lastUpdated: row.last_updated,
    seq: Number(row.seq),
    deleted,
    resource: deleted || row.content === null ? undefined : (JSON.parse(row.content) as Resource),
  };
}

/** Canonical JSON without meta.versionId/lastUpdated: equal when the content is. */
function contentKey(resource: Resource): string {
  const { meta, ...rest } = resource as Resource & { meta?: Record<string, unknown> };
  const strippedMeta = meta ? Object.fromEntries(Object.entries(meta).filter(([k]) => k !== 'versionId' && k !== 'lastUpdated')) : undefined;
  return canonicalJson(strippedMeta && Object.keys(strippedMeta).length > 0 ? { ...rest, meta: strippedMeta } : rest);
}

/** If-None-Exist queries that mean the same thing get the same key (parameter order, encoding). */
export function canonicalQuery(query: string): string {
  const params = [...new URLSearchParams(query.startsWith('?') ? query.slice(1) : query)];
  params.sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : av > bv ? 1 : 0) : a < b ? -1 : 1));
  return params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

/** 1,000 rows × 5 parameters: well under SQLite's and PostgreSQL's parameter limits. */
const GRANTS_PER_INSERT = 1000;

const SELECT_RESOURCE = 'SELECT r.author_org, r.resource_type, r.id, r.version_id, r.seq, r.last_updated, r.deleted, r.content FROM resources r WHERE r.resource_type = ? AND r.id = ?';

/** The current row of a resource, inserted or replaced by its newest version. */
const UPSERT_CURRENT = `ON CONFLICT (resource_type, id) DO UPDATE SET version_id = excluded.version_id, seq = excluded.seq, last_updated = excluded.last_updated,
         last_updated_ms = excluded.last_updated_ms, deleted = excluded.deleted, content = excluded.content`;

/** PostgreSQL takes at most 65,535 parameters a statement: above this, a resource's rows go table by table. */
const MAX_STATEMENT_PARAMS = 30_000;

/** Multi-row INSERTs to chain as data-modifying CTEs of one statement, and their parameters. */
interface ChainedInserts {
  ctes: string[];
  params: unknown[];
}

/** `INSERT INTO <target> VALUES (…), (…)<suffix>` of full rows; nothing for no rows. */
function addInsertPg(writes: ChainedInserts, target: string, rows: unknown[][], suffix = ''): void {
  const first = rows[0];
  if (!first) {
    return;
  }
  const tuple = `(${new Array(first.length).fill('?').join(', ')})`;
  writes.ctes.push(`INSERT INTO ${target} VALUES ${rows.map(() => tuple).join(', ')}${suffix}`);
  for (const row of rows) {
    writes.params.push(...row);
  }
}

/** One multi-row INSERT per index table that has rows, for the rows of every resource given. */
function indexInsertsPg(items: readonly ResourceIndexRows[]): ChainedInserts {
  const byTable = new Map<string, unknown[][]>();
  for (const { type, id, rows } of items) {
    for (const [table, columns, values] of rows ? indexRowsByTable(type, rows) : []) {
      const target = `${table} (resource_type, resource_id, ${columns.join(', ')})`;
      const tableRows = byTable.get(target) ?? [];
      byTable.set(target, tableRows);
      for (const r of values) {
        tableRows.push([type, id, ...r]);
      }
    }
  }
  const writes: ChainedInserts = { ctes: [], params: [] };
  for (const [target, values] of byTable) {
    addInsertPg(writes, target, values);
  }
  return writes;
}

/**
 * A resource's index rows as [table, columns, values] per table. Rows bound for an audit_* table
 * (schema.ts AUDIT_INDEXED_TYPES) carry `k`, their number within the table, which keys them there.
 */
function indexRowsByTable(type: string, rows: IndexRows): [string, string[], unknown[][]][] {
  const tables: [IndexKind, string[], unknown[][]][] = [
    ['token', ['code', 'system', 'value', 'text'], rows.token.map((r) => [r.code, r.system, r.value, r.text])],
    ['string', ['code', 'normalized', 'exact'], rows.string.map((r) => [r.code, r.normalized, r.exact])],
    ['reference', ['code', 'target_type', 'target_id', 'url'], rows.reference.map((r) => [r.code, r.targetType, r.targetId, r.url])],
    ['date', ['code', 'start_ms', 'end_ms'], rows.date.map((r) => [r.code, r.startMs, r.endMs])],
    ['number', ['code', 'value', 'system', 'unit'], rows.number.map((r) => [r.code, r.value, r.system, r.unit])],
    ['uri', ['code', 'value'], rows.uri.map((r) => [r.code, r.value])],
  ];
  const numbered = AUDIT_INDEXED_TYPES.has(type);
  return tables.map(([kind, columns, values]) => [indexTable(type, kind), numbered ? ['k', ...columns] : columns, numbered ? values.map((v, k) => [k, ...v]) : values]);
}

/** Settings of the store that every transaction follows. */
export interface TransactionSettings {
  /** Task statuses after which a referral no longer opens the patient to the owning agency. */
  referralEndsOn: readonly string[];
  /** Routes each transaction's writes to the outbox (none: nothing is sent anywhere). */
  outboxRouter?: OutboxRouter;
}

export const DEFAULT_SETTINGS: TransactionSettings = { referralEndsOn: DEFAULT_REFERRAL_ENDS_ON };

export class SqlTransaction implements StoreTransaction {
  protected readonly db: SqlExecutor;
  private readonly now: () => Date;
  /** Who is reading and writing; undefined: carebridge itself, which sees everything. */
  protected readonly caller: StoreCaller | undefined;
  private readonly rules: TransactionSettings;
  private access: Promise<ResolvedAccess | undefined> | undefined;
  /** Patients this transaction put resources in the compartment of (checked before commit). */
  private readonly touchedPatients = new Set<string>();
  /** Author grants written at finish(), after the check: writing about a patient must not be what opens it. */
  private readonly pendingGrants: unknown[][] = [];
  /** Versions this transaction wrote, for the caller's Provenance. */
  private readonly written: StoredVersion[] = [];
  /**
   * Versions the whole database transaction wrote, for the outbox: shared with the transactions
   * rules write through (a broadcast's automatic cancellations reach their agencies too).
   */
  private readonly changes: StoredVersion[];

  constructor(db: SqlExecutor, now: () => Date = () => new Date(), caller?: StoreCaller, settings: TransactionSettings = DEFAULT_SETTINGS, changes: StoredVersion[] = []) {
    this.db = db;
    this.now = now;
    this.caller = caller;
    this.rules = settings;
    this.changes = changes;
    caller?.onTransaction?.();
  }

  /** The caller's visibility, resolved once (again after an Organization is written). */
  protected resolvedAccess(): Promise<ResolvedAccess | undefined> {
    if (!this.caller?.access) {
      return Promise.resolve(undefined);
    }
    this.access ??= resolveAccess(this.db, this.caller);
    return this.access;
  }

  private async selectResource(resourceType: string, id: string, lock: boolean): Promise<ResourceRow | undefined> {
    const access = await this.resolvedAccess();
    const visible = access ? visibleWhere(access, 'r', this.db.dialect) : undefined;
    const sql = SELECT_RESOURCE + (visible ? ` AND ${visible.sql}` : '') + (lock && this.db.dialect === 'postgres' ? ' FOR UPDATE OF r' : '');
    const rows = await this.db.all<ResourceRow>(sql, [resourceType, id, ...(visible?.params ?? [])]);
    return rows[0];
  }

  async read(resourceType: string, id: string): Promise<StoredVersion | undefined> {
    const row = await this.selectResource(resourceType, id, false);
    return row ? toStoredVersion(row) : undefined;
  }

  /** The current row, locked against concurrent writers until the transaction ends (PostgreSQL). */
  private async readForUpdate(resourceType: string, id: string): Promise<{ version: StoredVersion; author: string | null } | undefined> {
    const row = await this.selectResource(resourceType, id, true);
    return row ? { version: toStoredVersion(row), author: row.author_org ?? null } : undefined;
  }

  async search(request: SearchRequest, options: SearchOptions = {}): Promise<SearchResult> {
    const access = await this.resolvedAccess();
    return runSearch(this.db, request, options, options.writable ? writableAccess(access) : access);
  }

  conditionCandidates(conditions: readonly SearchRequest[]): Promise<(string[] | undefined)[]> {
    return conditionCandidatesSql(this.db, conditions);
  }

  writeCursor(peer: string, queryKey: string, cursor: string): Promise<void> {
    return writeCursorSql(this.db, peer, queryKey, cursor, this.now().toISOString());
  }

  /** Runs sync bookkeeping (sync-sql.ts: leases, poll status) on this transaction's connection. */
  withSyncSql<T>(work: (db: SqlExecutor, now: Date) => Promise<T>): Promise<T> {
    return work(this.db, this.now());
  }

  /** Transaction-scoped locks on named groups (see StoreCaller.writeLocks), taken in one order. */
  private async lockGroups(resource: Resource): Promise<void> {
    const keys = [...new Set(this.caller?.writeLocks?.(resource) ?? [])].sort();
    if (this.db.dialect !== 'postgres') {
      return; // SQLite: the write transaction already has the database to itself
    }
    for (const key of keys) {
      await this.db.run('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [key]);
    }
  }

  /** The caller's beforeWrite rules; they may give the resource to store instead. */
  private async runBeforeWrite(change: Parameters<NonNullable<StoreCaller['beforeWrite']>>[0]): Promise<Resource> {
    const hook = this.caller?.beforeWrite;
    if (!hook) {
      return change.next;
    }
    const system = new SqlTransaction(this.db, this.now, undefined, this.rules, this.changes);
    return (await hook(change, { caller: this, system })) ?? change.next;
  }

  async create(input: Resource, options: CreateOptions = {}): Promise<WriteResult> {
    this.caller?.guardWrite?.({ resourceType: input.resourceType, next: input });
    await this.lockGroups(input);
    const resource = await this.runBeforeWrite({ resourceType: input.resourceType, next: input });
    if (options.ifNoneExist !== undefined) {
      return this.conditionalCreate(resource, options.ifNoneExist, options.assignedId, { searchedAbsent: options.searchedAbsent === true, minted: options.assignedIdMinted === true, writable: options.matchWritable === true }, options.index);
    }
    const id = options.assignedId ?? newResourceId();
    if (options.assignedId && !options.assignedIdMinted && (await this.exists(resource.resourceType, id))) {
      throw new OperationOutcomeError(conflict(`${resource.resourceType}/${id} already exists`));
    }
    return { outcome: 'created', version: await this.writeVersion(resource, id, 1, false, null, options.deferIndex === true && DEFERRABLE_TYPES.has(resource.resourceType), options.index) };
  }

  /** Whether the id is taken, seen or not (an id is never given out twice). */
  private async exists(resourceType: string, id: string): Promise<boolean> {
    return (await this.db.all('SELECT 1 FROM resources WHERE resource_type = ? AND id = ?', [resourceType, id])).length > 0;
  }

  private async conditionalCreate(resource: Resource, ifNoneExist: string, assignedId: string | undefined, { searchedAbsent, minted, writable }: { searchedAbsent: boolean; minted: boolean; writable: boolean }, index?: PreparedIndex): Promise<WriteResult> {
    const type = resource.resourceType;
    if (assignedId && !minted && (await this.exists(type, assignedId))) {
      throw new OperationOutcomeError(conflict(`${type}/${assignedId} already exists`));
    }
    // Each tenant's conditions are its own: one hospital's "identifier=MRN|1" never matches (nor
    // takes over the key of) another's resource.
    const query = (this.caller?.access ? `${organizationKeyOf(this.caller)}#` : '') + canonicalQuery(ifNoneExist);
    const condition = parseSearchRequest(`${type}?${canonicalQuery(ifNoneExist)}`);
    const newId = assignedId ?? newResourceId();
    // The key row is the lock: a second request with the same query waits here (PostgreSQL) or
    // behind the write transaction (SQLite) and then finds the first one's resource.
    const claimed = await this.db.run('INSERT INTO conditional_keys (resource_type, query, resource_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [type, query, newId]);
    if (claimed.changes === 0) {
      const [key] = await this.db.all<{ resource_id: string }>('SELECT resource_id FROM conditional_keys WHERE resource_type = ? AND query = ?', [type, query]);
      const existing = key ? await this.read(type, key.resource_id) : undefined;
      if (existing && !existing.deleted && (await this.matches(condition, existing.id, writable))) {
        return { outcome: 'existing', version: existing };
      }
      // The keyed resource was deleted or no longer matches: the key is stale, take it over.
      await this.db.run('UPDATE conditional_keys SET resource_id = ? WHERE resource_type = ? AND query = ?', [newId, type, query]);
    }
    if (claimed.changes === 1 && searchedAbsent) {
      // The key was free and the caller's search in this transaction found no match.
      return { outcome: 'created', version: await this.writeVersion(resource, newId, 1, false, null, false, index) };
    }
    // Resources created without a key (plain create, another query) may match too.
    const found = await this.search({ ...condition, count: 2 }, { writable });
    if (found.ignored.length > 0) {
      // A condition with a parameter we do not search by would match what the client never meant.
      throw new OperationOutcomeError(badRequest(`If-None-Exist uses parameters carebridge does not search by: ${found.ignored.join(', ')}`));
    }
    if (found.resources.length > 1) {
      throw multipleMatchesError('The If-None-Exist condition');
    }
    const match = found.resources[0];
    if (match?.id) {
      await this.db.run('UPDATE conditional_keys SET resource_id = ? WHERE resource_type = ? AND query = ?', [match.id, type, query]);
      return { outcome: 'existing', version: (await this.read(type, match.id)) as StoredVersion };
    }
    return { outcome: 'created', version: await this.writeVersion(resource, newId, 1, false, null, false, index) };
  }

  /** Whether the resource `id` still matches the condition (its key may have gone stale). */
  private async matches(condition: SearchRequest, id: string, writable: boolean): Promise<boolean> {
    const filters = [...(condition.filters ?? []), { code: '_id', operator: Operator.EQUALS, value: id }];
    return (await this.search({ ...condition, filters, count: 1 }, { writable })).resources.length === 1;
  }

  async update(input: Resource, options: UpdateOptions = {}): Promise<WriteResult> {
    const id = input.id;
    if (!id) {
      throw new OperationOutcomeError(badRequest('Update needs the resource id', `${input.resourceType}.id`));
    }
    await this.lockGroups(input);
    const locked = await this.readForUpdate(input.resourceType, id);
    const current = locked?.version;
    if (!current && this.caller?.access) {
      const explain = this.caller.explainHidden;
      const access = await this.resolvedAccess();
      if (explain && access) {
        await explain({ resourceType: input.resourceType, id }, { system: new SqlTransaction(this.db, this.now, undefined, this.rules, this.changes), organizationIds: access.organizationIds });
      }
      // Tenants create with POST (carebridge assigns ids); what they cannot see does not exist.
      throw new OperationOutcomeError(notFound);
    }
    const live = current && !current.deleted ? current.resource : undefined;
    // What the caller may change is checked on what it sent, before any rule writes on its behalf.
    this.caller?.guardWrite?.({ resourceType: input.resourceType, current: current?.resource, next: input, currentAuthor: locked?.author, exists: current !== undefined });
    const resource = { ...(await this.runBeforeWrite({ resourceType: input.resourceType, current: live, next: input, currentAuthor: locked?.author, ifMatch: options.ifMatch })), id };
    if (options.ifMatch !== undefined && current?.versionId !== options.ifMatch) {
      throw staleVersionError(input.resourceType, id, current && !current.deleted ? current.versionId : undefined);
    }
    if (!current) {
      if (options.allowCreate === false) {
        throw new OperationOutcomeError(badRequest(`${resource.resourceType}/${id} does not exist`));
      }
      return { outcome: 'created', version: await this.writeVersion(resource, id, 1, false, null, false, options.index) };
    }
    if (!current.deleted && current.resource && contentKey(current.resource) === contentKey(resource)) {
      return { outcome: 'unchanged', version: current };
    }
    return { outcome: current.deleted ? 'created' : 'updated', version: await this.writeVersion(resource, id, Number(current.versionId) + 1, false, locked.author, false, options.index) };
  }

  async delete(resourceType: string, id: string, options: DeleteOptions = {}): Promise<WriteResult | undefined> {
    const locked = await this.readForUpdate(resourceType, id);
    if (!locked) {
      return undefined;
    }
    const current = locked.version;
    // As update: the caller's right to change it first, then whether it is the version it saw.
    if (!current.deleted) {
      this.caller?.guardWrite?.({ resourceType, current: current.resource, currentAuthor: locked.author, exists: true });
    }
    if (options.ifMatch !== undefined && current.versionId !== options.ifMatch) {
      throw staleVersionError(resourceType, id, current.deleted ? undefined : current.versionId);
    }
    if (current.deleted) {
      return { outcome: 'deleted', version: current };
    }
    await this.db.run('DELETE FROM conditional_keys WHERE resource_type = ? AND resource_id = ?', [resourceType, id]);
    const version = await this.writeVersion({ resourceType, id } as Resource, id, Number(current.versionId) + 1, true, locked.author);
    return { outcome: 'deleted', version };
  }

  /** Writes one version: history row, current row, index rows, compartment and grants. */
  private async writeVersion(input: Resource, id: string, versionId: number, deleted: boolean, currentAuthor: string | null = null, deferIndex = false, index?: PreparedIndex): Promise<StoredVersion> {
    const type = input.resourceType;
    const date = this.now();
    const lastUpdated = date.toISOString();
    const resource: Resource | undefined = deleted ? undefined : ({ ...input, id, meta: { ...input.meta, versionId: String(versionId), lastUpdated } } as Resource);
    const content = resource ? JSON.stringify(resource) : null;
    // The author is whoever created the resource; later writers do not take it over.
    const author = versionId === 1 ? (this.caller ? organizationKeyOf(this.caller) : null) : currentAuthor;
    const historyParams = [type, id, versionId, lastUpdated, deleted ? 1 : 0, content];
    let seq: number;
    if (this.db.dialect === 'postgres' && versionId === 1 && resource && !deferIndex) {
      const stored = await this.writeFirstVersionPg(resource, id, historyParams, date, author, index);
      if (stored) {
        return stored;
      }
    }
    if (this.db.dialect === 'postgres') {
      // One round trip: the history row's seq feeds the current row in the same statement.
      const [row] = await this.db.all<{ seq: number | string }>(
        `WITH h AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, content) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq)
         INSERT INTO resources (resource_type, id, version_id, ordinal, seq, last_updated, last_updated_ms, deleted, content, author_org)
         SELECT ?, ?, ?, h.seq, h.seq, ?, ?, ?, ?, ? FROM h ${UPSERT_CURRENT} RETURNING seq`,
        [...historyParams, type, id, versionId, lastUpdated, date.getTime(), deleted ? 1 : 0, content, author],
      );
      seq = Number(row?.seq);
    } else {
      const [history] = await this.db.all<{ seq: number | string }>('INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, content) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq', historyParams);
      seq = Number(history?.seq);
      await this.db.run(
        `INSERT INTO resources (resource_type, id, version_id, ordinal, seq, last_updated, last_updated_ms, deleted, content, author_org) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ${UPSERT_CURRENT}`,
        [type, id, versionId, seq, seq, lastUpdated, date.getTime(), deleted ? 1 : 0, content, author],
      );
    }
    if (deferIndex) {
      await this.db.run('INSERT INTO index_backlog (resource_type, resource_id) VALUES (?, ?) ON CONFLICT DO NOTHING', [type, id]);
      const stored: StoredVersion = { resourceType: type, id, versionId: String(versionId), lastUpdated, seq, deleted, resource };
      this.written.push(stored);
      this.changes.push(stored);
      return stored;
    }
    if (versionId > 1 && DEFERRABLE_TYPES.has(type)) {
      // This version's rows are written now: a deferred earlier one needs none. First, so that on
      // PostgreSQL an indexer writing that version's rows (it holds this backlog row) commits
      // before they are deleted below; otherwise they would outlive it.
      await this.db.run('DELETE FROM index_backlog WHERE resource_type = ? AND resource_id = ?', [type, id]);
    }
    const rows = await this.writeIndex(type, id, resource, versionId === 1, index);
    // The audit trail is admin-only: it opens no compartment and needs none.
    if (type !== 'AuditEvent' && type !== 'Provenance') {
      await this.writeAccess(type, id, resource, rows, versionId === 1, author);
    }
    if (type === 'Organization') {
      this.access = undefined;
    }
    const stored: StoredVersion = { resourceType: type, id, versionId: String(versionId), lastUpdated, seq, deleted, resource };
    this.written.push(stored);
    this.changes.push(stored);
    return stored;
  }

  /**
   * Reads up to `limit` (at most 500) resources stored with deferIndex and extracts their index
   * rows, stopping early once `budgetMs` have passed (at least one is done). On SQLite the store
   * calls it outside any write transaction (on its reader): extracting is half of indexing's CPU,
   * and inside the transaction it held the write lock every process on the file shares. On
   * PostgreSQL it runs in the indexing transaction and `claim`s the rows it reads: the background
   * indexer skips those another instance holds (instances split the backlog instead of
   * extracting the same events); a search catching up waits for them (it must not miss them).
   */
  async prepareBacklog({ resourceType, limit, budgetMs = Infinity, claim, upToSeq }: BacklogRead): Promise<PreparedBacklog[]> {
    const started = performance.now();
    const lock = this.db.dialect === 'postgres' && claim ? (claim === 'skip' ? ' FOR UPDATE OF b SKIP LOCKED' : ' FOR UPDATE OF b') : '';
    // Waiting, in one order: two searches catching up never wait for each other in a circle.
    const order = lock && claim === 'wait' ? ' ORDER BY b.resource_type, b.resource_id' : '';
    const where = [...(resourceType ? ['b.resource_type = ?'] : []), ...(upToSeq !== undefined ? ['(r.seq IS NULL OR r.seq <= ?)'] : [])];
    const waiting = await this.db.all<BacklogRow>(`${BACKLOG_SELECT}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}${order} LIMIT ?${lock}`, [
      ...(resourceType ? [resourceType] : []),
      ...(upToSeq !== undefined ? [upToSeq] : []),
      Math.min(limit, MAX_BACKLOG_BATCH),
    ]);
    const prepared: PreparedBacklog[] = [];
    for (const row of waiting) {
      if (prepared.length > 0 && performance.now() - started > budgetMs) {
        break;
      }
      prepared.push(backlogItem(row));
    }
    return prepared;
  }

  /**
   * Writes the index rows `prepareBacklog` extracted: the batch's rows in one statement per table,
   * one delete (on PostgreSQL each statement is a round trip, and three of them per event kept the
   * indexer behind the audit trail of a busy server). Unless this transaction `claimed` them, only
   * for the resources still waiting: one another indexer took meanwhile is left to it, and one
   * updated or deleted meanwhile left the backlog then (writeVersion).
   */
  async indexBacklog(prepared: readonly PreparedBacklog[], claimed = false): Promise<number> {
    const batch = claimed ? prepared : await this.stillWaiting(prepared);
    for (const item of batch) {
      if (!item.firstVersion) {
        await this.deleteIndexRows(item.type, item.id);
      }
    }
    await this.insertIndexRows(batch);
    for (const [type, items] of groupByType(batch)) {
      await this.db.run(`DELETE FROM index_backlog WHERE resource_type = ? AND resource_id IN (${[...items.keys()].map(() => '?').join(', ')})`, [type, ...items.keys()]);
    }
    return batch.length;
  }

  /** Of `prepared`, what is still on the backlog (one read per type). */
  private async stillWaiting(prepared: readonly PreparedBacklog[]): Promise<PreparedBacklog[]> {
    const skipLocked = this.db.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
    const waiting: PreparedBacklog[] = [];
    for (const [type, items] of groupByType(prepared)) {
      const ids = [...items.keys()];
      const rows = await this.db.all<{ resource_id: string }>(`SELECT resource_id FROM index_backlog WHERE resource_type = ? AND resource_id IN (${ids.map(() => '?').join(', ')})${skipLocked}`, [type, ...ids]);
      rows.forEach((row) => waiting.push(items.get(row.resource_id) as PreparedBacklog));
    }
    return waiting;
  }

  private async writeIndex(type: string, id: string, resource: Resource | undefined, firstVersion: boolean, index?: PreparedIndex): Promise<IndexRows | undefined> {
    // A first version has no rows to replace: skipping six DELETEs is most of a create's SQL.
    if (!firstVersion) {
      await this.deleteIndexRows(type, id);
    }
    if (!resource) {
      return undefined;
    }
    const rows = indexRowsOf(resource, index);
    await this.insertIndexRows([{ type, id, rows }]);
    return rows;
  }

  private async deleteIndexRows(type: string, id: string): Promise<void> {
    if (this.db.dialect === 'postgres') {
      // One round trip: data-modifying CTEs all run, in one statement.
      const tables = indexTables(type);
      const [last, ...others] = [...tables].reverse();
      const ctes = others.map((table, i) => `d${i} AS (DELETE FROM ${table} WHERE resource_type = ? AND resource_id = ?)`);
      await this.db.run(`WITH ${ctes.join(', ')} DELETE FROM ${last} WHERE resource_type = ? AND resource_id = ?`, tables.flatMap(() => [type, id]));
      return;
    }
    for (const table of indexTables(type)) {
      await this.db.run(`DELETE FROM ${table} WHERE resource_type = ? AND resource_id = ?`, [type, id]);
    }
    if (AUDIT_INDEXED_TYPES.has(type)) {
      await this.db.run(`DELETE FROM ${AUDIT_REFERENCE_TERMS} WHERE rowid = (SELECT ordinal FROM resources WHERE resource_type = ? AND id = ?)`, [type, id]);
    }
  }

  /** The index rows of each resource (none for a deleted one). */
  private async insertIndexRows(items: readonly ResourceIndexRows[]): Promise<void> {
    if (this.db.dialect === 'postgres') {
      await this.insertIndexRowsPg(items);
      return;
    }
    for (const { type, id, rows } of items) {
      if (!rows) {
        continue;
      }
      for (const [table, columns, values] of indexRowsByTable(type, rows)) {
        await this.insertRows(table, columns, type, id, values);
      }
      if (AUDIT_INDEXED_TYPES.has(type)) {
        const terms = auditTermsOf(rows.reference);
        if (terms) {
          await this.db.run(`INSERT INTO ${AUDIT_REFERENCE_TERMS} (rowid, terms) SELECT ordinal, ? FROM resources WHERE resource_type = ? AND id = ?`, [terms, type, id]);
        }
      }
    }
  }

  /**
   * The resource's Patient compartment and the access it grants. A deleted resource keeps its
   * last compartment (its history and 410 stay visible to who saw it) but grants nothing.
   */
  private async writeAccess(type: string, id: string, resource: Resource | undefined, rows: IndexRows | undefined, firstVersion: boolean, author: string | null): Promise<void> {
    let before = new Set<string>();
    if (!firstVersion) {
      await this.db.run('DELETE FROM access_grants WHERE source_type = ? AND source_id = ?', [type, id]);
      if (!resource) {
        return;
      }
      const old = await this.db.all<{ patient_id: string }>('SELECT patient_id FROM resource_patients WHERE resource_type = ? AND resource_id = ?', [type, id]);
      before = new Set(old.map((r) => r.patient_id));
      await this.db.run('DELETE FROM resource_patients WHERE resource_type = ? AND resource_id = ?', [type, id]);
    }
    if (!resource || !rows) {
      return;
    }
    const { patients, grants } = this.compartment(type, id, resource, rows, author, before);
    for (const patient of patients) {
      await this.db.run('INSERT INTO resource_patients (resource_type, resource_id, patient_id) VALUES (?, ?, ?)', [type, id, patient]);
    }
    await this.insertGrants(grants);
  }

  /**
   * The patients whose compartment the resource is in, and the grants to write now; records the
   * patients it newly enters (checked in finish()) and the author grants written there.
   */
  private compartment(type: string, id: string, resource: Resource, rows: IndexRows, author: string | null, before: ReadonlySet<string>): { patients: string[]; grants: unknown[][] } {
    const patients = patientCompartment({ ...resource, id }, rows);
    for (const patient of patients) {
      if (!before.has(patient)) {
        this.touchedPatients.add(patient);
      }
    }
    const now: unknown[][] = [];
    const organizations = organizationGrants(resource, rows, this.rules.referralEndsOn);
    for (const patient of patients) {
      if (author) {
        const grant = [type, id, author, 'author', patient];
        // A Patient opens itself to its author at once: the rest of the transaction writes about it.
        // Only itself: the patients it links to (Patient.link puts it in their compartments too)
        // are checked in finish() like any other, or a link would open another tenant's patient.
        if (type === 'Patient' && patient === id) {
          now.push(grant);
        } else {
          this.pendingGrants.push(grant);
        }
      }
      now.push(...organizations.map((grant) => [type, id, grant.organization, grant.kind, patient]));
    }
    return { patients, grants: now };
  }

  /**
   * PostgreSQL, a resource's first version: the history and current rows, its index rows, its
   * compartment and grants in one statement (data-modifying CTEs all run), one round trip instead
   * of four. Undefined for a resource with too many index rows for one statement.
   */
  private async writeFirstVersionPg(resource: Resource, id: string, historyParams: unknown[], date: Date, author: string | null, index: PreparedIndex | undefined): Promise<StoredVersion | undefined> {
    const type = resource.resourceType;
    const rows = indexRowsOf(resource, index);
    const writes = indexInsertsPg([{ type, id, rows }]);
    if (writes.params.length > MAX_STATEMENT_PARAMS) {
      return undefined;
    }
    if (type !== 'AuditEvent' && type !== 'Provenance') {
      const { patients, grants } = this.compartment(type, id, resource, rows, author, new Set());
      addInsertPg(writes, 'resource_patients (resource_type, resource_id, patient_id)', patients.map((patient) => [type, id, patient]));
      addInsertPg(writes, 'access_grants (source_type, source_id, org_key, kind, patient_id)', grants, ' ON CONFLICT DO NOTHING');
    }
    const [, , versionId, lastUpdated, , content] = historyParams;
    const [row] = await this.db.all<{ seq: number | string }>(
      `WITH h AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, content) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq),
       r AS (INSERT INTO resources (resource_type, id, version_id, ordinal, seq, last_updated, last_updated_ms, deleted, content, author_org)
         SELECT ?, ?, ?, h.seq, h.seq, ?, ?, 0, ?, ? FROM h ${UPSERT_CURRENT} RETURNING seq)${writes.ctes.map((sql, i) => `, w${i} AS (${sql})`).join('')}
       SELECT seq FROM r`,
      [...historyParams, type, id, versionId, lastUpdated, date.getTime(), content, author, ...writes.params],
    );
    if (type === 'Organization') {
      this.access = undefined;
    }
    const stored: StoredVersion = { resourceType: type, id, versionId: '1', lastUpdated: lastUpdated as string, seq: Number(row?.seq), deleted: false, resource };
    this.written.push(stored);
    this.changes.push(stored);
    return stored;
  }

  /** Grant rows in multi-row INSERTs (a plan's ~50 author grants were ~50 round trips on PostgreSQL). */
  private async insertGrants(grants: unknown[][]): Promise<void> {
    for (let start = 0; start < grants.length; start += GRANTS_PER_INSERT) {
      const part = grants.slice(start, start + GRANTS_PER_INSERT);
      await this.db.run(`INSERT INTO access_grants (source_type, source_id, org_key, kind, patient_id) VALUES ${part.map(() => '(?, ?, ?, ?, ?)').join(', ')} ON CONFLICT DO NOTHING`, part.flat());
    }
  }

  /**
   * Before commit (the adapters call it after the work): a tenant may only put resources in the
   * compartment of a patient it may already see (one it created in this transaction counts), so
   * writing about another tenant's patient never opens that patient to it. Then the author
   * grants of the transaction are written.
   */
  async finish(): Promise<void> {
    if (this.caller?.access && this.touchedPatients.size > 0) {
      this.access = undefined;
      for (const patient of this.touchedPatients) {
        if (!(await this.read('Patient', patient))) {
          throw new OperationOutcomeError({
            ...forbidden,
            issue: [{ severity: 'error', code: 'forbidden', details: { text: 'This client may not write about a patient it cannot see' } }],
          });
        }
      }
    }
    await this.insertGrants(this.pendingGrants.splice(0));
    this.touchedPatients.clear();
    const written = this.written.splice(0);
    if (written.length > 0 && this.caller?.afterWrites) {
      // Shares this transaction's outbox changes: what the rules write is sent like the write itself.
      await this.caller.afterWrites(written, { caller: this, system: new SqlTransaction(this.db, this.now, undefined, this.rules, this.changes) });
    }
    if (written.length > 0 && this.caller?.recordWrites) {
      await this.caller.recordWrites(written, new SqlTransaction(this.db, this.now, undefined, this.rules));
    }
    const changes = this.changes.splice(0);
    if (changes.length > 0 && this.rules.outboxRouter) {
      // In this transaction: the change and what must be sent of it commit together, or neither.
      const entries = await this.rules.outboxRouter.route(changes, this.routingContext());
      if (entries.length > 0) {
        await enqueueSql(this.db, entries, this.now().getTime());
      }
    }
  }

  private routingContext(): RoutingContext {
    const system = new SqlTransaction(this.db, this.now, undefined, this.rules);
    return {
      writer: this.caller ? organizationKeyOf(this.caller) : null,
      system,
      visibleTo: async (caller, resourceType, id) => (await new SqlTransaction(this.db, this.now, caller, this.rules).read(resourceType, id)) !== undefined,
      organizationIdsOf: async (caller) => (await resolveAccess(this.db, caller))?.organizationIds ?? [],
      patientOf: async (resourceType, id) => {
        if (resourceType === 'Patient') {
          return id;
        }
        const [row] = await this.db.all<{ patient_id: string }>('SELECT patient_id FROM resource_patients WHERE resource_type = ? AND resource_id = ? ORDER BY patient_id LIMIT 1', [resourceType, id]);
        return row?.patient_id ?? '';
      },
      nextEventNumbers: (destination, count) => nextEventNumbersSql(this.db, destination, count),
      changeMark: (resourceType) => changeMarkSql(this.db, resourceType),
    };
  }

  /**
   * PostgreSQL: every index row of the resources in one statement (a round trip per table was most
   * of a write's time there): one multi-row INSERT per table, chained as data-modifying CTEs.
   */
  private async insertIndexRowsPg(items: readonly ResourceIndexRows[]): Promise<void> {
    const { ctes, params } = indexInsertsPg(items);
    if (ctes.length === 0) {
      return;
    }
    // PostgreSQL takes at most 65,535 parameters a statement: a batch that large goes resource by
    // resource, a resource that large table by table.
    if (params.length > MAX_STATEMENT_PARAMS) {
      if (items.length > 1) {
        for (const item of items) {
          await this.insertIndexRowsPg([item]);
        }
        return;
      }
      for (const { type, id, rows } of items) {
        for (const [table, columns, values] of rows ? indexRowsByTable(type, rows) : []) {
          await this.insertRows(table, columns, type, id, values);
        }
      }
      return;
    }
    const last = ctes.pop() as string;
    await this.db.run(ctes.length > 0 ? `WITH ${ctes.map((sql, i) => `i${i} AS (${sql})`).join(', ')} ${last}` : last, params);
  }

  /**
   * SQLite: one prepared single-row INSERT per table, reused (in-process calls are cheap; a
   * statement per row count would miss the statement cache). PostgreSQL: one multi-row INSERT per
   * table, since every statement is a round trip.
   */
  private async insertRows(table: string, columns: string[], type: string, id: string, rows: unknown[][]): Promise<void> {
    if (rows.length === 0) {
      return;
    }
    if (this.db.dialect === 'sqlite') {
      const sql = `INSERT INTO ${table} (resource_type, resource_id, ${columns.join(', ')}) VALUES (${new Array(columns.length + 2).fill('?').join(', ')})`;
      for (const row of rows) {
        await this.db.run(sql, [type, id, ...row]);
      }
      return;
    }
    const width = columns.length + 2;
    const chunk = Math.floor(30_000 / width);
    for (let start = 0; start < rows.length; start += chunk) {
      const part = rows.slice(start, start + chunk);
      const placeholders = part.map(() => `(${new Array(width).fill('?').join(', ')})`).join(', ');
      await this.db.run(`INSERT INTO ${table} (resource_type, resource_id, ${columns.join(', ')}) VALUES ${placeholders}`, part.flatMap((r) => [type, id, ...r]));
    }
  }
}
