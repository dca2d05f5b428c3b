// Runs each EHR peer's poll on its cron schedule (node-cron 4, UTC, noOverlap), on one instance at
// a time when several share the database: a run first takes the peer's lease ("poll:<peer>") and
// renews it after every page. A trigger that comes late, twice, or on two instances for the same
// slot does no harm: the run is skipped when the peer's last successful run began less than
// pull.minIntervalMinutes before this slot (Gravity: at most every 15 minutes unless agreed), and
// whatever runs twice stores nothing twice (see ehr-poller.ts).
import { createTask } from 'node-cron';
import type { ScheduledTask } from 'node-cron';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { PeerConfig } from '../../config/peers.ts';
import type { Logger } from '../../log/logger.ts';
import type { FhirStore } from '../../store/fhir-store.ts';
import type { PollStatus } from '../../store/sync-store.ts';
import { PEER_RUN } from '../../store/sync-store.ts';
import { PeerClient } from '../connectors/peer-client.ts';
import { pollPeer } from './ehr-poller.ts';
import type { PeerPollResult, PollDeps } from './ehr-poller.ts';

/**
 * Five minutes: far longer than a page takes, and the lease is renewed after each one; an instance
 * that died mid-run holds up its peer's polls for at most this long.
 */
export const DEFAULT_LEASE_TTL_MS = 5 * 60_000;

export type TriggerOutcome =
  /** This instance polled the peer (result says how it went). */
  | 'polled'
  /** Another instance (or this one) is polling the peer now. */
  | 'busy'
  /** The last successful run began less than minIntervalMinutes before this slot. */
  | 'too-soon'
  /** The scheduler is stopping. */
  | 'stopped';

export interface PollSchedulerOptions {
  store: FhirStore;
  peers: readonly PeerConfig[];
  now?: () => Date;
  logger?: Logger;
  /** This instance's name in the leases (default host:pid:random). */
  holder?: string;
  leaseTtlMs?: number;
  /** The HTTP client of a peer (default: one made from its config, kept for the scheduler's life). */
  clientFor?: (peer: PeerConfig) => PeerClient;
  /** Passed to every poll (limits, the first run's look-back). */
  pollOptions?: Pick<PollDeps, 'limits' | 'initialLookbackMs' | 'workflow'>;
}

export class PollScheduler {
  private readonly options: PollSchedulerOptions;
  private readonly peers: Map<string, PeerConfig>;
  private readonly now: () => Date;
  readonly holder: string;
  private readonly tasks: ScheduledTask[] = [];
  private readonly clients = new Map<string, PeerClient>();
  /** Runs in flight on this instance, by peer, with what stops them between pages. */
  private readonly running = new Map<string, { done: Promise<unknown>; controller: AbortController }>();
  private stopping = false;

  constructor(options: PollSchedulerOptions) {
    this.options = options;
    this.peers = new Map(options.peers.filter((p) => p.kind === 'ehr' && p.pull && p.fhirBaseUrl).map((p) => [p.name, p]));
    this.now = options.now ?? (() => new Date());
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  }

  /** The EHR peers this scheduler polls. */
  get peerNames(): string[] {
    return [...this.peers.keys()];
  }

  /** Schedules every EHR peer's pull.schedule (UTC, as the config check reads it). */
  start(): void {
    for (const peer of this.peers.values()) {
      const task = createTask(
        (peer.pull as NonNullable<PeerConfig['pull']>).schedule,
        async (context) => {
          try {
            await this.trigger(peer.name, context.date);
          } catch (err) {
            this.options.logger?.error('poll trigger failed', { peer: peer.name, error: err });
          }
        },
        { name: `poll:${peer.name}`, noOverlap: true, timezone: 'UTC' },
      );
      void task.start();
      this.tasks.push(task);
    }
  }

  /**
   * One run of the peer's poll for the slot `slot` (a cron trigger's scheduled time, or now),
   * unless another instance has it or the last successful run is too recent.
   */
  async trigger(peerName: string, slot: Date = this.now()): Promise<{ outcome: TriggerOutcome; result?: PeerPollResult }> {
    const peer = this.peers.get(peerName);
    if (!peer) {
      throw new Error(`no EHR peer named ${peerName} to poll`);
    }
    if (this.stopping) {
      return { outcome: 'stopped' };
    }
    if (this.running.has(peerName)) {
      return { outcome: 'busy' };
    }
    const controller = new AbortController();
    const done = this.runLeased(peer, slot, controller);
    this.running.set(peerName, { done, controller });
    try {
      return await done;
    } finally {
      this.running.delete(peerName);
    }
  }

  private async runLeased(peer: PeerConfig, slot: Date, controller: AbortController): Promise<{ outcome: TriggerOutcome; result?: PeerPollResult }> {
    const { store, logger } = this.options;
    const lease = `poll:${peer.name}`;
    const ttl = this.options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    if (!(await store.claimLease(lease, this.holder, ttl))) {
      logger?.debug('poll skipped: another instance holds the lease', { peer: peer.name });
      return { outcome: 'busy' };
    }
    try {
      // Read under the lease: a run that just ended on another instance is seen.
      const last = (await store.pollStatus(peer.name)).find((s) => s.queryKey === PEER_RUN)?.lastSuccessAt;
      const minIntervalMs = (peer.pull as NonNullable<PeerConfig['pull']>).minIntervalMinutes * 60_000;
      if (last !== undefined && slot.getTime() - Date.parse(last) < minIntervalMs) {
        logger?.debug('poll skipped: the last run is too recent', { peer: peer.name });
        return { outcome: 'too-soon' };
      }
      const result = await pollPeer(peer, {
        ...this.options.pollOptions,
        store,
        client: this.clientOf(peer),
        now: this.now,
        logger,
        startedAt: slot,
        signal: controller.signal,
        afterPage: async () => {
          // A run longer than the lease must not go on once another instance may have taken it.
          if (!(await store.claimLease(lease, this.holder, ttl))) {
            logger?.warn('poll stopped: the lease was lost', { peer: peer.name });
            controller.abort();
          }
        },
      });
      return { outcome: 'polled', result };
    } finally {
      await store.releaseLease(lease, this.holder);
    }
  }

  private clientOf(peer: PeerConfig): PeerClient {
    let client = this.clients.get(peer.name);
    if (!client) {
      client = this.options.clientFor?.(peer) ?? new PeerClient(peer);
      this.clients.set(peer.name, client);
    }
    return client;
  }

  /** Health of every peer's queries, as stored (JSON for the board and the metrics). */
  pollStatus(): Promise<PollStatus[]> {
    return this.options.store.pollStatus();
  }

  /** Stops the schedules; a run in flight stops after the page it is on, and is waited for. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const task of this.tasks.splice(0)) {
      await task.stop();
      await task.destroy();
    }
    const inFlight = [...this.running.values()];
    for (const run of inFlight) {
      run.controller.abort();
    }
    await Promise.allSettled(inFlight.map((run) => run.done));
  }
}
