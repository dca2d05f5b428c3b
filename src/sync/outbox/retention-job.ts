// Prunes the outbox on a node-cron schedule (UTC): delivered and superseded deliveries settled
// more than `deliveredDays` ago are deleted, a Subscription's last `keepEvents` events excepted
// ($events serves them again); pending and dead ones never are. A run takes the lease
// "outbox-retention" first (one instance at a time on PostgreSQL), renews it between batches, and
// deletes in batches of BATCH_ROWS in short write transactions with a pause between them, so
// SQLite's single writer is never held for long and requests' writes go in between.
import type { OutboxRetentionConfig } from '../../config/outbox.ts';
import { DEFAULT_OUTBOX } from '../../config/outbox.ts';
import type { Logger } from '../../log/logger.ts';
import type { FhirStore } from '../../store/fhir-store.ts';
import { LeasedCronJob } from '../leased-cron-job.ts';

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
  private readonly retention: OutboxRetentionConfig;
  private readonly job: LeasedCronJob<PruneResult>;

  constructor(options: RetentionJobOptions) {
    const retention = options.retention ?? DEFAULT_OUTBOX.retention;
    const now = options.now ?? Date.now;
    this.retention = retention;
    this.job = new LeasedCronJob({
      name: RETENTION_LEASE,
      store: options.store,
      logger: options.logger,
      schedule: retention.schedule,
      holder: options.holder,
      leaseTtlMs: options.leaseTtlMs ?? RETENTION_LEASE_TTL_MS,
      renewEvery: RENEW_EVERY,
      run: async (shouldStop) => {
        const started = now();
        const result = await pruneOutbox(options.store, {
          settledBeforeMs: started - retention.deliveredDays * DAY_MS,
          keepEvents: retention.keepEvents,
          batchRows: options.batchRows,
          pauseMs: options.pauseMs,
          shouldStop,
        });
        if (result.deleted > 0 || result.stopped) {
          options.logger?.info('outbox retention pruned deliveries', { ...result, ms: now() - started });
        }
        return result;
      },
    });
  }

  get holder(): string {
    return this.job.holder;
  }

  /** Schedules the runs, unless retention is turned off. */
  start(): void {
    if (this.retention.enabled) {
      this.job.start();
    }
  }

  /** One run at the injected clock's time, unless one is running here or on another instance. */
  async trigger(): Promise<RetentionOutcome> {
    const ran = await this.job.trigger();
    return ran.outcome === 'ran' ? { outcome: 'pruned', result: ran.result } : ran;
  }

  stop(): Promise<void> {
    return this.job.stop();
  }
}
