// Reading a Subscription in the Backport IG's R4 form, its filters as a search would apply them,
// and the status rules of a client's writes.
import { describe, expect, it } from '@jest/globals';
import { OperationOutcomeError } from '@medplum/core';
import type { Subscription, Task } from '@medplum/fhirtypes';
import { loadDefinitions } from '../../src/validation/definitions.ts';
import { FilterSubject } from '../../src/subscriptions/filters.ts';
import { FILTER_CRITERIA_URL, PAYLOAD_CONTENT_URL, TIMEOUT_URL, parseSubscription, subscriberOf } from '../../src/subscriptions/subscription.ts';
import { SUBSCRIPTION_TOPICS } from '../../src/subscriptions/topics.ts';
import { applySubscriptionRules } from '../../src/subscriptions/write-rules.ts';

loadDefinitions();
const REFERRALS = SUBSCRIPTION_TOPICS[0]?.url as string;

function subscription(filters: string[], extra: Partial<Subscription['channel']> = {}): Subscription {
  return {
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'test',
    criteria: REFERRALS,
    _criteria: { extension: filters.map((valueString) => ({ url: FILTER_CRITERIA_URL, valueString })) },
    channel: { type: 'rest-hook', endpoint: 'https://agency.example.org/hook', payload: 'application/fhir+json', _payload: { extension: [{ url: PAYLOAD_CONTENT_URL, valueCode: 'id-only' }] }, ...extra },
  } as Subscription;
}

const task = (status: string, owner: string): Task => ({ resourceType: 'Task', id: 't1', status: status as Task['status'], intent: 'order', for: { reference: 'Patient/p1' }, owner: { reference: owner } });

describe('parseSubscription', () => {
  it('reads filters as references and codes: values of one filter OR, filters AND', () => {
    const parsed = parseSubscription(subscription(['Task?owner=o1&status=requested,accepted', 'patient=Patient/p1'], { extension: [{ url: TIMEOUT_URL, valueUnsignedInt: 5 }] }));
    expect(parsed.filters).toEqual([
      { name: 'owner', values: ['Organization/o1'] },
      { name: 'status', values: ['requested', 'accepted'] },
      { name: 'patient', values: ['Patient/p1'] },
    ]);
    expect(parsed).toMatchObject({ content: 'id-only', timeoutSeconds: 5, endpoint: 'https://agency.example.org/hook' });
    expect(new FilterSubject(task('accepted', 'Organization/o1')).passes(parsed.filters)).toBe(true);
    expect(new FilterSubject(task('completed', 'Organization/o1')).passes(parsed.filters)).toBe(false);
    expect(new FilterSubject(task('requested', 'Organization/o2')).passes(parsed.filters)).toBe(false);
  });

  it('names every problem at once, with its place', () => {
    let error: unknown;
    try {
      parseSubscription(subscription(['Task?owner:missing=true', 'Task?status=Not A Code'], { endpoint: 'http://user:pw@agency.example.org/', header: ['Content-Type: text/plain', 'bad header'] }));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(OperationOutcomeError);
    const issues = (error as OperationOutcomeError).outcome.issue ?? [];
    expect(issues.map((i) => i.expression?.[0])).toEqual([
      'Subscription._criteria.extension[0]',
      'Subscription._criteria.extension[1]',
      'Subscription.channel.endpoint',
      'Subscription.channel.endpoint',
      'Subscription.channel.header',
      'Subscription.channel.header',
    ]);
  });
});

describe('parseSubscription of JSON that is not what R4 says (once a TypeError, a 500)', () => {
  const BACKPORT_FILTER = { extension: [{ url: FILTER_CRITERIA_URL, valueString: 'Task?status=requested' }] };
  it.each([
    ['a channel.header item that is an object', { ...subscription([]), channel: { ...subscription([]).channel, header: [{}] } }, 'Subscription.channel.header[0]'],
    ['a channel.header item that is a number', { ...subscription([]), channel: { ...subscription([]).channel, header: ['Authorization: Bearer abc', 5] } }, 'Subscription.channel.header[1]'],
    ['a channel.header that is not an array', { ...subscription([]), channel: { ...subscription([]).channel, header: 'Authorization: Bearer abc' } }, 'Subscription.channel.header'],
    ['criteria that is an object, with a filter', { ...subscription([]), criteria: {}, _criteria: BACKPORT_FILTER }, 'Subscription.criteria'],
    ['_criteria.extension that is not an array', { ...subscription([]), _criteria: { extension: {} } }, 'Subscription._criteria.extension'],
  ])('%s is refused, naming it', (_name, input, expression) => {
    let error: unknown;
    try {
      parseSubscription(input as unknown as Subscription);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(OperationOutcomeError);
    expect((error as OperationOutcomeError).outcome.issue?.map((i) => i.expression?.[0])).toContain(expression);
  });
});

describe('a client\'s Subscription writes', () => {
  const writer = { subscriber: { organization: { system: 'urn:npi', value: '1' }, role: 'agency' as const, clientId: 'agency-1' }, mayRead: () => true };

  it('starts requested whatever the client says, stamped with its subscriber, and keeps both', () => {
    const created = applySubscriptionRules(writer, undefined, { ...subscription([]), status: 'active' }) as Subscription;
    expect(created.status).toBe('requested');
    expect(subscriberOf(created)).toEqual(writer.subscriber);
    // Another client (an admin) updating it does not become its subscriber; an active one stays active.
    const admin = { ...writer, subscriber: { ...writer.subscriber, role: 'admin' as const, clientId: 'ops' } };
    const active = { ...created, id: 's1', status: 'active' as const };
    const updated = applySubscriptionRules(admin, active, { ...active, reason: 'renamed', extension: undefined }) as Subscription;
    expect(updated.status).toBe('active');
    expect(subscriberOf(updated)).toEqual(writer.subscriber);
    // A new endpoint is handshaken again; off is the client's to say; error is not.
    expect((applySubscriptionRules(writer, active, { ...active, channel: { ...active.channel, endpoint: 'https://elsewhere.example.org/' } }) as Subscription).status).toBe('requested');
    expect((applySubscriptionRules(writer, active, { ...active, status: 'off' }) as Subscription).status).toBe('off');
    expect(() => applySubscriptionRules(writer, active, { ...active, status: 'error' })).toThrow(OperationOutcomeError);
  });
});
