// carebridge's side of the conversation with its peers and subscribers, as one running thing: the
// outbox routers on every write (in every worker: peers by tenancy, Subscriptions by topic, filters
// and tenancy), and the dispatcher that sends, with the subscriptions' heartbeats (in one worker
// per instance: on SQLite one dispatcher in all; on PostgreSQL one per instance, side by side).
import type { PeerConfig, RetryPolicy } from '../config/peers.ts';
import type { Logger } from '../log/logger.ts';
import type { FhirStore } from '../store/fhir-store.ts';
import type { PeerClientOptions } from './connectors/peer-client.ts';
import { PeerClients } from './connectors/peer-clients.ts';
import { peerDeliverers, peerReads } from './outbox/deliverers.ts';
import type { Deliverer } from './outbox/deliverer.ts';
import { Dispatcher } from './outbox/dispatcher.ts';
import type { DispatcherOptions } from './outbox/dispatcher.ts';
import { peerRouter } from './outbox/peer-router.ts';
import { SUBSCRIPTION_RETRY, SubscriptionDeliverer } from './outbox/subscription-deliverer.ts';
import { SubscriptionRouter, composeRouters, subscriptionIdOf } from './outbox/subscription-router.ts';
import { SubscriptionHeartbeat } from './subscription-heartbeat.ts';
import { PollScheduler } from './poller/poll-scheduler.ts';
import { SweepJob } from './tcm-sweep-job.ts';
import { RetentionJob } from './outbox/retention-job.ts';
import type { OutboxRetentionConfig } from '../config/outbox.ts';
import type { ClockConfig } from '../config/clock.ts';
import { clockRulesOf } from '../config/clock.ts';

export interface SyncOptions {
  store: FhirStore;
  peers: readonly PeerConfig[];
  logger: Logger;
  /** This process sends the outbox (false: it only writes to it). */
  dispatch: boolean;
  peerClient?: PeerClientOptions;
  dispatcher?: Partial<Omit<DispatcherOptions, 'store' | 'logger' | 'delivererFor' | 'retryFor'>>;
  /** carebridge's /fhir base URL as subscribers reach it (notifications' references). */
  fhirBaseUrl: string;
  /** Heartbeat tick (default HEARTBEAT_TICK_MS); 0: no heartbeat timer (tests tick by hand). */
  heartbeatTickMs?: number;
  /** Run the EHR pollers on their schedules (default true; tests trigger them by hand). */
  poll?: boolean;
  /** Retries of subscription deliveries (default SUBSCRIPTION_RETRY). */
  subscriptionRetry?: RetryPolicy;
  /** The TCM overdue sweep's node-cron schedule (default DEFAULT_SWEEP_SCHEDULE); false: not scheduled (tests trigger it). */
  sweepSchedule?: string | false;
  /** The TCM clock (config file `clock`): the deadlines of transitions an EHR poll brings. */
  tcmClock?: ClockConfig;
  /** The outbox's retention (config file `outbox.retention`, default DEFAULT_OUTBOX's); false: not scheduled (tests trigger it). */
  outboxRetention?: OutboxRetentionConfig | false;
}

export interface RunningSync {
  dispatcher?: Dispatcher;
  heartbeat?: SubscriptionHeartbeat;
  poller?: PollScheduler;
  sweep?: SweepJob;
  retention?: RetentionJob;
  stop(): Promise<void>;
}

export async function startSync(options: SyncOptions): Promise<RunningSync> {
  const { store, peers, logger } = options;
  const router = composeRouters(peerRouter(peers), new SubscriptionRouter({ logger }));
  if (router) {
    store.configure({ outboxRouter: router });
  }
  if (!options.dispatch) {
    return { stop: () => Promise.resolve() };
  }
  // One client per peer: pushing to an EHR and polling it share its limit and its token.
  const clients = new PeerClients(options.peerClient);
  const deliverers: Map<string, Deliverer> = peerDeliverers(peers, peerReads(store), clients);
  const byName = new Map(peers.map((peer) => [peer.name, peer]));
  const subscriptions = new SubscriptionDeliverer({ store, fhirBaseUrl: options.fhirBaseUrl, logger, fetch: options.peerClient?.fetch, clock: options.dispatcher?.clock });
  const onSettled = options.dispatcher?.onSettled;
  const dispatcher = new Dispatcher({
    ...options.dispatcher,
    store,
    logger,
    delivererFor: (destination) => (subscriptionIdOf(destination) !== undefined ? subscriptions : deliverers.get(destination)),
    retryFor: (destination) =>
      subscriptionIdOf(destination) !== undefined ? (options.subscriptionRetry ?? SUBSCRIPTION_RETRY) : (byName.get(destination)?.limits.retry ?? { initialDelayMs: 1000, maxDelayMs: 15 * 60_000, windowHours: 72 }),
    onSettled: (delivery, settlement) => {
      const subscription = subscriptionIdOf(delivery.destination);
      // Given up on an event (or its handshake): the Subscription is in error until its subscriber re-activates it.
      if (subscription !== undefined && settlement.state === 'dead') {
        void subscriptions.markError(subscription, settlement.error);
      }
      onSettled?.(delivery, settlement);
    },
  });
  if (store.kind === 'sqlite') {
    // SQLite has one dispatcher (this one): leases left by a process that died are released now,
    // rather than when they run out.
    await store.releaseLeases();
  }
  dispatcher.start();
  const heartbeat = new SubscriptionHeartbeat({ store, deliverer: subscriptions, logger, clock: options.dispatcher?.clock, tickMs: options.heartbeatTickMs });
  if (options.heartbeatTickMs !== 0) {
    heartbeat.start();
  }
  // EHR polling on each peer's schedule; a lease per peer keeps it to one instance at a time.
  const poller = new PollScheduler({ store, peers, logger, clientFor: (peer) => clients.clientFor(peer), pollOptions: { workflow: { clockRules: clockRulesOf(options.tcmClock) } } });
  if (options.poll !== false) {
    poller.start();
  }
  // The TCM overdue sweep: a lease keeps it to one instance at a time.
  const sweep = new SweepJob({ store, logger, schedule: options.sweepSchedule || undefined, now: options.dispatcher?.clock });
  if (options.sweepSchedule !== false) {
    sweep.start();
  }
  // Outbox retention: a lease keeps it to one instance at a time.
  const retention = new RetentionJob({ store, logger, retention: options.outboxRetention || undefined, now: options.dispatcher?.clock });
  if (options.outboxRetention !== false) {
    retention.start();
  }
  logger.info('sync started', { holder: dispatcher.holder, destinations: [...deliverers.keys()], polled: poller.peerNames });
  return {
    dispatcher,
    heartbeat,
    poller,
    sweep,
    retention,
    stop: async () => {
      await retention.stop();
      await sweep.stop();
      await poller.stop();
      await heartbeat.stop();
      await dispatcher.stop();
    },
  };
}
