// Prunes the outbox on a node-cron schedule (UTC): delivered and superseded deliveries settled
// more than `deliveredDays` ago are deleted, a Subscription's last `keepEvents` events excepted
// ($events serves them again); pending and dead ones never are. A run takes the lease
// "outbox-retention" first (one instance at a time on PostgreSQL), renews it between batches, and
// deletes in batches of BATCH_ROWS in short write transactions with a pause between them, so
// SQLite's single writer is never held for long and requests' writes go in between.
import { createTask } from 'node-cron';
import type { ScheduledTask } from 'node-cron';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { OutboxRetentionConfig } from '../../config/outbox.ts';
import { DEFAULT_OUTBOX } from '../../config/outbox.ts';
import type { Logger } from '../../log/logger.ts';
import type { FhirStore } from '../../store/fhir-store.ts';

export const RETENTION_LEASE = 'outbox-retention';
/** Two minutes, renewed every RENEW_EVERY batches: a dead instance holds the next run up this long at most. */
export const RETENTION_LEASE_TTL_MS = 2 * 60_000;
/** Rows looked at per write transaction: a few ms of SQLite's write lock (see bench/outbox-prune.ts). */
export const BATCH_ROWS = 1000;
/** Between batches: the writes queued meanwhile go first, and the job takes a small share of the writer. */
const PAUSE_MS = 5;
/** Renewals: 20 batches take well under the lease's two minutes. */
const RENEW_EVERY = 20;
const DAY_MS = 24 * 3600_000;

export type PruneStore = Pick<FhirStore, 'pruneDeliveries' | 'claimLease' | 'releaseLease'>;

export interface PruneRunOptions {
  /** Delivered and superseded rows settled before this instant (ms) go. */
  settledBeforeMs: number;
  keepEvents: number;
  batchRows?: number;
  pauseMs?: number;
  /** Asked before each batch: true ends the run there (lease lost, shutting down). */
  shouldStop?: () => boolean;
}

export interface PruneResult {
  deleted: number;
  batches: number;
  /** The run ended before it reached the young rows (stopped): the next one goes on. */
  stopped: boolean;
}

/** Batches until the young rows are reached (not leased: RetentionJob and the CLI take the lease). */
export async function pruneOutbox(store: PruneStore, options: PruneRunOptions): Promise<PruneResult> {
  const result: PruneResult = { deleted: 0, batches: 0, stopped: false };
  let afterId: number | undefined;
  for (;;) {
    if (options.shouldStop?.()) {
      result.stopped = true;
      return result;
    }
    const batch = await store.pruneDeliveries({ settledBeforeMs: options.settledBeforeMs, keepEvents: options.keepEvents, limit: options.batchRows ?? BATCH_ROWS, ...(afterId !== undefined ? { afterId } : {}) });
    result.deleted += batch.deleted;
    result.batches += 1;
    if (batch.nextAfterId === undefined) {
      return result;
    }
    afterId = batch.nextAfterId;
    await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? PAUSE_MS));
  }
}

export interface RetentionJobOptions {
  store: PruneStore;
  logger?: Logger;
  retention?: OutboxRetentionConfig;
  /** Milliseconds since the epoch (injected in tests). */
  now?: () => number;
  holder?: string;
  leaseTtlMs?: number;
  batchRows?: number;
  pauseMs?: number;
}

export type RetentionOutcome = { outcome: 'pruned'; result: PruneResult } | { outcome: 'busy' } | { outcome: 'stopped' };

export class RetentionJob {
  private readonly options: RetentionJobOptions;
  private readonly retention: OutboxRetentionConfig;
  private readonly now: () => number;
  readonly holder: string;
  private task: ScheduledTask | undefined;
  private running: Promise<RetentionOutcome> | undefined;
  private stopping = false;

  constructor(options: RetentionJobOptions) {
    this.options = options;
    this.retention = options.retention ?? DEFAULT_OUTBOX.retention;
    this.now = options.now ?? Date.now;
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  }

  /** Schedules the runs, unless retention is turned off. */
  start(): void {
    if (!this.retention.enabled) {
      return;
    }
    this.task = createTask(
      this.retention.schedule,
      async () => {
        try {
          await this.trigger();
        } catch (err) {
          this.options.logger?.error('outbox retention failed', { error: (err as Error).message });
        }
      },
      { name: RETENTION_LEASE, noOverlap: true, timezone: 'UTC' },
    );
    void this.task.start();
  }

  /** One run at the injected clock's time, unless one is running here or on another instance. */
  async trigger(): Promise<RetentionOutcome> {
    if (this.stopping) {
      return { outcome: 'stopped' };
    }
    if (this.running) {
      return { outcome: 'busy' };
    }
    this.running = this.runLeased();
    try {
      return await this.running;
    } finally {
      this.running = undefined;
    }
  }

  private async runLeased(): Promise<RetentionOutcome> {
    const { store, logger } = this.options;
    const ttl = this.options.leaseTtlMs ?? RETENTION_LEASE_TTL_MS;
    if (!(await store.claimLease(RETENTION_LEASE, this.holder, ttl))) {
      return { outcome: 'busy' };
    }
    let lost = false;
    let batches = 0;
    const started = this.now();
    try {
      const result = await pruneOutbox(store, {
        settledBeforeMs: started - this.retention.deliveredDays * DAY_MS,
        keepEvents: this.retention.keepEvents,
        batchRows: this.options.batchRows,
        pauseMs: this.options.pauseMs,
        shouldStop: () => {
          // Renew now and then (claimLease is async: its answer is checked on a later call).
          if (++batches % RENEW_EVERY === 0) {
            void store.claimLease(RETENTION_LEASE, this.holder, ttl).then(
              (held) => (lost ||= !held),
              () => (lost = true),
            );
          }
          return lost || this.stopping;
        },
      });
      if (result.deleted > 0 || result.stopped) {
        logger?.info('outbox retention pruned deliveries', { ...result, ms: this.now() - started });
      }
      return { outcome: 'pruned', result };
    } finally {
      await store.releaseLease(RETENTION_LEASE, this.holder);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.task) {
      await this.task.stop();
      await this.task.destroy();
    }
    await this.running;
  }
}
