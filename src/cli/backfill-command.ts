// carebridge backfill: pulls what an EHR peer last updated in a date range, with the poller's own
// machinery (src/sync/poller: its queries, validation, identity, reference resolution and
// page-by-page transactions) over a bounded _lastUpdated window that moves no cursor. Stopped
// anywhere, it keeps what it committed, and a second run stores nothing twice (our copies are
// found by the peer's id, and an unchanged resource makes no new version).
import type { PeerConfig } from '../config/peers.ts';
import { createLogger } from '../log/logger.ts';
import type { Logger } from '../log/logger.ts';
import { DEFAULT_DATABASE } from '../store/open-store.ts';
import type { PeerClientOptions } from '../sync/connectors/peer-client.ts';
import { PeerClient } from '../sync/connectors/peer-client.ts';
import type { PeerPollResult, PollWindow, QueryPollResult } from '../sync/poller/ehr-poller.ts';
import { pollPeer } from '../sync/poller/ehr-poller.ts';
import type { SearchPage } from '../sync/poller/search-page.ts';
import { lastUpdatedOf } from '../sync/poller/search-page.ts';
import { loadDefinitions } from '../validation/definitions.ts';
import { loadPeers } from './config-access.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, exitCodes } from './exit-codes.ts';
import type { Io } from './output.ts';
import type { Progress } from './progress.ts';
import { progressOnStderr } from './progress.ts';
import { withCommandStore } from './store-access.ts';

export const BACKFILL_HELP = `Usage: carebridge backfill --peer <name> --since <date> [--until <date>] [--json]

Pulls what an EHR peer last updated in a range of dates, with that peer's pull queries from
CAREBRIDGE_CONFIG and the poller's machinery: the same validation, identity (the peer's id kept as
an identifier, so never a duplicate), reference resolution and storage, one transaction a page.
The scheduled poller's cursor and health are left as they were. Stopped anywhere (Ctrl-C, the
peer going down), it keeps what it stored; run it again and nothing is stored twice. A progress
line with the rate, and an ETA when the peer counts its matches, goes to stderr.
Options:
  --peer <name>    an EHR peer of CAREBRIDGE_CONFIG with a pull section
  --since <date>   from this day (YYYY-MM-DD, UTC) or instant (2026-11-01T08:00:00Z), included
  --until <date>   up to this day or instant, not included (default: now)
  --json           print the summary as JSON: { peer, since, until, ok, stopped, fetched, stored,
                   skipped, referenced, unresolved, errors: [{ query, error }], queries: [...] }
Environment: CAREBRIDGE_CONFIG, CAREBRIDGE_DATABASE (default ${DEFAULT_DATABASE}), LOG_LEVEL (default warn, on stderr).
${exitCodes({ ok: 'the whole range was read', failed: 'a query failed or the run was stopped (what was stored is kept)', unreachable: 'the store or the peer cannot be reached (what was stored is kept)' })}`;

export interface BackfillFlags {
  peer?: string;
  since?: string;
  until?: string;
  json?: boolean;
}

export interface BackfillOptions {
  /** Whether stderr is a terminal (a redrawn progress line). */
  tty?: boolean;
  /** Stops the run after the page it is on (default: SIGINT or SIGTERM). */
  signal?: AbortSignal;
  logger?: Logger;
  /** The peer client's options (tests: a fetch that fails on cue). */
  client?: PeerClientOptions;
  now?: () => Date;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** A day (its start, UTC) or an instant with a zone, as an ISO instant; undefined if it is neither. */
export function parseBound(text: string): string | undefined {
  if (DAY.test(text)) {
    const start = new Date(`${text}T00:00:00.000Z`);
    // 2026-02-30 parses as March 2nd: only a real day round-trips.
    return !Number.isNaN(start.getTime()) && start.toISOString().slice(0, 10) === text ? start.toISOString() : undefined;
  }
  const ms = INSTANT.test(text) ? Date.parse(text) : NaN;
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function windowOf(flags: BackfillFlags, now: Date): PollWindow | string {
  if (!flags.peer || !flags.since) {
    return 'backfill needs --peer <name> and --since <date>';
  }
  const since = parseBound(flags.since);
  const until = flags.until === undefined ? now.toISOString() : parseBound(flags.until);
  if (!since) {
    return `--since must be a day (YYYY-MM-DD) or an instant with a time zone, not "${flags.since.slice(0, 40)}"`;
  }
  if (!until) {
    return `--until must be a day (YYYY-MM-DD) or an instant with a time zone, not "${(flags.until ?? '').slice(0, 40)}"`;
  }
  if (Date.parse(since) >= Date.parse(until)) {
    return `--since (${since}) must come before --until (${until})`;
  }
  return { since, until };
}

/**
 * One query's progress. Pages are asked from the newest lastUpdated read so far, inclusive, so the
 * resources of that instant come again on the next page: they are counted once.
 */
class QueryTally {
  readonly progress: Progress;
  fetched = 0;
  private instantMs = -Infinity;
  private atInstant = new Set<string>();

  constructor(progress: Progress) {
    this.progress = progress;
  }

  add(page: SearchPage): void {
    if (this.fetched === 0 && page.total !== undefined) {
      this.progress.setTotal(page.total);
    }
    let newest = this.instantMs;
    for (const resource of page.matches) {
      const key = `${resource.resourceType}/${resource.id}`;
      const ms = lastUpdatedOf(resource)?.ms;
      if (!(ms === this.instantMs && this.atInstant.has(key))) {
        this.fetched += 1;
      }
      newest = Math.max(newest, ms ?? -Infinity);
    }
    if (newest > this.instantMs) {
      this.atInstant = new Set();
      this.instantMs = newest;
    }
    for (const resource of page.matches) {
      if (lastUpdatedOf(resource)?.ms === this.instantMs) {
        this.atInstant.add(`${resource.resourceType}/${resource.id}`);
      }
    }
    this.progress.update(this.fetched);
  }
}

/** What a run did, as --json prints it. */
export interface BackfillSummary {
  peer: string;
  since: string;
  until: string;
  ok: boolean;
  stopped: boolean;
  fetched: number;
  stored: number;
  skipped: number;
  referenced: number;
  unresolved: number;
  errors: { query: string; error: string }[];
  queries: { query: string; ok: boolean; pages: number; fetched: number; stored: number; skipped: number; referenced: number; unresolved: number; error?: string }[];
}

function summarize(result: PeerPollResult, window: PollWindow, tallies: Map<string, QueryTally>): BackfillSummary {
  const sum = (pick: (q: BackfillSummary['queries'][number]) => number): number => queries.reduce((n, q) => n + pick(q), 0);
  const queries = result.queries.map((q: QueryPollResult) => ({
    query: q.queryKey,
    ok: q.ok,
    pages: q.pages,
    fetched: tallies.get(q.queryKey)?.fetched ?? 0,
    stored: q.stored,
    skipped: q.skipped,
    referenced: q.fetched,
    unresolved: q.unresolved,
    ...(q.error ? { error: q.error } : {}),
  }));
  return {
    peer: result.peer,
    since: window.since,
    until: window.until,
    ok: result.ok,
    stopped: result.stopped,
    fetched: sum((q) => q.fetched),
    stored: sum((q) => q.stored),
    skipped: sum((q) => q.skipped),
    referenced: sum((q) => q.referenced),
    unresolved: sum((q) => q.unresolved),
    errors: queries.flatMap((q) => (q.error ? [{ query: q.query, error: q.error }] : [])),
    queries,
  };
}

function printSummary(summary: BackfillSummary, io: Io): void {
  io.out(`Backfill of ${summary.peer} from ${summary.since} until ${summary.until}${summary.stopped ? ' (stopped before the end)' : ''}:`);
  for (const q of summary.queries) {
    io.out(`  ${q.ok ? '✔' : '✖'} ${q.query}: ${q.pages} pages, fetched ${q.fetched}, stored ${q.stored}, skipped ${q.skipped} invalid${q.error ? ` — ${q.error}` : ''}`);
  }
  io.out(`Fetched ${summary.fetched}, stored ${summary.stored} (with ${summary.referenced} referenced resources fetched), skipped ${summary.skipped} invalid, ${summary.errors.length} error${summary.errors.length === 1 ? '' : 's'}.`);
}

/** Aborts on the first SIGINT or SIGTERM (the run stops after its page); a second one ends the process as usual. */
function stopOnSignal(io: Io): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const stop = (): void => {
    release();
    io.err('Stopping after this page; what is stored is kept (again to quit at once).');
    controller.abort();
  };
  const release = (): void => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return { signal: controller.signal, release };
}

export async function runBackfill(flags: BackfillFlags, io: Io, env: NodeJS.ProcessEnv = process.env, options: BackfillOptions = {}): Promise<number> {
  const window = windowOf(flags, options.now?.() ?? new Date());
  if (typeof window === 'string') {
    io.err(`${window}\n\n${BACKFILL_HELP}`);
    return EXIT_USAGE;
  }
  const loaded = loadPeers(io, env, flags.peer as string, '--peer');
  if (!loaded.peer) {
    return loaded.exit;
  }
  const peer: PeerConfig = loaded.peer;
  let client: PeerClient;
  try {
    client = new PeerClient(peer, { env, ...options.client });
  } catch (err) {
    io.err(`Cannot call ${peer.name}: ${(err as Error).message}`);
    return EXIT_FAILED;
  }
  return withCommandStore(io, env, async (store) => {
    loadDefinitions();
    const logger = options.logger ?? createLogger({ level: env.LOG_LEVEL || 'warn', stream: process.stderr });
    const interrupt = options.signal ? undefined : stopOnSignal(io);
    const tallies = new Map<string, QueryTally>();
    let current: QueryTally | undefined;
    let result: PeerPollResult;
    try {
      result = await pollPeer(peer, {
        store,
        client,
        logger,
        window,
        workflow: loaded.workflow,
        signal: options.signal ?? interrupt?.signal,
        // The whole range, however many pages: there is no next run to go on from.
        limits: { maxPagesPerQuery: Number.MAX_SAFE_INTEGER },
        onPage: (page, sofar) => {
          let tally = tallies.get(sofar.queryKey);
          if (!tally) {
            current?.progress.finish(current.fetched);
            tally = new QueryTally(progressOnStderr(io, { label: `backfill ${sofar.queryKey}`, tty: options.tty }));
            tallies.set(sofar.queryKey, tally);
            current = tally;
          }
          tally.add(page);
        },
      });
    } finally {
      interrupt?.release();
      if (options.logger === undefined) {
        logger.close();
      }
    }
    current?.progress.finish(current.fetched);
    const summary = summarize(result, window, tallies);
    if (flags.json) {
      io.out(JSON.stringify(summary, null, 2));
    } else {
      printSummary(summary, io);
    }
    if (result.ok) {
      return EXIT_OK;
    }
    return result.queries.some((q) => q.unreachable) ? EXIT_UNREACHABLE : EXIT_FAILED;
  });
}
