// Runs the TCM overdue sweep (workflow/tcm-sweep.ts) on a node-cron schedule (UTC), on one
// instance at a time when several share PostgreSQL: a run first takes the lease "tcm-sweep" and
// renews it between pages (leased-cron-job.ts). A trigger that comes late, twice, or on two instances does no harm:
// the sweep settles only what is due and open, and each write carries If-Match.
import { DEFAULT_SWEEP_SCHEDULE } from '../config/clock.ts';
import type { Logger } from '../log/logger.ts';
import type { FhirStore } from '../store/fhir-store.ts';
import type { SweepResult } from '../workflow/tcm-sweep.ts';
import { sweepDeadlines } from '../workflow/tcm-sweep.ts';
import { LeasedCronJob } from './leased-cron-job.ts';

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
  private readonly job: LeasedCronJob<SweepResult>;

  constructor(options: SweepJobOptions) {
    const now = options.now ?? Date.now;
    this.job = new LeasedCronJob({
      name: SWEEP_LEASE,
      store: options.store,
      logger: options.logger,
      schedule: options.schedule ?? DEFAULT_SWEEP_SCHEDULE,
      holder: options.holder,
      leaseTtlMs: options.leaseTtlMs ?? SWEEP_LEASE_TTL_MS,
      renewEvery: 50,
      run: async (shouldStop) => {
        const result = await sweepDeadlines(options.store, now(), { shouldStop });
        if (result.due > 0) {
          options.logger?.info('tcm sweep settled deadlines', { ...result });
        }
        return result;
      },
    });
  }

  get holder(): string {
    return this.job.holder;
  }

  start(): void {
    this.job.start();
  }

  /** One sweep at the injected clock's time, unless one is running here or on another instance. */
  async trigger(): Promise<SweepOutcome> {
    const ran = await this.job.trigger();
    return ran.outcome === 'ran' ? { outcome: 'swept', result: ran.result } : ran;
  }

  stop(): Promise<void> {
    return this.job.stop();
  }
}
