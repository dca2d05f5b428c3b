// Runs the TCM overdue sweep (workflow/tcm-sweep.ts) on a node-cron schedule (UTC), on one
// instance at a time when several share PostgreSQL: a run first takes the lease "tcm-sweep" and
// renews it between pages. A trigger that comes late, twice, or on two instances does no harm:
// the sweep settles only what is due and open, and each write carries If-Match.
import { createTask } from 'node-cron';
import type { ScheduledTask } from 'node-cron';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { DEFAULT_SWEEP_SCHEDULE } from '../config/clock.ts';
import type { Logger } from '../log/logger.ts';
import type { FhirStore } from '../store/fhir-store.ts';
import type { SweepResult } from '../workflow/tcm-sweep.ts';
import { sweepDeadlines } from '../workflow/tcm-sweep.ts';

export const SWEEP_LEASE = 'tcm-sweep';
/** Two minutes: a sweep of a few thousand due deadlines takes seconds; a dead instance holds the next run up this long at most. */
export const SWEEP_LEASE_TTL_MS = 2 * 60_000;

export interface SweepJobOptions {
  store: FhirStore;
  logger?: Logger;
  /** node-cron expression (default every five minutes). */
  schedule?: string;
  /** Milliseconds since the epoch (injected in tests). */
  now?: () => number;
  holder?: string;
  leaseTtlMs?: number;
}

export type SweepOutcome = { outcome: 'swept'; result: SweepResult } | { outcome: 'busy' } | { outcome: 'stopped' };

export class SweepJob {
  private readonly options: SweepJobOptions;
  private readonly now: () => number;
  readonly holder: string;
  private task: ScheduledTask | undefined;
  private running: Promise<SweepOutcome> | undefined;
  private stopping = false;

  constructor(options: SweepJobOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  }

  start(): void {
    this.task = createTask(
      this.options.schedule ?? DEFAULT_SWEEP_SCHEDULE,
      async () => {
        try {
          await this.trigger();
        } catch (err) {
          this.options.logger?.error('tcm sweep failed', { error: err });
        }
      },
      { name: 'tcm-sweep', noOverlap: true, timezone: 'UTC' },
    );
    void this.task.start();
  }

  /** One sweep at the injected clock's time, unless one is running here or on another instance. */
  async trigger(): Promise<SweepOutcome> {
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

  private async runLeased(): Promise<SweepOutcome> {
    const { store, logger } = this.options;
    const ttl = this.options.leaseTtlMs ?? SWEEP_LEASE_TTL_MS;
    if (!(await store.claimLease(SWEEP_LEASE, this.holder, ttl))) {
      return { outcome: 'busy' };
    }
    let lost = false;
    let pages = 0;
    try {
      const result = await sweepDeadlines(store, this.now(), {
        shouldStop: () => {
          // Renew the lease now and then (claimLease is async: check its answer on the next call).
          if (++pages % 50 === 0) {
            void store.claimLease(SWEEP_LEASE, this.holder, ttl).then((held) => (lost ||= !held));
          }
          return lost || this.stopping;
        },
      });
      if (result.due > 0) {
        logger?.info('tcm sweep settled deadlines', { ...result });
      }
      return { outcome: 'swept', result };
    } finally {
      await store.releaseLease(SWEEP_LEASE, this.holder);
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
