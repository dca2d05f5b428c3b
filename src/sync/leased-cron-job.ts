// A background job on a node-cron schedule (UTC) that runs on one instance at a time when several
// share PostgreSQL: a run first takes a lease in the store, renews it every few steps and lets go
// at the end. The TCM sweep and the outbox retention are such jobs; they supply only the run.
import { createTask } from 'node-cron';
import type { ScheduledTask } from 'node-cron';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../log/logger.ts';
import type { FhirStore } from '../store/fhir-store.ts';

export type LeaseStore = Pick<FhirStore, 'claimLease' | 'releaseLease'>;

export type LeasedOutcome<T> = { outcome: 'ran'; result: T } | { outcome: 'busy' } | { outcome: 'stopped' };

export interface LeasedCronJobOptions<T> {
  /** The lease's name, and the cron task's. */
  name: string;
  store: LeaseStore;
  logger?: Logger;
  /** node-cron expression, UTC. */
  schedule: string;
  holder?: string;
  leaseTtlMs: number;
  /** Steps (calls of shouldStop) between renewals of the lease: well under its time to live. */
  renewEvery: number;
  /** The work; it asks shouldStop between steps and ends there when told (lease lost, shutting down). */
  run: (shouldStop: () => boolean) => Promise<T>;
}

export class LeasedCronJob<T> {
  readonly holder: string;
  private readonly options: LeasedCronJobOptions<T>;
  private task: ScheduledTask | undefined;
  private running: Promise<LeasedOutcome<T>> | undefined;
  private stopping = false;

  constructor(options: LeasedCronJobOptions<T>) {
    this.options = options;
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  }

  start(): void {
    this.task = createTask(
      this.options.schedule,
      async () => {
        try {
          await this.trigger();
        } catch (err) {
          this.options.logger?.error(`${this.options.name} failed`, { error: err });
        }
      },
      { name: this.options.name, noOverlap: true, timezone: 'UTC' },
    );
    void this.task.start();
  }

  /** One run now, unless one is running here or on another instance. */
  async trigger(): Promise<LeasedOutcome<T>> {
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

  private async runLeased(): Promise<LeasedOutcome<T>> {
    const { store, name, leaseTtlMs, renewEvery } = this.options;
    if (!(await store.claimLease(name, this.holder, leaseTtlMs))) {
      return { outcome: 'busy' };
    }
    let lost = false;
    let steps = 0;
    try {
      const result = await this.options.run(() => {
        // Renew now and then (claimLease is async: its answer is checked on a later step).
        if (++steps % renewEvery === 0) {
          void store.claimLease(name, this.holder, leaseTtlMs).then(
            (held) => (lost ||= !held),
            () => (lost = true),
          );
        }
        return lost || this.stopping;
      });
      return { outcome: 'ran', result };
    } finally {
      await store.releaseLease(name, this.holder);
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
