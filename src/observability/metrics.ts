// The metrics a carebridge process counts itself (requests, validation failures, deliveries, the
// Node process), in a registry of their own: one per server, so tests can run several. In a
// cluster every worker has one and the primary sums them (cluster-metrics.ts); the gauges read
// from the store are computed once per scrape instead (store-gauges.ts).
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Delivery, DeliverySettlement } from '../store/outbox.ts';
import type { WriteLockUsage } from '../store/sqlite/sqlite-store.ts';
import { destinationLabel } from './labels.ts';

/** 5 ms to 30 s: a read takes milliseconds, a large transaction Bundle seconds; the handler timeout is 30 s. */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** 50 ms to a day: a delivery goes out in well under a second, or waits out a peer's outage (retries for up to 72 h). */
const DELIVERY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600];

export interface MetricsOptions {
  /** Node's process metrics (CPU, memory, event loop lag, GC): once per process, so only for `serve`. */
  processMetrics?: boolean;
}

export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly validationFailures: Counter<'method' | 'route' | 'status' | 'issue'>;
  readonly deliveryLatency: Histogram<'destination'>;
  readonly deliveriesSettled: Counter<'destination' | 'outcome'>;

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    this.httpRequests = new Counter({ name: 'carebridge_http_requests_total', help: 'HTTP requests answered, by route pattern, method and status ("aborted": the connection closed first)', labelNames: ['method', 'route', 'status'], registers });
    this.httpDuration = new Histogram({ name: 'carebridge_http_request_duration_seconds', help: 'Time from a request arriving to its answer being written, by route pattern, method and status', labelNames: ['method', 'route', 'status'], buckets: HTTP_BUCKETS, registers });
    this.validationFailures = new Counter({
      name: 'carebridge_validation_failures_total',
      help: 'Requests refused with an OperationOutcome as 400 (not a plan, malformed) or 422 (fails R4, a profile, the plan rules or a workflow rule), by route pattern, method, status and the first error issue type',
      labelNames: ['method', 'route', 'status', 'issue'],
      registers,
    });
    this.deliveryLatency = new Histogram({ name: 'carebridge_delivery_latency_seconds', help: 'Time from a change being queued in the outbox (its write transaction) to its delivery, by destination', labelNames: ['destination'], buckets: DELIVERY_BUCKETS, registers });
    this.deliveriesSettled = new Counter({ name: 'carebridge_outbox_settled_total', help: 'Delivery attempts settled by this instance, by destination and outcome (delivered, retry, dead)', labelNames: ['destination', 'outcome'], registers });
    if (options.processMetrics) {
      collectDefaultMetrics({ register: this.registry });
    }
  }

  /**
   * The SQLite write lock's use by this process, read at each scrape (the primary sums the
   * workers'): held seconds per elapsed second is how busy the one lock all of them share is.
   */
  observeWriteLock(usage: () => WriteLockUsage): void {
    const registers = [this.registry];
    const counter = (name: string, help: string, value: (u: WriteLockUsage) => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value(usage()));
        },
      });
    };
    counter('carebridge_sqlite_write_lock_held_seconds_total', 'Time this process held the SQLite write lock, which every process on the file shares (BEGIN IMMEDIATE to COMMIT)', (u) => u.heldSeconds);
    counter('carebridge_sqlite_write_lock_wait_seconds_total', 'Time this process waited for another process to release the SQLite write lock', (u) => u.waitedSeconds);
    counter('carebridge_sqlite_write_transactions_total', 'SQLite write transactions of this process (a group commit of several requests counts once)', (u) => u.transactions);
  }

  /** The dispatcher's onSettled: every attempt counts; a delivery's latency is observed once it arrived. */
  observeSettlement(delivery: Delivery, settlement: DeliverySettlement, nowMs: number = Date.now()): void {
    const destination = destinationLabel(delivery.destination);
    this.deliveriesSettled.inc({ destination, outcome: settlement.state });
    if (settlement.state === 'delivered') {
      this.deliveryLatency.observe({ destination }, Math.max(0, nowMs - delivery.createdMs) / 1000);
    }
  }
}
