// Heartbeats (backport-heartbeat-period): every tick, each active (or error) Subscription with a
// heartbeat period that has heard nothing from carebridge for that long is sent a `heartbeat`
// notification — its status and event count — so a subscriber notices a silent channel. Runs in
// the background worker. Several instances may run it at once (PostgreSQL): the store's
// claimKeepAlive is a compare-and-set on the Subscription's stream row, so exactly one of them
// sends each heartbeat; no lease or advisory lock is needed.
import { parseSearchRequest } from '@medplum/core';
import type { Subscription } from '@medplum/fhirtypes';
import type { Logger } from '../log/logger.ts';
import type { FhirStore } from '../store/fhir-store.ts';
import { parseSubscription } from '../subscriptions/subscription.ts';
import type { SubscriptionDeliverer } from './outbox/subscription-deliverer.ts';
import { subscriptionDestination } from './outbox/subscription-router.ts';

/** How often to look: a heartbeat is at most this late (periods are at least 30 s). */
export const HEARTBEAT_TICK_MS = 5_000;
const PAGE = 500;

export interface HeartbeatOptions {
  store: FhirStore;
  deliverer: SubscriptionDeliverer;
  logger: Logger;
  clock?: () => number;
  tickMs?: number;
}

export class SubscriptionHeartbeat {
  private readonly options: HeartbeatOptions;
  private readonly clock: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(options: HeartbeatOptions) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
  }

  start(): void {
    this.timer ??= setInterval(() => {
      // A tick still sending (slow endpoints) is not overtaken by the next.
      this.running ??= this.tick()
        .catch((err: unknown) => {
          this.options.logger.error('subscription heartbeat tick failed', { error: err });
          return 0;
        })
        .finally(() => {
          this.running = undefined;
        });
    }, this.options.tickMs ?? HEARTBEAT_TICK_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One look at every Subscription with a heartbeat period; how many heartbeats were sent. */
  async tick(): Promise<number> {
    const { store, deliverer, logger } = this.options;
    const now = this.clock();
    let sent = 0;
    let cursor: string | undefined;
    do {
      const page = await store.search(parseSearchRequest(`Subscription?status=active,error&_count=${PAGE}`), { cursor });
      for (const resource of page.resources) {
        const subscription = resource as Subscription;
        let period: number | undefined;
        try {
          period = parseSubscription(subscription).heartbeatSeconds;
        } catch {
          continue;
        }
        if (period === undefined || !subscription.id || !(await store.claimKeepAlive(subscriptionDestination(subscription.id), now - period * 1000, now))) {
          continue;
        }
        const stored = await store.read('Subscription', subscription.id);
        if (!stored || stored.deleted) {
          continue;
        }
        try {
          await deliverer.heartbeat(stored);
          sent += 1;
        } catch (err) {
          // The next event or heartbeat tries again; repeated event failures set the status.
          logger.warn('subscription heartbeat failed', { subscription: subscription.id, error: err });
        }
      }
      cursor = page.next;
    } while (cursor);
    return sent;
  }
}
