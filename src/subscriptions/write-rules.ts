// The rules on a client's Subscription writes (the store's beforeWrite hook, see auth/access/policy.ts):
// - carebridge honours it (topic, filters, rest-hook channel: subscription.ts), or refuses it (422);
// - the client may read the topic's resources (role and token scopes), or it is refused (403);
// - the subscriber is the creating client's organization and role, stamped by carebridge and kept
//   on every later write: notifications carry only what that tenant may see;
// - status is carebridge's: a new, re-activated or re-pointed Subscription is `requested` (a
//   handshake follows, then `active`); `error` is set by carebridge only; a client may turn it `off`.
import { OperationOutcomeError } from '@medplum/core';
import type { Resource, Subscription } from '@medplum/fhirtypes';
import { canonicalJson } from '../util/canonical-json.ts';
import type { Subscriber } from './subscription.ts';
import { parseSubscription, subscriberOf, unprocessable, withSubscriber } from './subscription.ts';

export interface SubscriptionWriter {
  /** Who writes: the subscriber of what it creates. */
  subscriber: Subscriber;
  /** Whether the writer may read resources of a type (role and token scopes). */
  mayRead: (resourceType: string) => boolean;
}

/** What decides where and what notifications go: a change of it needs a new handshake. */
function channelKey(subscription: Subscription): string {
  const { criteria, channel } = subscription;
  return canonicalJson({ criteria, criteriaFilters: (subscription as { _criteria?: unknown })._criteria ?? null, channel });
}

function nextStatus(current: Subscription | undefined, next: Subscription): Subscription['status'] {
  const asked = next.status;
  if (asked === 'off') {
    return 'off';
  }
  if (asked === 'error') {
    if (current?.status === 'error') {
      return 'error';
    }
    throw unprocessable([{ severity: 'error', code: 'business-rule', details: { text: 'status error is set by carebridge, not by a client (it may ask for requested, active or off)' }, expression: ['Subscription.status'] }]);
  }
  // requested or active: an active Subscription stays active while its channel is the same;
  // anything new, re-pointed or re-activated (from error or off) is handshaken first.
  const running = current?.status === 'active' || current?.status === 'requested';
  return running && current && channelKey(current) === channelKey(next) ? current.status : 'requested';
}

/** The Subscription to store instead of `next`; throws when it is refused. */
export function applySubscriptionRules(writer: SubscriptionWriter, current: Subscription | undefined, next: Subscription): Resource {
  const parsed = parseSubscription(next);
  if (!writer.mayRead(parsed.topic.resourceType)) {
    throw new OperationOutcomeError({
      resourceType: 'OperationOutcome',
      id: 'forbidden',
      issue: [{ severity: 'error', code: 'forbidden', details: { text: `This client may not read ${parsed.topic.resourceType}, so it may not subscribe to ${parsed.topic.url}` }, expression: ['Subscription.criteria'] }],
    });
  }
  const status = nextStatus(current, next);
  // error (the reason of status error) is carebridge's, like status.
  const { error: _clientError, ...rest } = next;
  void _clientError;
  const error = status === 'error' ? current?.error : undefined;
  const subscriber = (current ? subscriberOf(current) : undefined) ?? writer.subscriber;
  return withSubscriber({ ...rest, status, ...(error ? { error } : {}) }, subscriber);
}
