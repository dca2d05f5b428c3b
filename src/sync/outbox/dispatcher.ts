// The outbox dispatcher: claims due deliveries (leased; on PostgreSQL several instances claim side
// by side without taking one row twice), sends each through its destination's deliverer, and
// settles it: delivered; retried with exponential backoff and jitter (or the peer's Retry-After);
// a destination that refuses us (401/403/404) paused until a probe; dead-lettered when the peer
// refused the change for good or the retry window has passed. A destination failing again and
// again is paused as a whole (a circuit breaker: one probe now and then, not every patient's
// queue retrying on its own), and the first success there makes everything waiting due at once,
// so a peer back from an outage catches up at full speed rather than at its backoff.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { RetryPolicy } from '../../config/peers.ts';
import { DEFAULT_RETRY } from '../../config/peers.ts';
import type { Logger } from '../../log/logger.ts';
import type { FhirStore } from '../../store/fhir-store.ts';
import type { Delivery, DeliverySettlement } from '../../store/outbox.ts';
import { PeerError } from '../connectors/peer-client.ts';
import type { Deliverer } from './deliverer.ts';

export interface DispatcherOptions {
  store: FhirStore;
  logger: Logger;
  /** The deliverer of a destination; undefined: not configured (any more), so its rows are dead-lettered. */
  delivererFor: (destination: string) => Deliverer | undefined;
  /** The retry policy of a destination (default DEFAULT_RETRY). */
  retryFor?: (destination: string) => RetryPolicy;
  /** Deliveries in flight at once (each peer's own limit applies within it). */
  maxInFlight?: number;
  /** How often an idle dispatcher looks for new rows written by other processes. */
  idleMs?: number;
  /** How long a claim holds: longer than any send (peer timeouts), shorter than an acceptable takeover after a crash. */
  leaseMs?: number;
  /** A refusing destination (401/403/404) is tried again after this. */
  blockedProbeMs?: number;
  /** Consecutive failures after which a destination is paused as a whole … */
  pauseAfterFailures?: number;
  /** … for this long, then probed again. */
  outageProbeMs?: number;
  clock?: () => number;
  random?: () => number;
  /** Called after each settled delivery (metrics, benchmarks). */
  onSettled?: (delivery: Delivery, settlement: DeliverySettlement) => void;
}

const DEFAULTS = { maxInFlight: 16, idleMs: 250, leaseMs: 120_000, blockedProbeMs: 5 * 60_000, pauseAfterFailures: 5, outageProbeMs: 30_000 };

/** Exponential backoff with "equal jitter": half the delay fixed, half random, capped. */
export function backoffMs(attempts: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempts, 30));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}

export class Dispatcher {
  readonly holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly options: DispatcherOptions & typeof DEFAULTS;
  private readonly clock: () => number;
  private readonly inFlight = new Set<Promise<void>>();
  /** Destinations paused until the given time (they refused us, or keep failing). */
  private readonly paused = new Map<string, number>();
  /** Failures in a row per destination since its last success. */
  private readonly failures = new Map<string, number>();
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  /**
   * A wake() that came while no idle() was waiting (a claim was running, which may have missed
   * the row that wake was for): the next idle() returns at once instead of sleeping idleMs.
   */
  private woken = false;

  constructor(options: DispatcherOptions) {
    this.options = { ...DEFAULTS, ...options };
    this.clock = options.clock ?? Date.now;
  }

  start(): void {
    if (this.running) {
      return;
    }
    this.running = true;
    this.loop = this.run();
  }

  /** Stops claiming, and waits for the deliveries in flight to settle. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
    await Promise.all(this.inFlight);
  }

  /** Something was just queued in this process: look now rather than at the next idle tick. */
  wake(): void {
    if (this.wakeUp) {
      this.wakeUp();
    } else {
      this.woken = true;
    }
  }

  /** One pass: claims what is due and free (up to the in-flight limit) and sends it; how many were claimed. */
  async dispatchOnce(): Promise<number> {
    const room = this.options.maxInFlight - this.inFlight.size;
    if (room <= 0) {
      return 0;
    }
    const now = this.clock();
    for (const [destination, until] of this.paused) {
      if (until <= now) {
        this.paused.delete(destination);
      }
    }
    // Wakes before this claim are answered by it; one arriving while it runs is kept for idle().
    this.woken = false;
    const claimed = await this.options.store.claimDeliveries(this.holder, { limit: room, leaseMs: this.options.leaseMs, exclude: [...this.paused.keys()] });
    for (const delivery of claimed) {
      const sending = this.send(delivery).finally(() => this.inFlight.delete(sending));
      this.inFlight.add(sending);
    }
    return claimed.length;
  }

  /**
   * Runs passes until nothing is due and nothing is in flight (tests, replay, catch-up). With
   * `untilSettled`, also waits out retries until no delivery is pending, or the deadline passes.
   */
  async drain(options: { untilSettled?: boolean; deadlineMs?: number } = {}): Promise<void> {
    const deadline = this.clock() + (options.deadlineMs ?? 60_000);
    for (;;) {
      const claimed = await this.dispatchOnce();
      if (claimed === 0 && this.inFlight.size === 0) {
        const waiting = options.untilSettled ? (await this.options.store.countDeliveries()).some((c) => c.pending > 0) : false;
        if (!waiting || this.clock() >= deadline) {
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, this.options.idleMs));
      } else if (claimed === 0 || this.inFlight.size >= this.options.maxInFlight) {
        await Promise.race(this.inFlight);
      }
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      let claimed = 0;
      try {
        claimed = await this.dispatchOnce();
      } catch (err) {
        // The store is down or busy: nothing is lost (the rows stay pending); try again shortly.
        this.options.logger.error('outbox claim failed', { error: err });
      }
      if (!this.running) {
        break;
      }
      if (this.inFlight.size >= this.options.maxInFlight) {
        await Promise.race(this.inFlight);
      } else if (claimed === 0) {
        await this.idle();
      }
    }
  }

  private idle(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.options.idleMs);
      this.wakeUp = done;
      // A delivery settling may free the next change of its patient: look again then too.
      if (this.inFlight.size > 0) {
        void Promise.race(this.inFlight).then(done);
      }
    });
  }

  private retryPolicy(destination: string): RetryPolicy {
    return this.options.retryFor?.(destination) ?? DEFAULT_RETRY;
  }

  private async send(delivery: Delivery): Promise<void> {
    const { store, logger } = this.options;
    const log = { destination: delivery.destination, deliveryId: delivery.id, resourceType: delivery.resourceType, attempt: delivery.attempts + 1 };
    let settlement: DeliverySettlement;
    const deliverer = this.options.delivererFor(delivery.destination);
    if (!deliverer) {
      settlement = { state: 'dead', error: `destination ${delivery.destination} is not configured` };
    } else {
      try {
        const current = await store.read(delivery.resourceType, delivery.resourceId);
        settlement = { state: 'delivered', ...(await deliverer.deliver(delivery, current)) };
        await this.recovered(delivery.destination);
      } catch (err) {
        settlement = await this.failed(delivery, err);
      }
    }
    try {
      const kept = await store.settleDelivery(this.holder, delivery.id, settlement);
      if (!kept) {
        logger.warn('outbox lease lost before settling', log);
      } else if (settlement.state === 'delivered') {
        logger.debug('delivered', log);
      } else {
        // Errors are our own texts (status, failure kind), never a peer's body: no PHI reaches the log.
        logger.warn(settlement.state === 'dead' ? 'delivery dead-lettered' : 'delivery will be retried', { ...log, error: settlement.error, status: settlement.status });
      }
      this.options.onSettled?.(delivery, settlement);
    } catch (err) {
      // Not settled: the lease runs out and the row is sent again (at least once; the receiver drops the repeat).
      logger.error('outbox settle failed', { ...log, error: err });
    }
  }

  /** A success at a destination that had been failing: what waits for a later attempt goes now. */
  private async recovered(destination: string): Promise<void> {
    if (!this.failures.has(destination)) {
      return;
    }
    this.failures.delete(destination);
    this.paused.delete(destination);
    const resumed = await this.options.store.resumeDestination(destination).catch(() => 0);
    this.options.logger.info('destination recovered', { destination, resumed });
  }

  /** Pauses the destination as a whole until `until` (here and, through the rows, on every instance). */
  private async pause(destination: string, until: number): Promise<void> {
    this.paused.set(destination, until);
    await this.options.store.deferDestination(destination, until).catch(() => 0);
  }

  private async failed(delivery: Delivery, err: unknown): Promise<DeliverySettlement> {
    const now = this.clock();
    const policy = this.retryPolicy(delivery.destination);
    const windowEnd = delivery.windowStartMs + policy.windowHours * 3600_000;
    if (!(err instanceof PeerError)) {
      this.options.logger.error('delivery failed unexpectedly', { destination: delivery.destination, deliveryId: delivery.id, error: err });
    }
    // Not the error's message: it is stored with the delivery and logged as text, and a database's may quote row values.
    const failure = err instanceof PeerError ? err : new PeerError(`unexpected ${err instanceof Error ? err.name : 'failure'}`, 'retry');
    if (failure.failure === 'rejected') {
      return { state: 'dead', error: failure.message, status: failure.status };
    }
    let next = now + Math.max(failure.retryAfterMs ?? 0, backoffMs(delivery.attempts, policy, this.options.random));
    const inARow = (this.failures.get(delivery.destination) ?? 0) + 1;
    this.failures.set(delivery.destination, inARow);
    if (failure.failure === 'blocked') {
      // Da Vinci: stop sending to a peer that refuses us until it is fixed; a probe now and then finds out.
      next = Math.max(next, now + this.options.blockedProbeMs);
      await this.pause(delivery.destination, next);
    } else if (inARow >= this.options.pauseAfterFailures && !this.paused.has(delivery.destination)) {
      // Down, not refusing: pause it as a whole and probe it now and then (this row keeps its own backoff).
      await this.pause(delivery.destination, now + Math.min(this.options.outageProbeMs, policy.maxDelayMs));
    }
    if (next > windowEnd) {
      return { state: 'dead', error: `retry window of ${Number(policy.windowHours.toPrecision(3))} h passed; last error: ${failure.message}`, status: failure.status };
    }
    return { state: 'retry', nextAttemptMs: next, error: failure.message, status: failure.status };
  }
}
