// Rest-hook delivery to a Subscription's endpoint (destination "subscription/<id>"): the handshake
// that makes a `requested` Subscription `active` (or `error`), each numbered event as a
// notification Bundle at the Subscription's payload level — full-resource with the resource as
// it is now and as the subscriber may see it — and heartbeats. Failures are PeerErrors, so the
// dispatcher's backoff, pause and dead-letter apply; a Subscription whose deliveries keep failing
// is set to `error` (the IG: the subscriber finds out by $status, heartbeats or the next event's
// status, and recovers the missed events with $events).
import type { Subscription } from '@medplum/fhirtypes';
import type { PeerConfig } from '../../config/peers.ts';
import type { Logger } from '../../log/logger.ts';
import type { FhirStore, StoredVersion } from '../../store/fhir-store.ts';
import type { Delivery } from '../../store/outbox.ts';
import type { NotificationEvent, NotificationType } from '../../subscriptions/notification.ts';
import { notificationBundle } from '../../subscriptions/notification.ts';
import type { ParsedSubscription } from '../../subscriptions/subscription.ts';
import { parseSubscription } from '../../subscriptions/subscription.ts';
import { PeerClient, PeerError } from '../connectors/peer-client.ts';
import type { Deliverer } from './deliverer.ts';
import { EVENT_ID_HEADER } from './deliverer.ts';
import { subscriberCaller, subscriptionDestination, subscriptionIdOf } from './subscription-router.ts';

/** A subscription's retries: quicker to give up than a peer's 72 hours — the subscriber can recover missed events with $events. */
export const SUBSCRIPTION_RETRY = { initialDelayMs: 1000, maxDelayMs: 5 * 60_000, windowHours: 24 };
/** Failed attempts of one delivery after which an active Subscription is set to error (it is still retried). */
export const ERROR_AFTER_ATTEMPTS = 3;
/** A subscriber's answer is read up to this and dropped. */
const MAX_ANSWER_BYTES = 64 * 1024;

export interface SubscriptionDelivererOptions {
  store: FhirStore;
  /** carebridge's /fhir base URL as subscribers reach it: references and fullUrls in notifications. */
  fhirBaseUrl: string;
  logger: Logger;
  fetch?: typeof fetch;
  clock?: () => number;
}

export class SubscriptionDeliverer implements Deliverer {
  private readonly options: SubscriptionDelivererOptions;
  private readonly clock: () => number;

  constructor(options: SubscriptionDelivererOptions) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
  }

  async deliver(delivery: Delivery, current: StoredVersion | undefined): Promise<{ sentVersionId: string }> {
    const id = subscriptionIdOf(delivery.destination) as string;
    let stored = await this.subscription(id);
    const handshake = delivery.resourceType === 'Subscription' && delivery.resourceId === id;
    if (handshake) {
      // A later write may have activated, re-pointed or ended it: only a requested one is greeted.
      if ((stored.resource as Subscription).status === 'requested') {
        await this.handshake(stored);
      }
      return { sentVersionId: delivery.versionId };
    }
    if (delivery.eventNumber === undefined) {
      throw new PeerError(`subscription ${id}: delivery ${delivery.id} has no event number`, 'rejected');
    }
    let parsed = this.parsed(stored);
    if (parsed.status === 'off' || (parsed.endMs !== undefined && parsed.endMs < this.clock())) {
      throw new PeerError(`subscription ${id} is off or ended`, 'rejected');
    }
    if (parsed.status === 'requested') {
      // Re-pointed since this event was counted: the new endpoint is greeted before it hears anything.
      await this.handshake(stored);
      stored = await this.subscription(id);
      parsed = this.parsed(stored);
    }
    const event = await this.event(parsed, delivery, current);
    try {
      await this.post(stored, parsed, 'event-notification', delivery.eventNumber, [event], delivery.eventId);
    } catch (err) {
      const failure = err instanceof PeerError ? err : new PeerError((err as Error).message, 'retry');
      if (failure.failure !== 'retry' || delivery.attempts + 1 >= ERROR_AFTER_ATTEMPTS) {
        await this.markError(id, failure.message);
      }
      throw failure;
    }
    return { sentVersionId: current?.versionId ?? delivery.versionId };
  }

  /** A heartbeat to an active (or error) Subscription: its status and event count, no events. */
  async heartbeat(stored: StoredVersion): Promise<void> {
    const parsed = this.parsed(stored);
    const { lastEventNumber } = await this.options.store.streamState(subscriptionDestination(stored.id));
    await this.post(stored, parsed, 'heartbeat', lastEventNumber, []);
  }

  /** Sets the Subscription to error with the reason, unless it is off or already in error. */
  async markError(id: string, reason: string): Promise<void> {
    const { store, logger } = this.options;
    const stored = await store.read('Subscription', id);
    const subscription = stored?.resource as Subscription | undefined;
    if (!stored || stored.deleted || !subscription || subscription.status === 'off' || subscription.status === 'error') {
      return;
    }
    try {
      await store.update({ ...subscription, status: 'error', error: reason.slice(0, 500) }, { ifMatch: stored.versionId });
      logger.warn('subscription set to error', { subscription: id, error: reason });
    } catch (err) {
      // Changed meanwhile (a client's write won): the next failure tries again.
      logger.warn('subscription could not be set to error', { subscription: id, error: err });
    }
  }

  private async subscription(id: string): Promise<StoredVersion> {
    const stored = await this.options.store.read('Subscription', id);
    if (!stored || stored.deleted || !stored.resource) {
      throw new PeerError(`subscription ${id} no longer exists`, 'rejected');
    }
    return stored;
  }

  private parsed(stored: StoredVersion): ParsedSubscription {
    try {
      return parseSubscription(stored.resource as Subscription);
    } catch {
      throw new PeerError(`subscription ${stored.id} cannot be honoured`, 'rejected');
    }
  }

  /** The handshake: `active` when the endpoint accepts it, `error` (and no retry) when it does not. */
  private async handshake(stored: StoredVersion): Promise<void> {
    const { store, logger } = this.options;
    const subscription = stored.resource as Subscription;
    const parsed = this.parsed(stored);
    const { lastEventNumber } = await store.streamState(subscriptionDestination(stored.id));
    try {
      await this.post(stored, parsed, 'handshake', lastEventNumber, []);
    } catch (err) {
      const message = (err as Error).message;
      await store.update({ ...subscription, status: 'error', error: `handshake failed: ${message}`.slice(0, 500) }, { ifMatch: stored.versionId }).catch(() => undefined);
      logger.warn('subscription handshake failed', { subscription: stored.id, error: message });
      throw new PeerError(`subscription ${stored.id}: handshake failed (${message})`, 'rejected', { status: (err as PeerError).status });
    }
    try {
      await store.update({ ...subscription, status: 'active' }, { ifMatch: stored.versionId });
      logger.info('subscription active', { subscription: stored.id });
    } catch (err) {
      // A client changed it meanwhile: its own write decides (a requested one is greeted again).
      logger.warn('subscription changed during its handshake', { subscription: stored.id, error: err });
    }
  }

  /** The event's focus as the notification carries it: for full-resource, as the subscriber may see it now. */
  private async event(parsed: ParsedSubscription, delivery: Delivery, current: StoredVersion | undefined): Promise<NotificationEvent> {
    const focus = { resourceType: delivery.resourceType, id: delivery.resourceId };
    let now: StoredVersion | undefined;
    if (parsed.content === 'full-resource') {
      // Never more than the subscriber's tenant may see now (a referral placed elsewhere since).
      now = parsed.subscriber && current ? await this.options.store.forCaller(subscriberCaller(parsed.subscriber, delivery.resourceType)).read(delivery.resourceType, delivery.resourceId) : undefined;
    }
    return {
      eventNumber: delivery.eventNumber as number,
      timestampMs: delivery.createdMs,
      focus,
      versionId: delivery.versionId,
      ...(now ? { current: { resource: now.resource, versionId: now.versionId, lastUpdated: now.lastUpdated, deleted: now.deleted } } : {}),
    };
  }

  private async post(stored: StoredVersion, parsed: ParsedSubscription, type: NotificationType, eventsSinceStart: number, events: NotificationEvent[], eventId?: string): Promise<void> {
    const subscription = stored.resource as Subscription;
    const bundle = notificationBundle({ baseUrl: this.options.fhirBaseUrl, subscription, type, eventsSinceSubscriptionStart: eventsSinceStart, events, content: parsed.content }, this.clock());
    const client = new PeerClient(this.peerOf(stored.id, parsed), { fetch: this.options.fetch, clock: this.clock });
    // The subscriber's headers first: carebridge's own (content type, event id) are not theirs to change.
    const headers = { ...parsed.headers, 'content-type': parsed.contentType, ...(eventId ? { [EVENT_ID_HEADER]: eventId } : {}) };
    await client.request('POST', { path: parsed.endpoint, body: bundle, headers, ignoreBody: true });
  }

  private peerOf(id: string, parsed: ParsedSubscription): PeerConfig {
    return {
      name: subscriptionDestination(id),
      kind: 'agency',
      organization: parsed.subscriber?.organization ?? { system: 'urn:carebridge', value: 'unknown' },
      webhookUrl: parsed.endpoint,
      auth: { type: 'none' },
      limits: { timeoutMs: parsed.timeoutSeconds * 1000, maxConcurrent: 1, maxResponseBytes: MAX_ANSWER_BYTES, retry: SUBSCRIPTION_RETRY },
    };
  }
}
