// The Subscriptions R5 Backport IG's operations and topics on /fhir:
// - GET Subscription/{id}/$status and GET Subscription/$status?id=&status=: the SubscriptionStatus
//   (R4 Parameters) of the caller's own Subscriptions (an admin's: any), as a searchset Bundle;
// - GET Subscription/{id}/$events?eventsSinceNumber=&eventsUntilNumber=&content=: stored events
//   served again by number, with their resources as they are now and as the caller may see them,
//   as a history Bundle (type query-event): how a subscriber fills a gap it detected;
// - GET Basic and GET Basic/{id}: the topics, in the IG's R4 form (Basic with SubscriptionTopic
//   extensions). Another tenant's Subscription does not exist for the caller (404).
import { OperationOutcomeError, notFound, parseSearchRequest } from '@medplum/core';
import type { Bundle, Parameters, Subscription } from '@medplum/fhirtypes';
import { requirePermission } from '../../auth/access/policy.ts';
import type { FhirStore, StoredVersion } from '../../store/fhir-store.ts';
import type { NotificationEvent } from '../../subscriptions/notification.ts';
import { notificationBundle, statusBundle, subscriptionStatus } from '../../subscriptions/notification.ts';
import type { ParsedSubscription, PayloadContent } from '../../subscriptions/subscription.ts';
import { parseSubscription, subscriptionDestination } from '../../subscriptions/subscription.ts';
import { SUBSCRIPTION_TOPICS, topicAsBasic } from '../../subscriptions/topics.ts';
import type { FhirRequest, FhirResponse } from './request.ts';
import { badRequestError } from './request.ts';
import { checkId } from './handlers.ts';

/** Events one $events call serves at most (the IG lets a server restrict the range); ask again from the next number. */
export const MAX_EVENTS_PER_CALL = 100;
/** Subscriptions one type-level $status answers for at most. */
const MAX_STATUSES = 1000;
const CONTENTS: readonly PayloadContent[] = ['empty', 'id-only', 'full-resource'];

async function ownSubscription(store: FhirStore, request: FhirRequest, id: string): Promise<StoredVersion> {
  requirePermission(request.principal, 'Subscription', 'r');
  checkId(id);
  // The caller's view of the store: another tenant's Subscription is not found.
  const stored = await store.read('Subscription', id);
  if (!stored || stored.deleted || !stored.resource) {
    throw new OperationOutcomeError(notFound);
  }
  return stored;
}

async function statusOf(store: FhirStore, request: FhirRequest, subscription: Subscription): Promise<Parameters> {
  const { lastEventNumber } = await store.streamState(subscriptionDestination(subscription.id as string));
  let content: PayloadContent = 'id-only';
  try {
    content = parseSubscription(subscription).content;
  } catch {
    // Stored before a rule changed: its status is still worth knowing.
  }
  return subscriptionStatus({ baseUrl: request.baseUrl, subscription, type: 'query-status', eventsSinceSubscriptionStart: lastEventNumber, content });
}

/** GET Subscription/{id}/$status, or GET Subscription/$status (the caller's, filtered by id and status). */
export async function statusOperation(store: FhirStore, request: FhirRequest, id?: string): Promise<FhirResponse> {
  let subscriptions: Subscription[];
  if (id !== undefined) {
    subscriptions = [(await ownSubscription(store, request, id)).resource as Subscription];
  } else {
    requirePermission(request.principal, 'Subscription', 's');
    const ids = request.query.filter(([k]) => k === 'id').flatMap(([, v]) => v.split(','));
    const statuses = request.query.filter(([k]) => k === 'status').flatMap(([, v]) => v.split(','));
    ids.forEach(checkId);
    if (statuses.some((s) => !/^[a-z-]{1,20}$/.test(s))) {
      throw badRequestError('status takes Subscription status codes', 'status');
    }
    const pairs: [string, string][] = [['_count', String(MAX_STATUSES)]];
    if (ids.length > 0) {
      pairs.push(['_id', ids.join(',')]);
    }
    if (statuses.length > 0) {
      pairs.push(['status', statuses.join(',')]);
    }
    const query = new URLSearchParams(pairs);
    subscriptions = (await store.search(parseSearchRequest(`Subscription?${query.toString()}`))).resources as Subscription[];
  }
  const statuses: Parameters[] = [];
  for (const subscription of subscriptions) {
    statuses.push(await statusOf(store, request, subscription));
  }
  return { status: 200, body: statusBundle(statuses, Date.now()), headers: {} };
}

function eventNumberParam(request: FhirRequest, name: string): number | undefined {
  const values = request.query.filter(([k]) => k === name).map(([, v]) => v);
  if (values.length === 0) {
    return undefined;
  }
  const value = values[0] as string;
  if (values.length > 1 || !/^\d{1,15}$/.test(value) || Number(value) < 1) {
    throw badRequestError(`${name} must be one event number (1 or more)`, name);
  }
  return Number(value);
}

/** GET Subscription/{id}/$events: stored events by number, their resources as they are now. */
export async function eventsOperation(store: FhirStore, request: FhirRequest, id: string): Promise<FhirResponse> {
  const stored = await ownSubscription(store, request, id);
  const subscription = stored.resource as Subscription;
  let parsed: ParsedSubscription | undefined;
  try {
    parsed = parseSubscription(subscription);
  } catch {
    parsed = undefined;
  }
  const contentParam = request.query.find(([k]) => k === 'content')?.[1];
  if (contentParam !== undefined && !CONTENTS.includes(contentParam as PayloadContent)) {
    throw badRequestError(`content must be one of ${CONTENTS.join(', ')}`, 'content');
  }
  const content = (contentParam as PayloadContent | undefined) ?? parsed?.content ?? 'id-only';
  const destination = subscriptionDestination(id);
  const { lastEventNumber } = await store.streamState(destination);
  const since = eventNumberParam(request, 'eventsSinceNumber') ?? 1;
  const until = Math.min(eventNumberParam(request, 'eventsUntilNumber') ?? lastEventNumber, lastEventNumber, since + MAX_EVENTS_PER_CALL - 1);
  const rows = until >= since ? await store.listDeliveries({ destination, eventNumbers: { from: since, to: until }, limit: MAX_EVENTS_PER_CALL }) : [];
  const events: NotificationEvent[] = [];
  for (const row of rows) {
    // Read as the caller: what it may see now (its tenancy), never more.
    const now = content === 'full-resource' ? await store.read(row.resourceType, row.resourceId) : undefined;
    events.push({
      eventNumber: row.eventNumber as number,
      timestampMs: row.createdMs,
      focus: { resourceType: row.resourceType, id: row.resourceId },
      versionId: row.versionId,
      ...(now ? { current: { resource: now.resource, versionId: now.versionId, lastUpdated: now.lastUpdated, deleted: now.deleted } } : {}),
    });
  }
  const bundle: Bundle = notificationBundle({ baseUrl: request.baseUrl, subscription, type: 'query-event', eventsSinceSubscriptionStart: lastEventNumber, events, content }, Date.now());
  return { status: 200, body: bundle, headers: {} };
}

/** GET Basic/{id}: a topic in the IG's R4 form. */
export function topicRead(id: string): FhirResponse {
  const topic = SUBSCRIPTION_TOPICS.find((t) => t.id === id);
  if (!topic) {
    throw new OperationOutcomeError(notFound);
  }
  return { status: 200, body: topicAsBasic(topic), headers: {} };
}

/** GET Basic: every topic (carebridge's only Basic resources). */
export function topicSearch(request: FhirRequest): FhirResponse {
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    total: SUBSCRIPTION_TOPICS.length,
    entry: SUBSCRIPTION_TOPICS.map((topic) => ({ fullUrl: `${request.baseUrl}/Basic/${topic.id}`, resource: topicAsBasic(topic), search: { mode: 'match' } })),
  };
  return { status: 200, body: bundle, headers: {} };
}
