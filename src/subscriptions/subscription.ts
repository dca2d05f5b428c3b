// An R4 Subscription in the Subscriptions R5 Backport IG's form, read into what carebridge acts on:
// its topic (criteria = the topic's canonical URL), its filters (backport-filter-criteria on
// _criteria), its rest-hook channel (endpoint, headers, payload mime type, backport-payload-content,
// heartbeat period, timeout) and who subscribed (the subscriber extension carebridge stamps).
// Pure functions: no I/O. A Subscription carebridge cannot honour is refused with every reason.
import { OperationOutcomeError } from '@medplum/core';
import type { Extension, OperationOutcomeIssue, Subscription } from '@medplum/fhirtypes';
import type { ClientRole } from '../auth/principal.ts';
import { CLIENT_ROLES } from '../auth/principal.ts';
import { CAREBRIDGE_BASE } from '../model/terminology.ts';
import { jsonTypeOf } from '../util/json-type.ts';
import type { SubscriptionTopicDefinition } from './topics.ts';
import { topicByUrl } from './topics.ts';

const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
export const FILTER_CRITERIA_URL = `${BACKPORT}/backport-filter-criteria`;
export const PAYLOAD_CONTENT_URL = `${BACKPORT}/backport-payload-content`;
export const HEARTBEAT_PERIOD_URL = `${BACKPORT}/backport-heartbeat-period`;
export const TIMEOUT_URL = `${BACKPORT}/backport-timeout`;
export const MAX_COUNT_URL = `${BACKPORT}/backport-max-count`;
/** Who subscribed: set by carebridge from the creating client, never taken from the body. */
export const SUBSCRIBER_URL = `${CAREBRIDGE_BASE}/StructureDefinition/subscriber`;

const DESTINATION_PREFIX = 'subscription/';

/** The outbox destination of a Subscription's notifications. */
export function subscriptionDestination(id: string): string {
  return `${DESTINATION_PREFIX}${id}`;
}

/** The Subscription id of a "subscription/<id>" destination; undefined for a peer. */
export function subscriptionIdOf(destination: string): string | undefined {
  return destination.startsWith(DESTINATION_PREFIX) ? destination.slice(DESTINATION_PREFIX.length) : undefined;
}

export type PayloadContent = 'empty' | 'id-only' | 'full-resource';
const CONTENTS: readonly PayloadContent[] = ['empty', 'id-only', 'full-resource'];
const MIME_TYPES = ['application/fhir+json', 'application/json'];

export const SUBSCRIPTION_LIMITS = {
  /** A heartbeat more often than every 30 s is load without information; daily is the IG's example. */
  heartbeatSeconds: { min: 30, max: 86_400 },
  /** backport-timeout: how long one POST may take; default as for peers (config/peers.ts). */
  timeoutSeconds: { min: 1, max: 60, default: 10 },
  headers: 10,
  filterValues: 20,
} as const;

/** The organization and role a Subscription's notifications are scoped to (its tenant). */
export interface Subscriber {
  organization: { system: string; value: string };
  role: ClientRole;
  clientId: string;
}

/** filter name → values, any of which matches (OR); filters of one Subscription all apply (AND). */
export interface SubscriptionFilter {
  name: string;
  values: string[];
}

export interface ParsedSubscription {
  id: string;
  status: NonNullable<Subscription['status']>;
  topic: SubscriptionTopicDefinition;
  filters: SubscriptionFilter[];
  endpoint: string;
  headers: Record<string, string>;
  contentType: string;
  content: PayloadContent;
  heartbeatSeconds?: number;
  timeoutSeconds: number;
  /** Notifications stop after this instant (Subscription.end). */
  endMs?: number;
  subscriber?: Subscriber;
}

type SubscriptionJson = Subscription & { _criteria?: { extension?: Extension[] }; channel: Subscription['channel'] & { _payload?: { extension?: Extension[] } } };

const REFERENCE_FILTERS: Record<string, string> = { owner: 'Organization', requester: 'Organization', patient: 'Patient' };
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;
/** Headers carebridge sets itself: a subscriber's must not change what the POST is. */
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'host', 'transfer-encoding', 'connection']);
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export function unprocessable(issues: OperationOutcomeIssue[]): OperationOutcomeError {
  // id business-rule: @medplum/core's getStatus answers 422.
  return new OperationOutcomeError({ resourceType: 'OperationOutcome', id: 'business-rule', issue: issues });
}

function problem(text: string, expression: string): OperationOutcomeIssue {
  return { severity: 'error', code: 'business-rule', details: { text }, expression: [expression] };
}

// The Subscription may be any JSON (validation lets an object through where a string belongs).
function extensionsOf(extensions: Extension[] | undefined, url: string): Extension[] {
  return Array.isArray(extensions) ? extensions.filter((e) => e?.url === url) : [];
}

function normalizedReference(name: string, value: string): string | undefined {
  const type = REFERENCE_FILTERS[name] as string;
  const id = value.startsWith(`${type}/`) ? value.slice(type.length + 1) : value;
  return ID.test(id) ? `${type}/${id}` : undefined;
}

/** "Task?owner=Organization/1&status=requested,accepted" (the type prefix is optional). */
function parseFilter(text: string, topic: SubscriptionTopicDefinition, path: string, issues: OperationOutcomeIssue[]): SubscriptionFilter[] {
  let query = text.trim();
  const question = query.indexOf('?');
  if (question >= 0) {
    const type = query.slice(0, question);
    if (type !== topic.resourceType) {
      issues.push(problem(`The filter "${text.slice(0, 80)}" is about ${type.slice(0, 40)}; the topic's resource is ${topic.resourceType}`, path));
      return [];
    }
    query = query.slice(question + 1);
  }
  const filters: SubscriptionFilter[] = [];
  for (const [name, raw] of new URLSearchParams(query)) {
    if (!topic.filters.some((f) => f.name === name)) {
      issues.push(problem(`The topic ${topic.url} cannot be filtered by "${name.slice(0, 40)}" (it can by ${topic.filters.map((f) => f.name).join(', ')}; no modifiers)`, path));
      continue;
    }
    const values = raw.split(',').map((v) => v.trim());
    if (values.length > SUBSCRIPTION_LIMITS.filterValues || values.some((v) => v === '')) {
      issues.push(problem(`The filter ${name} needs 1 to ${SUBSCRIPTION_LIMITS.filterValues} non-empty values`, path));
      continue;
    }
    if (name in REFERENCE_FILTERS) {
      const references = values.map((v) => normalizedReference(name, v));
      if (references.some((r) => r === undefined)) {
        issues.push(problem(`The filter ${name} takes ${REFERENCE_FILTERS[name]}/{id} references`, path));
        continue;
      }
      filters.push({ name, values: references as string[] });
    } else if (values.every((v) => /^[a-z][a-z-]{0,63}$/.test(v))) {
      filters.push({ name, values });
    } else {
      issues.push(problem(`The filter ${name} takes codes`, path));
    }
  }
  if (filters.length === 0 && issues.length === 0) {
    issues.push(problem(`The filter "${text.slice(0, 80)}" names no parameter`, path));
  }
  return filters;
}

function checkEndpoint(endpoint: string | undefined, issues: OperationOutcomeIssue[]): void {
  let url: URL;
  try {
    url = new URL(endpoint ?? '');
  } catch {
    issues.push(problem('A rest-hook Subscription needs channel.endpoint, an absolute https URL', 'Subscription.channel.endpoint'));
    return;
  }
  if (url.username || url.password) {
    issues.push(problem('channel.endpoint must not carry credentials (use channel.header)', 'Subscription.channel.endpoint'));
  }
  // Notifications carry PHI: only TLS, except to this machine (tests, a local relay).
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOCAL_HOSTS.has(url.hostname))) {
    issues.push(problem('channel.endpoint must be https (http only to localhost or 127.0.0.1)', 'Subscription.channel.endpoint'));
  }
}

function parseHeaders(lines: readonly unknown[] | undefined, issues: OperationOutcomeIssue[]): Record<string, string> {
  const headers: Record<string, string> = {};
  if (lines !== undefined && !Array.isArray(lines)) {
    issues.push(problem('channel.header is a list of "Name: value" strings', 'Subscription.channel.header'));
    return headers;
  }
  if ((lines ?? []).length > SUBSCRIPTION_LIMITS.headers) {
    issues.push(problem(`At most ${SUBSCRIPTION_LIMITS.headers} channel.header values`, 'Subscription.channel.header'));
    return headers;
  }
  for (const [i, line] of (lines ?? []).entries()) {
    if (typeof line !== 'string') {
      issues.push(problem('Each channel.header is a "Name: value" string', `Subscription.channel.header[${i}]`));
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    const value = colon > 0 ? line.slice(colon + 1).trim() : '';
    if (!HEADER_NAME.test(name) || /[\r\n\0]/.test(value) || value.length > 4096) {
      issues.push(problem('Each channel.header is "Name: value" on one line', 'Subscription.channel.header'));
    } else if (RESERVED_HEADERS.has(name.toLowerCase())) {
      issues.push(problem(`channel.header may not set ${name}`, 'Subscription.channel.header'));
    } else {
      headers[name] = value;
    }
  }
  return headers;
}

function boundedSeconds(extension: Extension | undefined, bounds: { min: number; max: number }, what: string, expression: string, issues: OperationOutcomeIssue[]): number | undefined {
  if (!extension) {
    return undefined;
  }
  const value = extension.valueUnsignedInt;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < bounds.min || value > bounds.max) {
    issues.push(problem(`${what} must be whole seconds from ${bounds.min} to ${bounds.max}`, expression));
    return undefined;
  }
  return value;
}

export function subscriberOf(subscription: Subscription): Subscriber | undefined {
  const [extension] = extensionsOf(subscription.extension, SUBSCRIBER_URL);
  const part = (url: string): Extension | undefined => extension?.extension?.find((e) => e.url === url);
  const organization = part('organization')?.valueIdentifier;
  const role = part('role')?.valueCode as ClientRole | undefined;
  const clientId = part('client')?.valueString;
  if (!organization?.system || !organization.value || !role || !CLIENT_ROLES.includes(role) || !clientId) {
    return undefined;
  }
  return { organization: { system: organization.system, value: organization.value }, role, clientId };
}

/** The Subscription with its subscriber extension replaced by `subscriber`. */
export function withSubscriber(subscription: Subscription, subscriber: Subscriber | undefined): Subscription {
  const others = (subscription.extension ?? []).filter((e) => e.url !== SUBSCRIBER_URL);
  const stamped: Extension[] = subscriber
    ? [
        {
          url: SUBSCRIBER_URL,
          extension: [
            { url: 'organization', valueIdentifier: subscriber.organization },
            { url: 'role', valueCode: subscriber.role },
            { url: 'client', valueString: subscriber.clientId },
          ],
        },
      ]
    : [];
  const extension = [...others, ...stamped];
  return { ...subscription, extension: extension.length > 0 ? extension : undefined };
}

/** Reads a Subscription; throws a 422 OperationOutcome naming everything carebridge cannot honour. */
export function parseSubscription(input: Subscription): ParsedSubscription {
  const subscription = input as SubscriptionJson;
  const issues: OperationOutcomeIssue[] = [];
  const criteria: unknown = subscription.criteria;
  const topic = typeof criteria === 'string' ? topicByUrl(criteria) : undefined;
  if (!topic) {
    const said = typeof criteria === 'string' ? `"${criteria.slice(0, 120)}"` : `a ${jsonTypeOf(criteria)}`;
    issues.push(problem(`criteria must be the canonical URL of one of carebridge's topics (see GET /fhir/metadata), not ${said}`, 'Subscription.criteria'));
  }
  const filters: SubscriptionFilter[] = [];
  const filterExtensions: unknown = subscription._criteria?.extension;
  if (filterExtensions !== undefined && !Array.isArray(filterExtensions)) {
    issues.push(problem('_criteria.extension is a list of extensions', 'Subscription._criteria.extension'));
  }
  extensionsOf(subscription._criteria?.extension, FILTER_CRITERIA_URL).forEach((extension, i) => {
    const path = `Subscription._criteria.extension[${i}]`;
    if (typeof extension.valueString !== 'string') {
      issues.push(problem('backport-filter-criteria takes a valueString', path));
    } else if (topic) {
      filters.push(...parseFilter(extension.valueString, topic, path, issues));
    }
  });
  const channel = subscription.channel;
  if (channel?.type !== 'rest-hook') {
    issues.push(problem('channel.type must be rest-hook: carebridge sends no other kind', 'Subscription.channel.type'));
  }
  checkEndpoint(channel?.endpoint, issues);
  const headers = parseHeaders(channel?.header, issues);
  const contentType = channel?.payload ?? '';
  if (!MIME_TYPES.includes(contentType)) {
    issues.push(problem('channel.payload must be application/fhir+json (or application/json)', 'Subscription.channel.payload'));
  }
  const contentCode = extensionsOf(channel?._payload?.extension, PAYLOAD_CONTENT_URL)[0]?.valueCode;
  if (!CONTENTS.includes(contentCode as PayloadContent)) {
    issues.push(problem(`channel.payload needs the backport-payload-content extension: one of ${CONTENTS.join(', ')}`, 'Subscription.channel._payload'));
  }
  const heartbeatSeconds = boundedSeconds(extensionsOf(channel?.extension, HEARTBEAT_PERIOD_URL)[0], SUBSCRIPTION_LIMITS.heartbeatSeconds, 'backport-heartbeat-period', 'Subscription.channel.extension', issues);
  const timeoutSeconds = boundedSeconds(extensionsOf(channel?.extension, TIMEOUT_URL)[0], SUBSCRIPTION_LIMITS.timeoutSeconds, 'backport-timeout', 'Subscription.channel.extension', issues);
  const maxCount = extensionsOf(channel?.extension, MAX_COUNT_URL)[0];
  // Each notification carries one event, so any positive maxCount is honoured.
  if (maxCount && !(typeof maxCount.valuePositiveInt === 'number' && maxCount.valuePositiveInt >= 1)) {
    issues.push(problem('backport-max-count takes a positive valuePositiveInt', 'Subscription.channel.extension'));
  }
  const endMs = subscription.end === undefined ? undefined : Date.parse(subscription.end);
  if (endMs !== undefined && Number.isNaN(endMs)) {
    issues.push(problem('end must be an instant', 'Subscription.end'));
  }
  if (issues.length > 0 || !topic) {
    throw unprocessable(issues);
  }
  return {
    id: subscription.id ?? '',
    status: subscription.status ?? 'requested',
    topic,
    filters,
    endpoint: channel.endpoint as string,
    headers,
    contentType,
    content: contentCode as PayloadContent,
    ...(heartbeatSeconds !== undefined ? { heartbeatSeconds } : {}),
    timeoutSeconds: timeoutSeconds ?? SUBSCRIPTION_LIMITS.timeoutSeconds.default,
    ...(endMs !== undefined ? { endMs } : {}),
    subscriber: subscriberOf(subscription),
  };
}
