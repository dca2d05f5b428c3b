// carebridge outbox / carebridge replay: the operator's view of deliveries, straight on the store
// CAREBRIDGE_DATABASE names (the server need not be reachable; its dispatcher sends what is replayed).
import type { DeliveryCounts, DeliveryState, ReplaySelector } from '../store/outbox.ts';
import { DEFAULT_DATABASE } from '../store/open-store.ts';
import type { OpenedStore } from '../store/open-store.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, exitCodes } from './exit-codes.ts';
import type { Io } from './output.ts';
import { progressOnStderr } from './progress.ts';
import { withCommandStore } from './store-access.ts';

export const OUTBOX_HELP = `Usage: carebridge outbox [--peer <name>] [--state pending|dead|delivered|superseded] [--limit <n>] [--json]

Without --state: per destination (peer or subscription), how many deliveries wait, how long the
oldest has waited, and how many are dead, delivered or superseded. With --state: those deliveries,
oldest first (id, destination, resource, attempts, next attempt, last error).
Options:
  --peer <name>    one destination only
  --state <state>  list the deliveries in this state: pending, dead, delivered or superseded
  --limit <n>      at most n deliveries with --state (default 50, at most 10000)
  --json           print { destinations } or { deliveries } as JSON
Environment: CAREBRIDGE_DATABASE (default ${DEFAULT_DATABASE}).
${exitCodes({ ok: 'shown', failed: 'the store could not be read', unreachable: 'the store cannot be reached' })}`;

export const REPLAY_HELP = `Usage: carebridge replay <delivery-id> | --peer <name> | --all [--wait] [--json]

Puts dead deliveries back in the queue with a fresh retry window (one by id, a peer's, or all),
and tells deliveries waiting for a later attempt to go now. The running server sends them.
Options:
  <delivery-id>   one delivery (its id in carebridge outbox --state dead)
  --peer <name>   the dead deliveries of one destination
  --all           every dead delivery
  --wait          follow until they have left the queue, with a progress line and ETA on stderr
  --json          print { replayed, deadAgain? }
Environment: CAREBRIDGE_DATABASE (default ${DEFAULT_DATABASE}).
${exitCodes({ ok: 'replayed (and, with --wait, all sent)', failed: 'nothing to replay, some are dead again, or the store failed', unreachable: 'the store cannot be reached' })}`;

const STATES: readonly DeliveryState[] = ['pending', 'dead', 'delivered', 'superseded'];

function age(ms: number | undefined, now: number): string {
  if (ms === undefined) {
    return '-';
  }
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
}

export interface OutboxFlags {
  peer?: string;
  state?: string;
  limit?: string;
  json?: boolean;
}

export async function runOutbox(flags: OutboxFlags, io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (flags.state !== undefined && !STATES.includes(flags.state as DeliveryState)) {
    io.err(`--state must be one of ${STATES.join(', ')}\n\n${OUTBOX_HELP}`);
    return EXIT_USAGE;
  }
  const limit = flags.limit === undefined ? 50 : Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    io.err(`--limit must be a whole number from 1 to 10000\n\n${OUTBOX_HELP}`);
    return EXIT_USAGE;
  }
  return withCommandStore(io, env, async (store) => {
    const now = Date.now();
    if (flags.state === undefined) {
      const counts: DeliveryCounts[] = (await store.countDeliveries()).filter((c) => !flags.peer || c.destination === flags.peer);
      if (flags.json) {
        io.out(JSON.stringify({ destinations: counts }, null, 2));
      } else if (counts.length === 0) {
        io.out('The outbox is empty.');
      } else {
        for (const line of table([['DESTINATION', 'PENDING', 'OLDEST', 'DEAD', 'DELIVERED', 'SUPERSEDED'], ...counts.map((c) => [c.destination, String(c.pending), age(c.oldestPendingMs, now), String(c.dead), String(c.delivered), String(c.superseded)])])) {
          io.out(line);
        }
      }
      return EXIT_OK;
    }
    const deliveries = await store.listDeliveries({ destination: flags.peer, state: flags.state as DeliveryState, limit });
    if (flags.json) {
      io.out(JSON.stringify({ deliveries }, null, 2));
    } else if (deliveries.length === 0) {
      io.out(`No ${flags.state} deliveries${flags.peer ? ` for ${flags.peer}` : ''}.`);
    } else {
      const rows = deliveries.map((d) => [String(d.id), d.destination, `${d.resourceType}/${d.resourceId}/_history/${d.versionId}`, String(d.attempts), d.state === 'pending' ? age(d.nextAttemptMs, now).replace(/^/, d.nextAttemptMs > now ? 'in ' : '') : '-', d.lastError ?? '']);
      for (const line of table([['ID', 'DESTINATION', 'RESOURCE', 'ATTEMPTS', 'NEXT', 'LAST ERROR'], ...rows])) {
        io.out(line);
      }
    }
    return EXIT_OK;
  });
}

export interface ReplayFlags {
  peer?: string;
  all?: boolean;
  wait?: boolean;
  json?: boolean;
}

export interface ReplayOptions {
  pollMs?: number;
  /** Whether stderr is a terminal (a redrawn progress line). */
  tty?: boolean;
}

function selectorOf(positionals: string[], flags: ReplayFlags): ReplaySelector | string {
  const chosen = [positionals.length > 0, flags.peer !== undefined, flags.all === true].filter(Boolean).length;
  if (chosen !== 1 || positionals.length > 1) {
    return 'Say exactly one of a delivery id, --peer <name> and --all';
  }
  if (positionals[0] !== undefined) {
    return /^\d{1,15}$/.test(positionals[0]) ? { id: Number(positionals[0]) } : `"${positionals[0]}" is not a delivery id`;
  }
  return flags.peer !== undefined ? { destination: flags.peer } : { all: true };
}

/** Replays, then (--wait) follows the queue the deliveries joined until it is back where it was before them. */
async function replayAndFollow(store: OpenedStore, selector: ReplaySelector, wait: boolean, io: Io, options: ReplayOptions): Promise<{ replayed: number; left?: number }> {
  const destination = 'destination' in selector ? selector.destination : undefined;
  const pendingNow = async (): Promise<number> => (await store.countDeliveries()).filter((c) => !destination || c.destination === destination).reduce((n, c) => n + c.pending, 0);
  const before = await pendingNow();
  const replayed = await store.replayDeliveries(selector);
  if (!wait || replayed === 0) {
    return { replayed };
  }
  const total = replayed + before;
  const progress = progressOnStderr(io, { total, label: 'replay', tty: options.tty });
  for (;;) {
    const left = await pendingNow();
    if (left === 0) {
      progress.finish(total);
      const dead = 'id' in selector ? 0 : (await store.countDeliveries()).filter((c) => !destination || c.destination === destination).reduce((n, c) => n + c.dead, 0);
      return { replayed, left: dead };
    }
    progress.update(Math.max(0, total - left));
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 500));
  }
}

export async function runReplay(positionals: string[], flags: ReplayFlags, io: Io, env: NodeJS.ProcessEnv = process.env, options: ReplayOptions = {}): Promise<number> {
  const selector = selectorOf(positionals, flags);
  if (typeof selector === 'string') {
    io.err(`${selector}\n\n${REPLAY_HELP}`);
    return EXIT_USAGE;
  }
  return withCommandStore(io, env, async (store) => {
    const result = await replayAndFollow(store, selector, flags.wait === true, io, options);
    if (flags.json) {
      io.out(JSON.stringify({ replayed: result.replayed, ...(result.left !== undefined ? { deadAgain: result.left } : {}) }));
    } else {
      io.out(result.replayed === 0 ? 'Nothing to replay.' : `Replayed ${result.replayed} deliver${result.replayed === 1 ? 'y' : 'ies'}.${result.left ? ` ${result.left} dead again: see carebridge outbox --state dead.` : ''}`);
    }
    return result.replayed === 0 || (result.left ?? 0) > 0 ? EXIT_FAILED : EXIT_OK;
  });
}
