// The OpenAPI document does not lie about bodies either: a whole transition over HTTP with real
// tokens (push, re-push, list, read as hospital and agency after an answer and a report-back, the
// clock, agency options and the recorded choice, the outbox, the probes, and the errors on the way;
// the token endpoint's answers are checked in openapi.test.ts), and the board (its sign-in and reads on
// the board tests' seeded server, whose rows carry every field), each answer checked against what
// /openapi.json says that operation answers — its status listed, its content type named, its body
// valid with every object closed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, HealthcareService, Organization, Task } from '@medplum/fhirtypes';
import type { Delivery, OutboxRouter } from '../../../src/store/outbox.ts';
import { SYSTEMS } from '../../../src/model/terminology.ts';
import { ACCEPTED_PAYER_URL } from '../../../src/workflow/agency-matching.ts';
import type { AuthTestServer } from '../../auth/support/auth-server.ts';
import { startAuthTestServer } from '../../auth/support/auth-server.ts';
import type { SeededServer } from '../../board/support/seeded-server.ts';
import { PASSWORD, startSeededServer } from '../../board/support/seeded-server.ts';
import type { TestServer } from '../support/server.ts';
import { startSqliteServer } from '../support/server.ts';
import { adminClient, tokenFor } from '../../support/auth.ts';
import { readPlan } from '../../support/fixtures.ts';
import { ADMIN, AGENCY_A, AGENCY_B, HOSPITAL, PARTIES } from '../transitions/support.ts';
import type { Answer, DocumentChecker } from './support.ts';
import { documentChecker } from './support.ts';

const NOW = new Date('2026-12-01T14:00:00Z');
const NPI = 'http://hl7.org/fhir/sid/us-npi';
const JSON_BODY = { 'content-type': 'application/json' };

/** Every Patient written is owed to a peer "sunrise": deliveries for the outbox routes to show. */
const toSunrise: OutboxRouter = {
  route: async (written, context) =>
    Promise.all(written.filter((v) => v.resourceType === 'Patient').map(async (v) => ({ destination: 'sunrise', patientId: await context.patientOf(v.resourceType, v.id), resourceType: v.resourceType, resourceId: v.id, versionId: v.versionId }))),
};

let server: AuthTestServer;
let checker: DocumentChecker;
const plan = readPlan('broadcast-three-agencies.json');
let id: string;

beforeAll(async () => {
  server = await startAuthTestServer({ principals: PARTIES, clock: () => NOW, now: () => NOW.getTime() });
  server.store.configure({ outboxRouter: toSunrise });
  const document = await fetch(`${server.url}/openapi.json`);
  checker = documentChecker((await document.json()) as Record<string, unknown>);
});
afterAll(() => server?.stop());

describe('/transitions answers as the document says', () => {
  it('push: 201, then 200; a plan of the wrong shape 400, one that breaks a rule 422, no JSON 415', async () => {
    const first = await server.http(HOSPITAL)('POST', '/transitions', plan, JSON_BODY);
    expect(first.status).toBe(201);
    checker.conforms('post', '/transitions', first);
    ({ id } = first.body as { id: string });
    checker.conforms('post', '/transitions', await server.http(HOSPITAL)('POST', '/transitions', plan, JSON_BODY));
    const shapeless = await server.http(HOSPITAL)('POST', '/transitions', { ...plan, npi: '1' }, JSON_BODY);
    expect(shapeless.status).toBe(400);
    checker.conforms('post', '/transitions', shapeless);
    const backwards = await server.http(HOSPITAL)('POST', '/transitions', { ...plan, identifier: { ...plan.identifier, value: 'other' }, hospitalStay: { ...plan.hospitalStay, dischargedAt: '2020-01-01T00:00:00Z' } }, JSON_BODY);
    expect(backwards.status).toBe(422);
    checker.conforms('post', '/transitions', backwards);
    const text = await server.http(HOSPITAL)('POST', '/transitions', 'plan', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    checker.conforms('post', '/transitions', text);
    const agency = await server.http(AGENCY_A)('POST', '/transitions', plan, JSON_BODY);
    expect(agency.status).toBe(403);
    checker.conforms('post', '/transitions', agency);
  });

  it('list and read: as the hospital and as an agency after it accepted and reported back', async () => {
    const mine = await server.http(AGENCY_B)('GET', `/transitions/${id}`);
    const task = (mine.body as { referrals: { task: string }[] }).referrals[0]?.task as string;
    const current = (await server.as(AGENCY_B)('GET', task)).body as Task;
    const accepted = await server.as(AGENCY_B)('PUT', task, { ...current, status: 'accepted', businessStatus: { text: 'Start-of-care visit scheduled' } }, { 'if-match': `W/"${current.meta?.versionId}"` });
    expect(accepted.status).toBe(200);
    const reading = await server.as(AGENCY_B)('POST', 'Observation', {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '2339-0', display: 'Glucose [Mass/volume] in Blood' }], text: 'Blood glucose' },
      subject: { reference: current.for?.reference },
      effectiveDateTime: '2026-12-01T08:05:00-05:00',
      performer: [{ reference: current.owner?.reference }],
      valueQuantity: { value: 182, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
    });
    expect(reading.status).toBe(201);
    for (const who of [HOSPITAL, AGENCY_B]) {
      const state = await server.http(who)('GET', `/transitions/${id}`);
      expect(state.status).toBe(200);
      checker.conforms('get', '/transitions/{id}', state);
    }
    const state = (await server.http(HOSPITAL)('GET', `/transitions/${id}`)).body as { acceptedBy: unknown; lastReportBack: unknown; plan?: unknown };
    expect([state.acceptedBy, state.lastReportBack, state.plan].every((v) => v !== null && v !== undefined)).toBe(true);

    const list = await server.http(HOSPITAL)('GET', '/transitions?_count=1&status=active');
    expect(list.status).toBe(200);
    checker.conforms('get', '/transitions', list);
    expect((list.body as { items: unknown[] }).items).toHaveLength(1);
    for (const bad of ['/transitions?colour=red', '/transitions?_count=1000']) {
      const refused = await server.http(HOSPITAL)('GET', bad);
      expect(refused.status).toBe(400);
      checker.conforms('get', '/transitions', refused);
    }
    const missing = await server.http(HOSPITAL)('GET', '/transitions/no-such-plan');
    expect(missing.status).toBe(404);
    checker.conforms('get', '/transitions/{id}', missing);
    const anonymous = await fetch(`${server.url}/transitions`);
    checker.conforms('get', '/transitions', { status: anonymous.status, headers: anonymous.headers, body: await anonymous.json() });
  });

  it('the timeline', async () => {
    const timeline = await server.http(AGENCY_B)('GET', `/transitions/${id}/timeline`);
    expect(timeline.status).toBe(200);
    expect((timeline.body as { deadlines: unknown[] }).deadlines).toHaveLength(4);
    checker.conforms('get', '/transitions/{id}/timeline', timeline);
  });

  it('agency options and the recorded choice', async () => {
    const orgs: string[] = [];
    for (const agency of [AGENCY_A, AGENCY_B]) {
      const found = (await server.as(HOSPITAL)('GET', `Organization?identifier=${NPI}|${agency.organization.value}`)).body as Bundle<Organization>;
      const organization = `Organization/${found.entry?.[0]?.resource?.id ?? ''}`;
      orgs.push(organization);
      const line: HealthcareService = {
        resourceType: 'HealthcareService',
        active: true,
        providedBy: { reference: organization },
        contained: [{ resourceType: 'Location', id: 'area', physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: 'area' }] }, address: { postalCode: agency === AGENCY_A ? '21205' : '10001' } }],
        coverageArea: [{ reference: '#area' }],
        type: [{ coding: [{ system: SYSTEMS.homeHealthService, code: 'skilled-nursing' }] }],
        extension: [{ url: ACCEPTED_PAYER_URL, valueIdentifier: { system: 'https://payers.example/fhir/sid/payer-id', value: 'CCHP-MD-2210' } }],
      };
      expect((await server.as(agency)('POST', 'HealthcareService', line)).status).toBe(201);
    }
    const options = await server.http(HOSPITAL)('GET', `/transitions/${id}/agency-options`);
    expect(options.status).toBe(200);
    expect((options.body as { options: unknown[] }).options).toHaveLength(2);
    checker.conforms('get', '/transitions/{id}/agency-options', options);
    for (const [who, path, status] of [[HOSPITAL, `/transitions/${id}/agency-options?service=massage`, 400], [AGENCY_A, `/transitions/${id}/agency-options`, 403]] as const) {
      const refused = await server.http(who)('GET', path);
      expect(refused.status).toBe(status);
      checker.conforms('get', '/transitions/{id}/agency-options', refused);
    }

    const chosen = await server.http(HOSPITAL)('POST', `/transitions/${id}/agency-choice`, { chosen: orgs[0], shown: orgs, reason: 'patient preference' }, JSON_BODY);
    expect(chosen.status).toBe(201);
    checker.conforms('post', '/transitions/{id}/agency-choice', chosen);
    const unshown = await server.http(HOSPITAL)('POST', `/transitions/${id}/agency-choice`, { chosen: 'Organization/x', shown: orgs }, JSON_BODY);
    expect(unshown.status).toBe(400);
    checker.conforms('post', '/transitions/{id}/agency-choice', unshown);
    const choices = await server.http(HOSPITAL)('GET', `/transitions/${id}/agency-choice`);
    expect(choices.status).toBe(200);
    checker.conforms('get', '/transitions/{id}/agency-choice', choices);
  });
});

describe('/admin/outbox, the SMART configuration and the probes answer as the document says', () => {
  it('the outbox: counts, a page of deliveries with a dead one, a replay, and refusals', async () => {
    const claimed = await server.store.claimDeliveries('test', { limit: 10, leaseMs: 60_000 });
    expect(claimed.length).toBeGreaterThan(0);
    await server.store.settleDelivery('test', (claimed[0] as Delivery).id, { state: 'dead', error: 'peer sunrise refused an entry (422)', status: 422 });
    const summary = await server.http(ADMIN)('GET', '/admin/outbox');
    expect(summary.status).toBe(200);
    checker.conforms('get', '/admin/outbox', summary);
    const page = await server.http(ADMIN)('GET', '/admin/outbox/deliveries?_count=1');
    expect((page.body as { next?: unknown }).next).toBeDefined();
    checker.conforms('get', '/admin/outbox/deliveries', page);
    const dead = await server.http(ADMIN)('GET', '/admin/outbox/deliveries?state=dead');
    expect((dead.body as { deliveries: Delivery[] }).deliveries[0]).toMatchObject({ lastError: expect.any(String), lastStatus: 422, doneMs: expect.any(Number) });
    checker.conforms('get', '/admin/outbox/deliveries', dead);
    checker.conforms('get', '/admin/outbox/deliveries', await server.http(ADMIN)('GET', '/admin/outbox/deliveries?state=lost'));
    const replayed = await server.http(ADMIN)('POST', '/admin/outbox/replay', { all: true }, JSON_BODY);
    expect(replayed.body).toEqual({ replayed: 1 });
    checker.conforms('post', '/admin/outbox/replay', replayed);
    checker.conforms('post', '/admin/outbox/replay', await server.http(ADMIN)('POST', '/admin/outbox/replay', { all: false }, JSON_BODY));
    const hospital = await server.http(HOSPITAL)('GET', '/admin/outbox');
    expect(hospital.status).toBe(403);
    checker.conforms('get', '/admin/outbox', hospital);
  });

  it('the SMART configuration, the probes and the document itself', async () => {
    for (const path of ['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration', '/healthz', '/readyz', '/openapi.json']) {
      const answer = await fetch(`${server.url}${path}`);
      expect({ path, status: answer.status }).toEqual({ path, status: 200 });
      checker.conforms('get', path, { status: answer.status, headers: answer.headers, body: await answer.json() });
    }
  });
});

/** Any call, without the test servers' defaults: the body as JSON when the answer says JSON, else its text. */
async function exchange(url: string, method: string, path: string, options: { body?: string | object; type?: string; token?: string } = {}): Promise<Answer> {
  const body = options.body === undefined || typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const headers: Record<string, string> = { ...(body !== undefined ? { 'content-type': options.type ?? 'application/json' } : {}), ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) };
  const response = await fetch(`${url}${path}`, { method, headers, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: /json/.test(response.headers.get('content-type') ?? '') ? (JSON.parse(text) as unknown) : text };
}

describe('/board and its sign-in answer as the document says', () => {
  let board: SeededServer;
  let dev: TestServer;
  const signIn = (username: string, password = PASSWORD): Promise<Answer> => exchange(board.url, 'POST', '/auth/board/session', { body: { username, password } });
  const tokenOf = async (username: string): Promise<string> => ((await signIn(username)).body as { access_token: string }).access_token;
  /** Checks `answer` against `method path` and hands it back, having checked its status too. */
  const checked = (method: string, path: string, status: number, answer: Answer): Answer => {
    expect({ path, status: answer.status }).toEqual({ path, status });
    checker.conforms(method, path, answer);
    return answer;
  };

  beforeAll(async () => {
    board = await startSeededServer();
    // Development mode, its sign-in throttled to two a minute per address: the limiter's 429 too.
    dev = await startSqliteServer('error', { devMode: true, limits: { rateLimitPerMinute: 2 } });
  }, 60_000);
  afterAll(async () => {
    await board?.stop();
    await dev?.stop();
  });

  it('sign-in options, with and without development mode\'s demo clients', async () => {
    checked('get', '/auth/board/sign-in-options', 200, await exchange(board.url, 'GET', '/auth/board/sign-in-options'));
    const options = checked('get', '/auth/board/sign-in-options', 200, await exchange(dev.url, 'GET', '/auth/board/sign-in-options'));
    expect((options.body as { devClients: unknown[] }).devClients.length).toBeGreaterThan(0);
  });

  it('sign-in as JSON and as a form, and its refusals', async () => {
    checked('post', '/auth/board/session', 200, await signIn('planner'));
    checked('post', '/auth/board/session', 200, await exchange(board.url, 'POST', '/auth/board/session', { body: new URLSearchParams({ username: 'ops', password: PASSWORD }).toString(), type: 'application/x-www-form-urlencoded' }));
    checked('post', '/auth/board/session', 401, await signIn('planner', 'guess'));
    checked('post', '/auth/board/session', 400, await exchange(board.url, 'POST', '/auth/board/session', { body: 'not json' }));
    checked('post', '/auth/board/session', 400, await exchange(board.url, 'POST', '/auth/board/session', { body: { devClient: 'carebridge-dev' } }));
    checked('post', '/auth/board/session', 413, await exchange(board.url, 'POST', '/auth/board/session', { body: { username: 'planner', password: 'x'.repeat(20_000) } }));
    // Repeated failures for one username: slow_down, as JSON.
    let last: Answer | undefined;
    for (let i = 0; i < 12 && last?.status !== 429; i += 1) {
      last = await signIn('nobody', `guess ${i}`);
    }
    checked('post', '/auth/board/session', 429, last as Answer);
  });

  it('renewal, and its refusals', async () => {
    const token = await tokenOf('planner');
    checked('post', '/auth/board/session/renew', 200, await exchange(board.url, 'POST', '/auth/board/session/renew', { token }));
    checked('post', '/auth/board/session/renew', 401, await exchange(board.url, 'POST', '/auth/board/session/renew'));
    checked('post', '/auth/board/session/renew', 403, await exchange(board.url, 'POST', '/auth/board/session/renew', { token: await tokenFor(board, await adminClient()) }));
  });

  it('development mode: a demo client signs in and renews; over the rate limit, both answer 429', async () => {
    const session = checked('post', '/auth/board/session', 200, await exchange(dev.url, 'POST', '/auth/board/session', { body: { devClient: 'carebridge-dev-hospital' } }));
    const token = (session.body as { access_token: string }).access_token;
    checked('post', '/auth/board/session/renew', 200, await exchange(dev.url, 'POST', '/auth/board/session/renew', { token }));
    checked('post', '/auth/board/session', 429, await exchange(dev.url, 'POST', '/auth/board/session', { body: { devClient: 'carebridge-dev-hospital' } }));
    checked('post', '/auth/board/session/renew', 429, await exchange(dev.url, 'POST', '/auth/board/session/renew', { token }));
  });

  it('the list and a transition\'s row, as a hospital, an agency and a case manager, and the refusals', async () => {
    const planner = await tokenOf('planner');
    for (const username of ['planner', 'charm-city', 'case-manager', 'ops']) {
      const list = checked('get', '/board/api/transitions', 200, await exchange(board.url, 'GET', '/board/api/transitions', { token: await tokenOf(username) }));
      expect((list.body as { items: unknown[] }).items.length).toBeGreaterThan(0);
    }
    const page = checked('get', '/board/api/transitions', 200, await exchange(board.url, 'GET', '/board/api/transitions?filter=overdue&_count=1', { token: planner }));
    expect((page.body as { items: { overdue: boolean }[] }).items).toEqual([expect.objectContaining({ overdue: true })]);
    const first = checked('get', '/board/api/transitions', 200, await exchange(board.url, 'GET', '/board/api/transitions?_count=1', { token: planner }));
    const next = (first.body as { next?: string }).next as string;
    checked('get', '/board/api/transitions', 200, await exchange(board.url, 'GET', `/board/api/transitions?_count=1&_cursor=${encodeURIComponent(next)}`, { token: planner }));
    for (const query of ['?filter=late', '?_count=51', '?patient=x']) {
      checked('get', '/board/api/transitions', 400, await exchange(board.url, 'GET', `/board/api/transitions${query}`, { token: planner }));
    }
    checked('get', '/board/api/transitions', 401, await exchange(board.url, 'GET', '/board/api/transitions'));
    for (const username of ['planner', 'case-manager']) {
      checked('get', '/board/api/transitions/{id}', 200, await exchange(board.url, 'GET', `/board/api/transitions/${board.price}`, { token: await tokenOf(username) }));
    }
    checked('get', '/board/api/transitions/{id}', 404, await exchange(board.url, 'GET', `/board/api/transitions/${board.riverside}`, { token: planner }));
  });

  it('sync health as an admin, and the 403 for anyone else', async () => {
    const health = checked('get', '/board/api/sync-health', 200, await exchange(board.url, 'GET', '/board/api/sync-health', { token: await tokenOf('ops') }));
    const destinations = (health.body as { destinations: { dead: number; poll?: unknown }[] }).destinations;
    expect([destinations.some((d) => d.dead > 0), destinations.some((d) => d.poll !== undefined)]).toEqual([true, true]);
    checked('get', '/board/api/sync-health', 403, await exchange(board.url, 'GET', '/board/api/sync-health', { token: await tokenOf('planner') }));
  });

  it('the page', async () => {
    checked('get', '/board', 200, await exchange(board.url, 'GET', '/board'));
  });
});
