// carebridge sync: how the EHR pollers are doing (per peer and query: cursor, last success, last
// error, what was stored and skipped), and --poll <peer> to poll one EHR now, outside its schedule
// (it takes the same lease as the scheduled run: never two polls of one peer at once).
import type { PeerConfig } from '../config/peers.ts';
import { createLogger } from '../log/logger.ts';
import { DEFAULT_DATABASE } from '../store/open-store.ts';
import type { FhirStore } from '../store/fhir-store.ts';
import { PollScheduler } from '../sync/poller/poll-scheduler.ts';
import { loadDefinitions } from '../validation/definitions.ts';
import { loadPeers } from './config-access.ts';
import type { WorkflowSettings } from '../workflow/write-rules.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, exitCodes } from './exit-codes.ts';
import type { Io } from './output.ts';
import { withCommandStore } from './store-access.ts';

export const SYNC_HELP = `Usage: carebridge sync [--peer <name>] [--json]
       carebridge sync --poll <peer> [--json]

Without --poll: the EHR pollers' health, per peer and query — the cursor, when the last run
succeeded, the last error (carebridge's own words), what the last run stored and skipped — and
the outbox per destination (waiting, dead).
--poll <peer>: polls that EHR now (the peer from CAREBRIDGE_CONFIG), taking the same lease as its
scheduled runs, and prints what it stored.
Options:
  --peer <name>   one peer's health only
  --poll <peer>   poll that EHR now
  --json          print { polls, outbox } (or, with --poll, { outcome, result }) as JSON
Environment: CAREBRIDGE_DATABASE (default ${DEFAULT_DATABASE}), CAREBRIDGE_CONFIG (for --poll).
${exitCodes({ ok: 'shown (or polled without error)', failed: 'not polled, or the poll failed', unreachable: 'the store or the EHR cannot be reached' })}`;

export interface SyncFlags {
  peer?: string;
  poll?: string;
  json?: boolean;
}

function since(iso: string | undefined, now: number): string {
  if (!iso) {
    return '-';
  }
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

async function showStatus(store: FhirStore, flags: SyncFlags, io: Io): Promise<void> {
  const polls = await store.pollStatus(flags.peer);
  const outbox = (await store.countDeliveries()).filter((c) => !flags.peer || c.destination === flags.peer);
  if (flags.json) {
    io.out(JSON.stringify({ polls, outbox }, null, 2));
    return;
  }
  const now = Date.now();
  io.out(polls.length === 0 ? 'No EHR has been polled yet.' : 'EHR polling:');
  for (const p of polls) {
    const failing = p.lastErrorAt !== undefined && (p.lastSuccessAt === undefined || p.lastErrorAt > p.lastSuccessAt);
    io.out(`  ${p.peer} ${p.queryKey === '*' ? '(whole run)' : p.queryKey}: last success ${since(p.lastSuccessAt, now)}; ${failing ? `FAILING: ${p.lastError ?? ''}` : 'ok'}; last run stored ${p.stored}, skipped ${p.skipped} (in all ${p.totalStored}/${p.totalSkipped})${p.cursor ? `; cursor ${p.cursor}` : ''}`);
  }
  io.out(outbox.length === 0 ? 'The outbox is empty.' : 'Outbox:');
  for (const c of outbox) {
    io.out(`  ${c.destination}: ${c.pending} waiting${c.oldestPendingMs !== undefined ? ` (oldest ${since(new Date(c.oldestPendingMs).toISOString(), now)})` : ''}, ${c.dead} dead, ${c.delivered} delivered`);
  }
}

export async function runSync(flags: SyncFlags, io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (flags.poll !== undefined && flags.peer !== undefined) {
    io.err(`--poll and --peer exclude each other.\n\n${SYNC_HELP}`);
    return EXIT_USAGE;
  }
  let peers: PeerConfig[] | undefined;
  let workflow: WorkflowSettings | undefined;
  if (flags.poll !== undefined) {
    const loaded = loadPeers(io, env, flags.poll, '--poll');
    if (!loaded.peers) {
      return loaded.exit;
    }
    peers = loaded.peers;
    workflow = loaded.workflow;
  }
  return withCommandStore(io, env, async (store) => {
    if (flags.poll === undefined || !peers) {
      await showStatus(store, flags, io);
      return EXIT_OK;
    }
    loadDefinitions();
    const scheduler = new PollScheduler({ store, peers, logger: createLogger({ level: 'error', stream: process.stderr }), pollOptions: { workflow } });
    const { outcome, result } = await scheduler.trigger(flags.poll);
    await scheduler.stop();
    if (flags.json) {
      io.out(JSON.stringify({ outcome, result }, null, 2));
    } else if (outcome !== 'polled' || !result) {
      io.out(`Not polled: ${outcome === 'busy' ? 'another instance is polling it now' : outcome === 'too-soon' ? 'its last successful run is more recent than its minimum interval' : outcome}.`);
    } else {
      for (const q of result.queries) {
        io.out(`${q.ok ? '✔' : '✖'} ${q.queryKey}: ${q.pages} pages, stored ${q.stored}, unchanged ${q.unchanged}, skipped ${q.skipped}${q.error ? ` — ${q.error}` : ''}`);
      }
    }
    if (outcome === 'polled' && result?.ok) {
      return EXIT_OK;
    }
    return result?.queries.some((q) => q.unreachable) ? EXIT_UNREACHABLE : EXIT_FAILED;
  });
}
