// Which Subscriptions hear of a change, decided inside its write transaction (an OutboxRouter):
// a written Task, CarePlan or Appointment goes to every active (or error) Subscription whose
// topic it triggers, whose filters it passes, and whose subscriber may see it under carebridge's
// own tenancy rules — each as event number n+1 of that Subscription, numbered in the same
// transaction, so committed events have no gaps. A Subscription written as `requested` gets its
// handshake queued the same way (unnumbered, ahead of its events).
//
// Cost: a write of any other type costs nothing; a write of a topic's type costs one aggregate
// over the Subscription rows (RoutingContext.changeMark) to check the per-process cache of parsed
// active Subscriptions, reloaded only when a Subscription was written anywhere. Then in memory:
// topic and filters; one visibility query per distinct subscriber tenant that passed them; one
// counter update per Subscription that hears of it.
import { concerns } from './concerns.ts';
import { parseSearchRequest } from '@medplum/core';
import type { Resource, Subscription } from '@medplum/fhirtypes';
import { callerFor } from '../../auth/access/policy.ts';
import type { Scope } from '../../auth/scopes.ts';
import { parseScope } from '../../auth/scopes.ts';
import type { Logger } from '../../log/logger.ts';
import type { StoreCaller } from '../../store/access.ts';
import type { StoredVersion } from '../../store/fhir-store.ts';
import type { OutboxEntry, OutboxRouter, RoutingContext } from '../../store/outbox.ts';
import { FilterSubject } from '../../subscriptions/filters.ts';
import type { ParsedSubscription, Subscriber } from '../../subscriptions/subscription.ts';
import { parseSubscription, subscriptionDestination, subscriptionIdOf } from '../../subscriptions/subscription.ts';
import { TOPIC_RESOURCE_TYPES } from '../../subscriptions/topics.ts';

/** Subscriptions read per page when the cache is reloaded. */
const PAGE = 500;

export { subscriptionDestination, subscriptionIdOf };

/**
 * The subscriber's tenant as the store sees it: the role of the client that subscribed, for its
 * organization, reading only the topic's type — what its notifications may carry.
 */
export function subscriberCaller(subscriber: Subscriber, resourceType: string): StoreCaller {
  return callerFor({
    clientId: subscriber.clientId,
    clientName: subscriber.clientId,
    role: subscriber.role,
    organization: subscriber.organization,
    scopes: [parseScope(`system/${resourceType}.rs`) as Scope],
  });
}

interface Listener {
  parsed: ParsedSubscription;
  destination: string;
  caller: StoreCaller;
  /** Subscriptions of one tenant share a visibility answer. */
  tenant: string;
}

/** Routes through every router given, in order. */
export function composeRouters(...routers: (OutboxRouter | undefined)[]): OutboxRouter | undefined {
  const present = routers.filter((r): r is OutboxRouter => r !== undefined);
  if (present.length <= 1) {
    return present[0];
  }
  return {
    async route(written, context): Promise<OutboxEntry[]> {
      const entries: OutboxEntry[] = [];
      for (const router of present) {
        entries.push(...(await router.route(written, context)));
      }
      return entries;
    },
  };
}

export interface SubscriptionRouterOptions {
  logger?: Logger;
  clock?: () => number;
}

export class SubscriptionRouter implements OutboxRouter {
  private cache: { mark: string; listeners: Listener[] } | undefined;
  private readonly logger?: Logger;
  private readonly clock: () => number;
  /** How often the cache was (re)loaded: tests and the benchmark look. */
  loads = 0;

  constructor(options: SubscriptionRouterOptions = {}) {
    this.logger = options.logger;
    this.clock = options.clock ?? Date.now;
  }

  async route(written: readonly StoredVersion[], context: RoutingContext): Promise<OutboxEntry[]> {
    const entries: OutboxEntry[] = [];
    for (const version of written) {
      // A new or re-activated Subscription: its handshake, first in its queue.
      if (version.resourceType === 'Subscription' && (version.resource as Subscription | undefined)?.status === 'requested') {
        entries.push({ destination: subscriptionDestination(version.id), patientId: '', resourceType: 'Subscription', resourceId: version.id, versionId: version.versionId });
      }
    }
    const candidates = written.filter((v) => TOPIC_RESOURCE_TYPES.has(v.resourceType) && !v.deleted && v.resource);
    if (candidates.length === 0) {
      return entries;
    }
    const listeners = await this.listeners(context);
    if (listeners.length === 0) {
      return entries;
    }
    const now = this.clock();
    const events = new Map<string, StoredVersion[]>();
    for (const version of candidates) {
      const resource = version.resource as Resource;
      const subject = new FilterSubject(resource);
      const interaction = version.versionId === '1' ? 'create' : 'update';
      const visible = new Map<string, boolean>();
      for (const listener of listeners) {
        const { topic, filters, endMs } = listener.parsed;
        if (topic.resourceType !== version.resourceType || !topic.interactions.includes(interaction) || !topic.matches(resource) || (endMs !== undefined && endMs < now) || !subject.passes(filters)) {
          continue;
        }
        let seen = visible.get(listener.tenant);
        if (seen === undefined) {
          // An agency hears that its own referral was cancelled, though it may no longer read it.
          seen = await concerns(context, listener.caller, version);
          visible.set(listener.tenant, seen);
        }
        if (seen) {
          const list = events.get(listener.destination) ?? [];
          list.push(version);
          events.set(listener.destination, list);
        }
      }
    }
    for (const [destination, versions] of events) {
      const first = await context.nextEventNumbers(destination, versions.length);
      versions.forEach((version, i) => {
        // One ordering key per Subscription: its events go out one at a time, in number order.
        entries.push({ destination, patientId: '', resourceType: version.resourceType, resourceId: version.id, versionId: version.versionId, eventNumber: first + i });
      });
    }
    return entries;
  }

  /** The Subscriptions that count events (active, or in error: the IG counts on), cached per process. */
  private async listeners(context: RoutingContext): Promise<Listener[]> {
    const mark = await context.changeMark('Subscription');
    if (this.cache?.mark === mark) {
      return this.cache.listeners;
    }
    const listeners: Listener[] = [];
    let cursor: string | undefined;
    do {
      const page = await context.system.search(parseSearchRequest(`Subscription?status=active,error&_count=${PAGE}`), { cursor });
      for (const resource of page.resources) {
        const listener = this.listenerOf(resource as Subscription);
        if (listener) {
          listeners.push(listener);
        }
      }
      cursor = page.next;
    } while (cursor);
    this.cache = { mark, listeners };
    this.loads += 1;
    return listeners;
  }

  private listenerOf(subscription: Subscription): Listener | undefined {
    let parsed: ParsedSubscription;
    try {
      parsed = parseSubscription(subscription);
    } catch {
      // Stored by carebridge itself or before a rule changed: honoured by nobody, said once per load.
      this.logger?.warn('subscription cannot be honoured; skipped', { subscription: subscription.id });
      return undefined;
    }
    const subscriber = parsed.subscriber;
    if (!subscriber || !subscription.id) {
      this.logger?.warn('subscription has no subscriber; skipped', { subscription: subscription.id });
      return undefined;
    }
    return {
      parsed,
      destination: subscriptionDestination(subscription.id),
      caller: subscriberCaller(subscriber, parsed.topic.resourceType),
      tenant: `${subscriber.role}|${subscriber.organization.system}|${subscriber.organization.value}|${parsed.topic.resourceType}`,
    };
  }
}
