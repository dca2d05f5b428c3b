// The notification Bundles of the Subscriptions R5 Backport IG in R4 form: a `history` Bundle whose
// first entry is a Parameters resource (the R4 SubscriptionStatus: subscription, topic, status,
// type, events-since-subscription-start, notification-event parts), then one entry per event's
// focus as the payload level allows (empty: none; id-only: fullUrl and request; full-resource:
// the resource too). $status answers a `searchset` of such Parameters. Pure functions: no I/O.
import type { Bundle, BundleEntry, Parameters, ParametersParameter, Resource, Subscription } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import type { PayloadContent } from './subscription.ts';

export type NotificationType = 'handshake' | 'heartbeat' | 'event-notification' | 'query-status' | 'query-event';

export const SUBSCRIPTION_STATUS_PROFILE = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4';
export const NOTIFICATION_PROFILE = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4';

/** One event of a subscription's stream, with its focus as it is now (as the subscriber may see it). */
export interface NotificationEvent {
  eventNumber: number;
  timestampMs: number;
  focus: { resourceType: string; id: string };
  /** The version the event was about: 1 a create, later ones updates. */
  versionId: string;
  /** The focus now (full-resource only): undefined when the subscriber may no longer see it. */
  current?: { resource?: Resource; versionId: string; lastUpdated: string; deleted: boolean };
}

export interface StatusInput {
  /** /fhir base URL: references and fullUrls are absolute. */
  baseUrl: string;
  subscription: Subscription;
  type: NotificationType;
  eventsSinceSubscriptionStart: number;
  events?: readonly NotificationEvent[];
  /** The payload level: what the events carry. */
  content: PayloadContent;
}

function focusUrl(baseUrl: string, focus: NotificationEvent['focus']): string {
  return `${baseUrl}/${focus.resourceType}/${focus.id}`;
}

/** The R4 SubscriptionStatus (backport-subscription-status-r4). */
export function subscriptionStatus(input: StatusInput): Parameters {
  const { subscription } = input;
  const parameter: ParametersParameter[] = [
    { name: 'subscription', valueReference: { reference: `${input.baseUrl}/Subscription/${subscription.id}` } },
    { name: 'topic', valueCanonical: subscription.criteria },
    { name: 'status', valueCode: subscription.status },
    { name: 'type', valueCode: input.type },
    // Not counting handshakes and heartbeats (the IG); a string in the R4 form.
    { name: 'events-since-subscription-start', valueString: String(input.eventsSinceSubscriptionStart) },
  ];
  for (const event of input.events ?? []) {
    parameter.push({
      name: 'notification-event',
      part: [
        { name: 'event-number', valueString: String(event.eventNumber) },
        { name: 'timestamp', valueInstant: new Date(event.timestampMs).toISOString() },
        // An empty payload names no resource (IG: focus SHALL NOT be present).
        ...(input.content === 'empty' ? [] : [{ name: 'focus', valueReference: { reference: focusUrl(input.baseUrl, event.focus) } }]),
      ],
    });
  }
  if (subscription.status === 'error' && subscription.error) {
    parameter.push({ name: 'error', valueCodeableConcept: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/subscription-error', code: 'no-response' }], text: subscription.error } });
  }
  return { resourceType: 'Parameters', id: randomUUID(), meta: { profile: [SUBSCRIPTION_STATUS_PROFILE] }, parameter };
}

/** An event's entry at the payload level (undefined for empty). */
function eventEntry(baseUrl: string, event: NotificationEvent, content: PayloadContent): BundleEntry | undefined {
  if (content === 'empty') {
    return undefined;
  }
  const created = event.versionId === '1';
  const entry: BundleEntry = {
    fullUrl: focusUrl(baseUrl, event.focus),
    request: { method: created ? 'POST' : 'PUT', url: created ? event.focus.resourceType : `${event.focus.resourceType}/${event.focus.id}` },
  };
  if (content === 'full-resource') {
    // The resource as it is now; when it cannot be included, the response says why (IG).
    const current = event.current;
    if (!current) {
      entry.response = { status: '404' };
    } else if (current.deleted || !current.resource) {
      entry.response = { status: '410', etag: `W/"${current.versionId}"`, lastModified: current.lastUpdated };
    } else {
      entry.resource = current.resource;
      entry.response = { status: created && current.versionId === '1' ? '201' : '200', etag: `W/"${current.versionId}"`, lastModified: current.lastUpdated };
    }
  }
  return entry;
}

/** A notification (handshake, heartbeat, event-notification) or an $events answer (query-event). */
export function notificationBundle(input: StatusInput, timestampMs: number): Bundle {
  const status = subscriptionStatus(input);
  const entries: BundleEntry[] = [];
  const seen = new Set<string>();
  for (const event of input.events ?? []) {
    const entry = eventEntry(input.baseUrl, event, input.content);
    // One entry per resource: events about the same resource share its current state.
    if (entry && !seen.has(entry.fullUrl as string)) {
      seen.add(entry.fullUrl as string);
      entries.push(entry);
    }
  }
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { profile: [NOTIFICATION_PROFILE] },
    type: 'history',
    timestamp: new Date(timestampMs).toISOString(),
    entry: [
      {
        fullUrl: `urn:uuid:${status.id}`,
        resource: status,
        request: { method: 'GET', url: `Subscription/${input.subscription.id}/$status` },
        response: { status: '200' },
      },
      ...entries,
    ],
  };
}

/** The $status answer: one SubscriptionStatus per Subscription. */
export function statusBundle(statuses: readonly Parameters[], timestampMs: number): Bundle {
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    type: 'searchset',
    timestamp: new Date(timestampMs).toISOString(),
    total: statuses.length,
    entry: statuses.map((status) => ({ fullUrl: `urn:uuid:${status.id}`, resource: status, search: { mode: 'match' } })),
  };
}
