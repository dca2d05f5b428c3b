// Subscriptions (R5 Backport IG, R4 form) end to end over HTTP: agencies and a hospital subscribe
// with real tokens, carebridge's dispatcher POSTs to real rest-hook receivers on 127.0.0.1. The
// handshake makes a Subscription active; an agency hears of its own referral as events 1, 2, 3 and
// nothing of another agency's; id-only and full-resource payloads; a notification lost to a 500
// shows as a gap and is recovered with $events; heartbeats; $status counts; bad Subscriptions and
// other tenants are refused.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, OperationOutcome, Parameters, ParametersParameter, Subscription, Task } from '@medplum/fhirtypes';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../src/log/logger.ts';
import { FILTER_CRITERIA_URL, HEARTBEAT_PERIOD_URL, PAYLOAD_CONTENT_URL } from '../../src/subscriptions/subscription.ts';
import { SUBSCRIPTION_TOPICS } from '../../src/subscriptions/topics.ts';
import { SubscriptionDeliverer } from '../../src/sync/outbox/subscription-deliverer.ts';
import { SubscriptionHeartbeat } from '../../src/sync/subscription-heartbeat.ts';
import type { WebhookReceiver } from '../../src/sync/simulated/webhook-receiver.ts';
import { startWebhookReceiver } from '../../src/sync/simulated/webhook-receiver.ts';
import type { RunningSync } from '../../src/sync/sync-service.ts';
import { startSync } from '../../src/sync/sync-service.ts';
import type { AuthTestServer, Call } from '../auth/support/auth-server.ts';
import { startAuthTestServer } from '../auth/support/auth-server.ts';
import type { PushedPlan } from '../workflow/support/broadcast.ts';
import { ADMIN, HOSPITAL, agencies, agencyNpi, broadcastPlan, ifMatch, principal, pushPlan } from '../workflow/support/broadcast.ts';

const [REFERRAL_TOPIC, CAREPLAN_TOPIC] = SUBSCRIPTION_TOPICS.map((t) => t.url) as [string, string, string];
const AGENCIES = agencies(3);
const [AGENCY0, AGENCY1] = AGENCIES as [typeof HOSPITAL, typeof HOSPITAL];
const CASE_MANAGER = principal('case-management', '1999999999');
const logger = createLogger({ stream: new PassThrough(), level: 'error' });

interface SubscriptionOptions {
  filter?: string;
  content?: string;
  heartbeat?: number;
  headers?: string[];
  endpoint?: string;
  payload?: string;
}

function subscription(topic: string, endpoint: string, options: SubscriptionOptions = {}): Subscription {
  return {
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'Follow the referrals placed with us',
    criteria: topic,
    ...(options.filter ? { _criteria: { extension: [{ url: FILTER_CRITERIA_URL, valueString: options.filter }] } } : {}),
    channel: {
      type: 'rest-hook',
      endpoint,
      payload: options.payload ?? 'application/fhir+json',
      _payload: { extension: [{ url: PAYLOAD_CONTENT_URL, valueCode: options.content ?? 'id-only' }] },
      ...(options.headers ? { header: options.headers } : {}),
      ...(options.heartbeat !== undefined ? { extension: [{ url: HEARTBEAT_PERIOD_URL, valueUnsignedInt: options.heartbeat }] } : {}),
    },
  } as Subscription;
}

/** The SubscriptionStatus of a notification, as a subscriber reads it. */
interface Notice {
  type: string;
  status: string;
  eventsSinceStart: number;
  events: { number: number; focus?: string }[];
  bundle: Bundle;
}

const part = (parameters: ParametersParameter[] | undefined, name: string): ParametersParameter | undefined => parameters?.find((p) => p.name === name);

function notice(body: unknown): Notice {
  const bundle = body as Bundle;
  const status = bundle.entry?.[0]?.resource as Parameters;
  expect(bundle.type).toMatch(/^(history|searchset)$/);
  expect(status.resourceType).toBe('Parameters');
  return {
    type: part(status.parameter, 'type')?.valueCode as string,
    status: part(status.parameter, 'status')?.valueCode as string,
    eventsSinceStart: Number(part(status.parameter, 'events-since-subscription-start')?.valueString),
    events: (status.parameter ?? [])
      .filter((p) => p.name === 'notification-event')
      .map((p) => ({ number: Number(part(p.part, 'event-number')?.valueString), focus: part(p.part, 'focus')?.valueReference?.reference })),
    bundle,
  };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let server: AuthTestServer;
let sync: RunningSync;
let receiver: WebhookReceiver;
let plan: PushedPlan;

/** What one endpoint path was sent, as notices. */
const at = (path: string): Notice[] => receiver.received.filter((r) => r.url === path).map((r) => notice(r.body));

async function subscribe(call: Call, body: Subscription): Promise<Subscription> {
  const created = await call('POST', 'Subscription', body);
  expect(created.status).toBe(201);
  const id = (created.body as Subscription).id as string;
  expect((created.body as Subscription).status).toBe('requested');
  // The handshake goes out through the outbox; the endpoint accepts it; the Subscription is active.
  return until(`Subscription/${id} active`, async () => {
    const read = (await call('GET', `Subscription/${id}`)).body as Subscription;
    return read.status === 'active' ? read : undefined;
  });
}

beforeAll(async () => {
  server = await startAuthTestServer({ principals: [HOSPITAL, ADMIN, CASE_MANAGER, ...AGENCIES] });
  receiver = await startWebhookReceiver();
  sync = await startSync({
    store: server.store,
    peers: [],
    logger,
    dispatch: true,
    fhirBaseUrl: `${server.url}/fhir`,
    heartbeatTickMs: 0,
    // A failed event is given up at once here: the gap and its recovery are what is tested.
    subscriptionRetry: { initialDelayMs: 10, maxDelayMs: 20, windowHours: 0 },
    dispatcher: { idleMs: 10 },
  });
  plan = await pushPlan(server.as(HOSPITAL), broadcastPlan('subscriptions'));
}, 30_000);

afterAll(async () => {
  await sync?.stop();
  await receiver?.close();
  await server?.stop();
});

const referralOf = (i: number): Task => plan.referrals.get(agencyNpi(i)) as Task;
const currentTask = async (id: string): Promise<Task> => (await server.as(HOSPITAL)('GET', `Task/${id}`)).body as Task;

describe('Subscriptions', () => {
  let agencySubscription: Subscription;
  let fullSubscription: Subscription;

  it('handshakes a new rest-hook Subscription (requested, with its headers), then makes it active', async () => {
    const owner = referralOf(0).owner?.reference as string;
    agencySubscription = await subscribe(server.as(AGENCY0), subscription(REFERRAL_TOPIC, `${receiver.url}/agency-0`, { filter: `Task?owner=${owner}`, headers: ['Authorization: Bearer agency-0-secret'] }));
    const [handshake] = receiver.received.filter((r) => r.url === '/agency-0');
    expect(handshake?.headers.authorization).toBe('Bearer agency-0-secret');
    expect(handshake?.headers['content-type']).toBe('application/fhir+json');
    const hello = notice(handshake?.body);
    expect(hello).toMatchObject({ type: 'handshake', status: 'requested', eventsSinceStart: 0, events: [] });
    expect(hello.bundle.type).toBe('history');
    expect(part((hello.bundle.entry?.[0]?.resource as Parameters).parameter, 'topic')?.valueCanonical).toBe(REFERRAL_TOPIC);
    // The subscriber is the creating client's organization, stamped by carebridge.
    expect(JSON.stringify(agencySubscription.extension)).toContain(agencyNpi(0));
  });

  it('notifies an agency of its own referral as events 1, 2, 3 (id-only: focus and fullUrl) and of nothing of another agency\'s', async () => {
    // Agency 1 subscribes to every referral Task it may see, in full.
    fullSubscription = await subscribe(server.as(AGENCY1), subscription(REFERRAL_TOPIC, `${receiver.url}/agency-1`, { content: 'full-resource' }));
    const hospital = server.as(HOSPITAL);
    const task0 = referralOf(0);
    const task1 = referralOf(1);
    // The hospital adds a note to each referral: each agency hears of its own only.
    for (const task of [task0, task1]) {
      const current = await currentTask(task.id as string);
      expect((await hospital('PUT', `Task/${task.id}`, { ...current, note: [{ text: 'Patient prefers mornings' }] }, ifMatch(current))).status).toBe(200);
    }
    // Agency 1 hears of its own referral's note, with the Task as it is now.
    const [full] = await until('agency 1 event', async () => {
      const notices = at('/agency-1').filter((n) => n.type === 'event-notification');
      return notices.length > 0 ? notices : undefined;
    });
    expect(full?.events.map((e) => e.number)).toEqual([1]);
    const entry = full?.bundle.entry?.[1];
    expect(entry?.fullUrl).toBe(`${server.url}/fhir/Task/${task1.id}`);
    expect((entry?.resource as Task | undefined)?.note?.[0]?.text).toBe('Patient prefers mornings');
    expect(entry?.response?.status).toBe('200');
    // Agency 0 accepts (carebridge cancels the other referrals), then starts.
    let current = await currentTask(task0.id as string);
    expect((await server.as(AGENCY0)('PUT', `Task/${task0.id}`, { ...current, status: 'accepted' }, ifMatch(current))).status).toBe(200);
    current = await currentTask(task0.id as string);
    expect((await server.as(AGENCY0)('PUT', `Task/${task0.id}`, { ...current, status: 'in-progress' }, ifMatch(current))).status).toBe(200);

    const events = await until('three events for agency 0', async () => {
      const notices = at('/agency-0').filter((n) => n.type === 'event-notification');
      return notices.length >= 3 ? notices : undefined;
    });
    expect(events.map((n) => n.events.map((e) => e.number))).toEqual([[1], [2], [3]]);
    expect(events.map((n) => n.eventsSinceStart)).toEqual([1, 2, 3]);
    const focus = `${server.url}/fhir/Task/${task0.id}`;
    for (const n of events) {
      expect(n.events[0]?.focus).toBe(focus);
      // id-only: the entry names the resource, and carries none of it.
      expect(n.bundle.entry?.slice(1)).toEqual([{ fullUrl: focus, request: { method: 'PUT', url: `Task/${task0.id}` } }]);
    }
    expect(receiver.received.filter((r) => r.url === '/agency-0').every((r) => r.headers.authorization === 'Bearer agency-0-secret')).toBe(true);
    const others = [1, 2].map((i) => referralOf(i).id as string);
    expect(JSON.stringify(at('/agency-0').map((n) => n.bundle))).not.toMatch(new RegExp(others.join('|')));

    // Agency 1 heard nothing of agency 0's referral; it does hear that its own referral was
    // cancelled (event 2), though it may no longer read the Task (404 in the entry); asked again,
    // its event 1 no longer carries the Task either.
    await sync.dispatcher?.drain({ untilSettled: true, deadlineMs: 5000 });
    const heard = at('/agency-1').filter((n) => n.type === 'event-notification');
    expect(heard.map((n) => n.events.map((e) => e.number))).toEqual([[1], [2]]);
    expect(heard[1]?.bundle.entry?.[1]).toEqual({ fullUrl: `${server.url}/fhir/Task/${task1.id}`, request: { method: 'PUT', url: `Task/${task1.id}` }, response: { status: '404' } });
    expect(JSON.stringify(at('/agency-1').map((n) => n.bundle))).not.toContain(task0.id as string);
    const again = notice((await server.as(AGENCY1)('GET', `Subscription/${fullSubscription.id}/$events`)).body);
    expect(again.events.map((e) => e.number)).toEqual([1, 2]);
    expect(again.bundle.entry?.[1]).toEqual({ fullUrl: `${server.url}/fhir/Task/${task1.id}`, request: { method: 'PUT', url: `Task/${task1.id}` }, response: { status: '404' } });
  });

  it('answers $status with the event count, for the subscriber and an admin only', async () => {
    const id = agencySubscription.id as string;
    const answer = await server.as(AGENCY0)('GET', `Subscription/${id}/$status`);
    expect(answer.status).toBe(200);
    expect((answer.body as Bundle).type).toBe('searchset');
    expect(notice(answer.body)).toMatchObject({ type: 'query-status', status: 'active', eventsSinceStart: 3 });
    expect((await server.as(ADMIN)('GET', `Subscription/${id}/$status`)).status).toBe(200);
    // Type level: the caller's own Subscriptions only.
    const mine = (await server.as(AGENCY0)('GET', 'Subscription/$status')).body as Bundle;
    expect(mine.entry?.map((e) => part((e.resource as Parameters).parameter, 'subscription')?.valueReference?.reference)).toEqual([`${server.url}/fhir/Subscription/${id}`]);
  });

  it('keeps another tenant from reading, changing or asking about a Subscription', async () => {
    const id = agencySubscription.id as string;
    for (const other of [server.as(AGENCY1), server.as(HOSPITAL)]) {
      expect((await other('GET', `Subscription/${id}`)).status).toBe(404);
      expect((await other('GET', `Subscription/${id}/$status`)).status).toBe(404);
      expect((await other('GET', `Subscription/${id}/$events`)).status).toBe(404);
      expect((await other('PUT', `Subscription/${id}`, agencySubscription)).status).toBe(404);
      expect((await other('DELETE', `Subscription/${id}`)).status).toBe(404);
      const search = (await other('GET', `Subscription?_id=${id}`)).body as Bundle;
      expect(search.entry ?? []).toEqual([]);
    }
  });

  it('shows a notification lost to a 500 as a gap, recovered with $events; the Subscription is then in error', async () => {
    const hospital = server.as(HOSPITAL);
    const gapped = await subscribe(hospital, subscription(CAREPLAN_TOPIC, `${receiver.url}/hospital`, { filter: `CarePlan?patient=Patient/${plan.patient}`, content: 'full-resource' }));
    const id = gapped.id as string;
    const edit = async (description: string): Promise<void> => {
      const carePlan = (await hospital('GET', `CarePlan/${plan.carePlan.id}`)).body as NonNullable<PushedPlan['carePlan']>;
      expect((await hospital('PUT', `CarePlan/${carePlan.id}`, { ...carePlan, description })).status).toBe(200);
      await sync.dispatcher?.drain({ untilSettled: true, deadlineMs: 5000 });
    };
    await edit('Visit on Monday');
    receiver.answerWith([500]);
    await edit('Visit on Tuesday');
    await edit('Visit on Wednesday');
    const received = at('/hospital').filter((n) => n.type === 'event-notification' && receiver.received.find((r) => r.body === n.bundle)?.status === 200);
    const numbers = received.map((n) => n.events[0]?.number);
    expect(numbers).toEqual([1, 3]);
    // The subscriber sees 3 after 1: event 2 is missing. It asks for it again.
    const missing = await hospital('GET', `Subscription/${id}/$events?eventsSinceNumber=2&eventsUntilNumber=2`);
    expect(missing.status).toBe(200);
    const recovered = notice(missing.body);
    expect(recovered).toMatchObject({ type: 'query-event', eventsSinceStart: 3, events: [{ number: 2, focus: `${server.url}/fhir/CarePlan/${plan.carePlan.id}` }] });
    expect(recovered.bundle.type).toBe('history');
    // full-resource: the CarePlan as it is now.
    expect((recovered.bundle.entry?.[1]?.resource as { description?: string } | undefined)?.description).toBe('Visit on Wednesday');
    // The whole stream, ids only on request.
    const all = notice((await hospital('GET', `Subscription/${id}/$events?content=id-only`)).body);
    expect(all.events.map((e) => e.number)).toEqual([1, 2, 3]);
    expect(all.bundle.entry?.slice(1).every((e) => e.resource === undefined)).toBe(true);
    // Given up on event 2: the Subscription is in error (the IG), and says so.
    const status = notice((await hospital('GET', `Subscription/${id}/$status`)).body);
    expect(status).toMatchObject({ status: 'error', eventsSinceStart: 3 });
    expect(((await hospital('GET', `Subscription/${id}`)).body as Subscription).error).toMatch(/answered 500/);
    // The subscriber re-activates it: a new handshake, active again, the count goes on.
    const current = (await hospital('GET', `Subscription/${id}`)).body as Subscription;
    expect((await hospital('PUT', `Subscription/${id}`, { ...current, status: 'active' })).status).toBe(200);
    await until('re-activated', async () => (((await hospital('GET', `Subscription/${id}`)).body as Subscription).status === 'active' ? true : undefined));
    expect(at('/hospital').filter((n) => n.type === 'handshake').map((n) => n.eventsSinceStart)).toEqual([0, 3]);
  });

  it('sends a heartbeat to a Subscription that heard nothing for its period, once across instances', async () => {
    const sub = await subscribe(server.as(AGENCY1), subscription(CAREPLAN_TOPIC, `${receiver.url}/heartbeat`, { heartbeat: 30 }));
    const deliverer = new SubscriptionDeliverer({ store: server.store, fhirBaseUrl: `${server.url}/fhir`, logger });
    let now = Date.now() + 10_000;
    const instances = [0, 1].map(() => new SubscriptionHeartbeat({ store: server.store, deliverer, logger, clock: () => now }));
    expect(await instances[0]?.tick()).toBe(0); // 10 s of silence: not yet
    now += 25_000;
    const sent = await Promise.all(instances.map((instance) => instance.tick()));
    expect(sent.reduce((a, b) => a + b, 0)).toBe(1);
    const beats = at('/heartbeat').filter((n) => n.type === 'heartbeat');
    expect(beats).toHaveLength(1);
    expect(beats[0]).toMatchObject({ status: 'active', eventsSinceStart: 0, events: [] });
    expect(part((beats[0]?.bundle.entry?.[0]?.resource as Parameters).parameter, 'subscription')?.valueReference?.reference).toBe(`${server.url}/fhir/Subscription/${sub.id}`);
    now += 31_000;
    expect(await instances[1]?.tick()).toBe(1);
  });

  it('refuses Subscriptions carebridge cannot honour, each with an OperationOutcome that says why', async () => {
    const agency = server.as(AGENCY0);
    const endpoint = `${receiver.url}/refused`;
    const refused: [string, Subscription, number, RegExp][] = [
      ['unknown topic', subscription('http://example.org/topics/everything', endpoint), 422, /criteria/],
      ['filter not allowed', subscription(REFERRAL_TOPIC, endpoint, { filter: 'Task?code=fulfill' }), 422, /cannot be filtered by ..code/],
      ['filter on another type', subscription(REFERRAL_TOPIC, endpoint, { filter: 'CarePlan?patient=Patient/1' }), 422, /is about CarePlan/],
      ['http to another host', subscription(REFERRAL_TOPIC, 'http://agency.example.org/hook'), 422, /https/],
      ['payload content', subscription(REFERRAL_TOPIC, endpoint, { content: 'everything' }), 422, /backport-payload-content/],
      ['payload type', subscription(REFERRAL_TOPIC, endpoint, { payload: 'application/fhir+xml' }), 422, /application\/fhir\+json/],
      ['heartbeat too often', subscription(REFERRAL_TOPIC, endpoint, { heartbeat: 5 }), 422, /heartbeat/],
      ['not R4', { ...subscription(REFERRAL_TOPIC, endpoint), reason: undefined } as unknown as Subscription, 422, /reason/],
      // Once a 500 (a TypeError reading them as text).
      ['a header that is an object', subscription(REFERRAL_TOPIC, endpoint, { headers: [{} as string] }), 422, /Subscription\.channel\.header\[0\]/],
      ['criteria an object, with a filter', { ...subscription(REFERRAL_TOPIC, endpoint, { filter: 'Task?status=requested' }), criteria: {} } as unknown as Subscription, 422, /Subscription\.criteria/],
    ];
    for (const [what, body, status, text] of refused) {
      const answer = await agency('POST', 'Subscription', body);
      expect({ what, status: answer.status }).toEqual({ what, status });
      expect((answer.body as OperationOutcome).resourceType).toBe('OperationOutcome');
      expect(JSON.stringify(answer.body)).toMatch(text);
    }
    // A case manager reads CarePlans, not Tasks: it may follow the one topic, not the other.
    expect((await server.as(CASE_MANAGER)('POST', 'Subscription', subscription(REFERRAL_TOPIC, endpoint))).status).toBe(403);
    expect((await server.as(CASE_MANAGER)('POST', 'Subscription', subscription(CAREPLAN_TOPIC, endpoint))).status).toBe(201);
    // status error is carebridge's to set.
    const current = agencySubscription;
    expect((await agency('PUT', `Subscription/${current.id}`, { ...current, status: 'error' })).status).toBe(422);
  });

  it('announces the topics in the CapabilityStatement and as Basic resources', async () => {
    const metadata = (await (await fetch(`${server.url}/fhir/metadata`)).json()) as { rest: { resource: { type: string; extension?: { valueCanonical?: string }[]; operation?: { name: string }[] }[] }[] };
    const entry = metadata.rest[0]?.resource.find((r) => r.type === 'Subscription');
    expect(entry?.extension?.map((e) => e.valueCanonical)).toEqual(SUBSCRIPTION_TOPICS.map((t) => t.url));
    expect(entry?.operation?.map((o) => o.name)).toEqual(expect.arrayContaining(['status', 'events']));
    const topics = (await server.as(AGENCY0)('GET', 'Basic')).body as Bundle;
    expect(topics.entry?.map((e) => JSON.stringify(e.resource))).toEqual(SUBSCRIPTION_TOPICS.map((t) => expect.stringContaining(t.url)));
    expect((await server.as(AGENCY0)('GET', `Basic/${SUBSCRIPTION_TOPICS[0]?.id}`)).status).toBe(200);
  });
});
