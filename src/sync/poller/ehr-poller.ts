// EHR polling (issue 6): for each of a peer's pull queries, what changed at the peer since the
// query's cursor, page by page; each page's resources and the cursor that covers them commit in
// one store transaction, so a crash mid-run re-reads the page it was on and never skips one.
//
// Paging, and why the cursor is asked with `ge`, not `gt`:
// - Each page is asked as `<query>&_lastUpdated=ge<cursor>&_sort=_lastUpdated&_count=<n>`, the
//   cursor being the newest lastUpdated of the pages committed so far. `gt` would skip a resource
//   updated in the same instant as the cursor that landed on the next page (or was written at the
//   peer just after we read that instant): with `ge` the resources of the cursor's instant are read
//   again, which costs nothing, since storing an unchanged resource makes no new version.
// - A page is asked from the cursor again rather than through the peer's `next` link: many
//   servers page by offset, and a resource updated at the peer during the run moves to the end of
//   the list, shifting later pages by one, so the resource that slid back onto the page already
//   read would be missed, and the cursor would pass it for good. The `next` link is followed only
//   when a whole page shares the cursor's instant (then asking from the cursor would return the
//   same page again).
//
// Untrusted input: a page that is not a searchset Bundle of the type asked is refused whole (no
// cursor move; the run ends with the error recorded). A resource that fails the API's validation,
// or that the write path refuses, is skipped, logged (type, the peer's id, issue codes and paths,
// never a value) and counted, and the cursor moves past it: it is invalid as the peer holds it, so
// reading it again would fail again and block the peer for good; once the peer corrects it, its
// lastUpdated changes and the next poll reads it again. A failure that may pass (the peer down, a
// timeout, the database) stores nothing of the page and moves no cursor.
import { createHash } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import { isSupportedType } from '../../api/fhir/supported.ts';
import type { PeerConfig } from '../../config/peers.ts';
import { DEFAULT_POLL_PAGE_SIZE } from '../../config/peers.ts';
import type { Logger } from '../../log/logger.ts';
import type { FhirStore } from '../../store/fhir-store.ts';
import { PEER_RUN } from '../../store/sync-store.ts';
import { PeerClient, PeerError } from '../connectors/peer-client.ts';
import { peerCaller } from './peer-caller.ts';
import type { ImportCounts, ImportLimits, PageMemory, SkipRecord } from './resource-import.ts';
import { RefusedWrite, ResourceImporter } from './resource-import.ts';
import { PeerProtocolError, lastUpdatedOf, readSearchPage } from './search-page.ts';
import type { SearchPage } from './search-page.ts';
import type { WorkflowSettings } from '../../workflow/write-rules.ts';

export { originIdentifier, originSystem, peerIdOf } from '../origin-identifier.ts';

export interface PollLimits extends ImportLimits {
  /** Pages read per query and run; the next run goes on from the cursor. */
  maxPagesPerQuery: number;
  /** A lastUpdated further ahead of our clock than this does not move the cursor (a peer's clock, or a hostile peer, must not stop polling). */
  maxClockSkewMs: number;
}

export const DEFAULT_POLL_LIMITS: PollLimits = {
  maxPagesPerQuery: 1000,
  // An Encounter's patient (1), the patient's managing organization or practitioner (2), that
  // organization's parent (3); further than that a reference stays on the peer.
  maxReferenceDepth: 3,
  // 100 resources of a page, each with a patient and a practitioner or two we do not have yet.
  maxReferenceFetches: 300,
  maxClockSkewMs: 5 * 60_000,
};

/** A first poll reads what changed in the last 30 days. */
export const DEFAULT_INITIAL_LOOKBACK_MS = 30 * 24 * 3600_000;

export interface PollDeps {
  store: FhirStore;
  /** The peer's HTTP client (default: one made from the peer's config). */
  client?: PeerClient;
  now?: () => Date;
  logger?: Logger;
  /** How far back a query without a cursor starts. */
  initialLookbackMs?: number;
  limits?: Partial<PollLimits>;
  /** When the run began (a scheduled run: its slot); default now. */
  startedAt?: Date;
  /** Aborted: the run stops before its next page (what is committed stays). */
  signal?: AbortSignal;
  /** Called after each committed page (the scheduler renews its lease); a throw ends the run. */
  afterPage?: () => Promise<void>;
  /**
   * A bounded range instead of the queries' cursors (carebridge backfill): what was last updated
   * from `since` up to, not including, `until`. It moves no cursor and records no poll run: the
   * scheduled poller goes on where it was.
   */
  window?: PollWindow;
  /** Called after each committed page with what it held and the query's counts so far (a progress display). */
  onPage?: (page: SearchPage, sofar: QueryPollResult) => void;
  /** The workflow's settings for the EHR's writes (the TCM clock rules). */
  workflow?: WorkflowSettings;
}

/** Two instants (ISO 8601 with a zone), `since` before `until`. */
export interface PollWindow {
  since: string;
  until: string;
}

/**
 * A peer's resource id stands in logs only as a digest: an EHR may use the MRN as a Patient's id,
 * and a log never carries an identifier's value. Operators find the resource by hashing its id.
 */
export function logRef(peerId: string | undefined): string | undefined {
  return peerId === undefined ? undefined : createHash('sha256').update(peerId).digest('hex').slice(0, 12);
}

export interface QueryPollResult {
  queryKey: string;
  ok: boolean;
  error?: string;
  /** Stopped by the signal before the end. */
  stopped: boolean;
  pages: number;
  /** New versions stored: created or changed. */
  stored: number;
  unchanged: number;
  /** Matches not stored (invalid, refused, broken entries). */
  skipped: number;
  /** Resources fetched from the peer to resolve references. */
  fetched: number;
  /** References left pointing at the peer (target missing, invalid, or past the limits). */
  unresolved: number;
  /** The cursor after the run. */
  cursor?: string;
  /** The run failed because the peer was down, slow or overloaded (it may pass), not because of what it answered. */
  unreachable?: boolean;
}

export interface PeerPollResult {
  peer: string;
  startedAt: string;
  finishedAt: string;
  /** Every query ran to its end without an error. */
  ok: boolean;
  stopped: boolean;
  queries: QueryPollResult[];
}

/** A configured query split into its type and its own parameters (ours are added per page). */
export interface PullQuery {
  key: string;
  resourceType: string;
  /** The query's parameters as written, without the ones the poller sets. */
  params: string;
}

/** Set by the poller on every page; a query's own values for them are dropped. */
const POLLER_PARAMS = new Set(['_lastUpdated', '_sort', '_count', '_offset']);

/** A pull query carebridge cannot run (the config's mistake, not the peer's). */
export class PullQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PullQueryError';
  }
}

export function parsePullQuery(query: string): PullQuery {
  const key = query.trim();
  const [path = '', rest = ''] = key.split(/\?(.*)/s);
  const resourceType = path.replace(/^\/+/, '');
  if (!isSupportedType(resourceType)) {
    throw new PullQueryError('the pull query does not search a resource type carebridge stores');
  }
  const params = rest
    .split('&')
    .filter((p) => p !== '' && !POLLER_PARAMS.has(safeDecode(p.split('=')[0] ?? '')))
    .join('&');
  return { key, resourceType, params };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** A page from `cursor` on; a window's end bounds it, and a window's first page asks the peer to count (the progress bar's ETA). */
export function pageRequest(query: PullQuery, cursor: string, count: number, window?: { until: string; countTotal: boolean }): string {
  const bounds = `_lastUpdated=ge${encodeURIComponent(cursor)}${window ? `&_lastUpdated=lt${encodeURIComponent(window.until)}` : ''}`;
  const ours = `${bounds}&_sort=_lastUpdated&_count=${count}${window?.countTotal ? '&_total=accurate' : ''}`;
  return `${query.resourceType}?${query.params ? `${query.params}&` : ''}${ours}`;
}

const STOPPED = 'stopped before the end (carebridge was stopping)';

/** Removes the page's matches last updated at or after `untilMs` (sorted by _lastUpdated, they end the window); returns how many. */
function dropPast(page: SearchPage, untilMs: number): number {
  const before = page.matches.length;
  page.matches = page.matches.filter((r) => (lastUpdatedOf(r)?.ms ?? -Infinity) < untilMs);
  return before - page.matches.length;
}

/** What went wrong, fit for the health record and logs: carebridge's words, never the peer's body. */
function describeError(err: unknown): string {
  if (err instanceof PeerError) {
    return `${err.message} (${err.failure})`;
  }
  if (err instanceof PeerProtocolError) {
    return `page refused: ${err.message}`;
  }
  if (err instanceof PullQueryError) {
    return err.message;
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `poll failed: ${err.name}${typeof code === 'string' ? ` ${code.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 20)}` : ''}`;
  }
  return 'poll failed';
}

class QueryRun {
  private readonly peer: PeerConfig;
  private readonly query: PullQuery;
  private readonly deps: PollDeps;
  private readonly store: FhirStore;
  private readonly client: PeerClient;
  private readonly limits: PollLimits;
  private readonly now: () => Date;
  readonly result: QueryPollResult;
  private readonly skippedSoFar = new Set<string>();

  constructor(peer: PeerConfig, query: PullQuery, store: FhirStore, client: PeerClient, deps: PollDeps, limits: PollLimits) {
    this.peer = peer;
    this.query = query;
    this.store = store;
    this.client = client;
    this.deps = deps;
    this.limits = limits;
    this.now = deps.now ?? (() => new Date());
    this.result = { queryKey: query.key, ok: true, stopped: false, pages: 0, stored: 0, unchanged: 0, skipped: 0, fetched: 0, unresolved: 0 };
  }

  async run(): Promise<void> {
    const pageSize = this.peer.pull?.pageSize ?? DEFAULT_POLL_PAGE_SIZE;
    const window = this.deps.window;
    let cursor = window?.since ?? (await this.store.readCursor(this.peer.name, this.query.key)) ?? new Date(this.now().getTime() - (this.deps.initialLookbackMs ?? DEFAULT_INITIAL_LOOKBACK_MS)).toISOString();
    let cursorMs = Date.parse(cursor);
    let next: string | undefined;
    for (;;) {
      if (this.deps.signal?.aborted) {
        this.result.stopped = true;
        break;
      }
      if (this.result.pages >= this.limits.maxPagesPerQuery) {
        this.deps.logger?.warn('poll page limit reached', { peer: this.peer.name, queryKey: this.query.key, pages: this.result.pages });
        break;
      }
      const { body } = await this.client.request('GET', { path: next ?? pageRequest(this.query, cursor, pageSize, window && { until: window.until, countTotal: this.result.pages === 0 }) });
      const page = readSearchPage(body, this.query.resourceType);
      // A peer that ignores the window's end: what lies past it is not read, and the run ends here.
      const past = window ? dropPast(page, Date.parse(window.until)) : 0;
      this.result.pages += 1;
      const newest = this.newestOf(page, cursorMs);
      await this.importPage(page, newest && newest.ms > cursorMs && !window ? newest.text : undefined);
      await this.deps.afterPage?.();
      this.deps.onPage?.(page, this.result);
      const moved = newest !== undefined && newest.ms > cursorMs;
      if (moved) {
        cursor = newest.text;
        cursorMs = newest.ms;
      }
      this.result.cursor = cursor;
      if (page.matches.length === 0 || past > 0) {
        break;
      }
      if (moved) {
        // The end, unless the peer says there is more or gave a full page (it may not link pages).
        if (!page.next && page.matches.length < pageSize) {
          break;
        }
        next = undefined;
      } else if (page.next) {
        next = page.next; // a whole page at the cursor's instant: only the peer's link gets past it
      } else {
        if (page.matches.length >= pageSize) {
          throw new PeerProtocolError(`more than ${pageSize} resources share one lastUpdated and the peer gives no next link; raise pull.pageSize`);
        }
        break;
      }
    }
  }

  /** The records of resources this run has not skipped before. */
  private firstSeen(records: SkipRecord[]): SkipRecord[] {
    return records.filter((r) => {
      const key = `${r.resourceType}/${r.peerId}`;
      const first = !this.skippedSoFar.has(key);
      this.skippedSoFar.add(key);
      return first;
    });
  }

  /** The newest lastUpdated of the page's matches that is not ahead of our clock by more than the allowed skew. */
  private newestOf(page: SearchPage, floorMs: number): { text: string; ms: number } | undefined {
    const horizon = this.now().getTime() + this.limits.maxClockSkewMs;
    let newest: { text: string; ms: number } | undefined;
    for (const resource of page.matches) {
      const updated = lastUpdatedOf(resource);
      if (!updated) {
        continue;
      }
      if (updated.ms > horizon) {
        this.deps.logger?.warn('poll ignored a lastUpdated in the future', { peer: this.peer.name, queryKey: this.query.key, resourceType: resource.resourceType });
        continue;
      }
      if (updated.ms >= floorMs && (!newest || updated.ms > newest.ms)) {
        newest = updated;
      }
    }
    return newest;
  }

  /**
   * The page in one transaction, with the cursor. A write the store refuses rolls it back: the
   * page is imported again without that resource (at most once per resource of the page).
   */
  private async importPage(page: SearchPage, cursor: string | undefined): Promise<void> {
    const inPage = new Map<string, Resource>([...page.included, ...page.matches].filter((r) => typeof r.id === 'string').map((r) => [`${r.resourceType}/${r.id}`, r]));
    const memory: PageMemory = { fetched: new Map(), fetchesLeft: this.limits.maxReferenceFetches };
    const refused: SkipRecord[] = [];
    const excluded = new Set<string>();
    let counts: ImportCounts;
    for (;;) {
      try {
        counts = await this.store.transaction(async (tx) => {
          const importer = new ResourceImporter({ tx, client: this.client, fhirBaseUrl: this.peer.fhirBaseUrl as string, limits: this.limits, memory, inPage });
          for (const resource of page.matches) {
            if (!excluded.has(`${resource.resourceType}/${resource.id}`)) {
              await importer.importEntry(resource);
            }
          }
          if (cursor !== undefined) {
            await tx.writeCursor(this.peer.name, this.query.key, cursor);
          }
          return importer.counts;
        });
        break;
      } catch (err) {
        if (err instanceof RefusedWrite && !excluded.has(err.entryKey) && excluded.size < page.matches.length) {
          excluded.add(err.entryKey);
          refused.push(err.record);
          continue;
        }
        throw err;
      }
    }
    // Logged once the page committed (a rolled-back attempt's skips may not be its last word), and
    // once a run: the resources of the cursor's instant are read again by the next page.
    const skipped = this.firstSeen([...refused, ...counts.skipped]);
    for (const record of skipped) {
      this.deps.logger?.warn('poll skipped a resource', { peer: this.peer.name, queryKey: this.query.key, resourceType: record.resourceType, peerRef: logRef(record.peerId), reason: record.reason, issues: record.issues });
    }
    for (const record of this.firstSeen(counts.skippedTargets)) {
      this.deps.logger?.warn('poll could not store a referenced resource', { peer: this.peer.name, queryKey: this.query.key, resourceType: record.resourceType, peerRef: logRef(record.peerId), reason: record.reason, issues: record.issues });
    }
    this.result.stored += counts.created + counts.updated;
    this.result.unchanged += counts.unchanged;
    this.result.skipped += skipped.length + page.broken;
    this.result.fetched += counts.fetched;
    this.result.unresolved += counts.unresolved;
    this.deps.logger?.info('poll page stored', {
      peer: this.peer.name,
      queryKey: this.query.key,
      page: this.result.pages,
      created: counts.created,
      updated: counts.updated,
      unchanged: counts.unchanged,
      skipped: skipped.length + page.broken,
      fetched: counts.fetched,
      unresolved: counts.unresolved,
    });
  }
}

/**
 * Polls each of the peer's pull queries once, in order (a failed query does not stop the
 * others), and records each query's health and the whole run's (PEER_RUN) in the store.
 */
export async function pollPeer(peer: PeerConfig, deps: PollDeps): Promise<PeerPollResult> {
  if (!peer.pull || !peer.fhirBaseUrl) {
    throw new Error(`peer ${peer.name} has nothing to poll`);
  }
  const now = deps.now ?? (() => new Date());
  const startedAt = (deps.startedAt ?? now()).toISOString();
  const limits: PollLimits = { ...DEFAULT_POLL_LIMITS, ...deps.limits };
  const client = deps.client ?? new PeerClient(peer);
  const store = deps.store.forCaller(peerCaller(peer, randomUUID(), now, deps.workflow));
  const queries: QueryPollResult[] = [];
  for (const text of peer.pull.queries) {
    if (deps.signal?.aborted) {
      break;
    }
    let run: QueryRun | undefined;
    let result: QueryPollResult;
    try {
      run = new QueryRun(peer, parsePullQuery(text), store, client, deps, limits);
      await run.run();
      result = run.result.stopped ? { ...run.result, ok: false, error: STOPPED } : run.result;
    } catch (err) {
      const error = describeError(err);
      const unreachable = err instanceof PeerError && err.failure === 'retry';
      result = { ...(run?.result ?? { queryKey: text.trim(), stopped: false, pages: 0, stored: 0, unchanged: 0, skipped: 0, fetched: 0, unresolved: 0 }), ok: false, error, ...(unreachable ? { unreachable } : {}) };
      deps.logger?.error('poll failed', { peer: peer.name, queryKey: result.queryKey, error, pages: result.pages });
    }
    queries.push(result);
    if (!deps.window) {
      await deps.store.recordPollRun(peer.name, result.queryKey, { startedAt, finishedAt: now().toISOString(), ok: result.ok, error: result.error, stored: result.stored, skipped: result.skipped });
    }
  }
  const stopped = deps.signal?.aborted === true || queries.some((q) => q.stopped);
  const ok = !stopped && queries.length === peer.pull.queries.length && queries.every((q) => q.ok);
  const finishedAt = now().toISOString();
  const firstError = queries.find((q) => !q.ok)?.error;
  if (deps.window) {
    return { peer: peer.name, startedAt, finishedAt, ok, stopped, queries };
  }
  await deps.store.recordPollRun(peer.name, PEER_RUN, {
    startedAt,
    finishedAt,
    ok,
    ...(ok ? {} : { error: firstError ?? STOPPED }),
    stored: queries.reduce((n, q) => n + q.stored, 0),
    skipped: queries.reduce((n, q) => n + q.skipped, 0),
  });
  return { peer: peer.name, startedAt, finishedAt, ok, stopped, queries };
}
