// carebridge's side of the conversation with its peers, as one running thing: the outbox router on
// every write (in every worker), and the dispatcher that sends (in one worker per instance: on
// SQLite one dispatcher in all; on PostgreSQL one per instance, claiming side by side).
import type { PeerConfig } from '../config/peers.ts';
import type { Logger } from '../log/logger.ts';
import type { FhirStore } from '../store/fhir-store.ts';
import type { PeerClientOptions } from './connectors/peer-client.ts';
import { peerDeliverers } from './outbox/deliverers.ts';
import type { Deliverer } from './outbox/deliverers.ts';
import { Dispatcher } from './outbox/dispatcher.ts';
import type { DispatcherOptions } from './outbox/dispatcher.ts';
import { peerRouter } from './outbox/peer-router.ts';

export interface SyncOptions {
  store: FhirStore;
  peers: readonly PeerConfig[];
  logger: Logger;
  /** This process sends the outbox (false: it only writes to it). */
  dispatch: boolean;
  peerClient?: PeerClientOptions;
  dispatcher?: Partial<Omit<DispatcherOptions, 'store' | 'logger' | 'delivererFor' | 'retryFor'>>;
}

export interface RunningSync {
  dispatcher?: Dispatcher;
  stop(): Promise<void>;
}

export async function startSync(options: SyncOptions): Promise<RunningSync> {
  const { store, peers, logger } = options;
  const router = peerRouter(peers);
  if (router) {
    store.configure({ outboxRouter: router });
  }
  if (!options.dispatch) {
    return { stop: () => Promise.resolve() };
  }
  const read = async (resourceType: string, id: string) => {
    const version = await store.read(resourceType, id);
    return version && !version.deleted ? version.resource : undefined;
  };
  const deliverers: Map<string, Deliverer> = peerDeliverers(peers, read, options.peerClient);
  const byName = new Map(peers.map((peer) => [peer.name, peer]));
  const dispatcher = new Dispatcher({
    ...options.dispatcher,
    store,
    logger,
    delivererFor: (destination) => deliverers.get(destination),
    retryFor: (destination) => byName.get(destination)?.limits.retry ?? { initialDelayMs: 1000, maxDelayMs: 15 * 60_000, windowHours: 72 },
  });
  if (store.kind === 'sqlite') {
    // SQLite has one dispatcher (this one): leases left by a process that died are released now,
    // rather than when they run out.
    await store.releaseLeases();
  }
  dispatcher.start();
  logger.info('outbox dispatcher started', { holder: dispatcher.holder, destinations: [...deliverers.keys()] });
  return {
    dispatcher,
    stop: () => dispatcher.stop(),
  };
}
