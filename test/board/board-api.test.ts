// The board's server side over real HTTP: board users sign in (and are refused, throttled and
// audited), their sessions renew within bounds and never reach the token endpoint, and the board's
// reads follow the caller's tenancy exactly — an agency sees only the transitions referred to it,
// whatever it asks for. The page is served under its own CSP.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseSearchRequest } from '@medplum/core';
import type { AuditEvent } from '@medplum/fhirtypes';
import { readdirSync } from 'node:fs';
import { decodeJwt } from 'jose';
import { BOARD_DIST } from '../../src/api/board/static.ts';
import { MAX_FAILURES } from '../../src/auth/board-session.ts';
import type { TestServer } from '../api/support/server.ts';
import { startSqliteServer } from '../api/support/server.ts';
import { adminClient, tokenFor } from '../support/auth.ts';
import type { SeededServer } from './support/seeded-server.ts';
import { BOARD_PEOPLE, CHARM_CITY, DECLINE_REASON, HARBOR_POINT, PASSWORD, startSeededServer } from './support/seeded-server.ts';

let server: SeededServer;
const tokens = new Map<string, string>();

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}, url = server.url): Promise<Answer> {
  const response = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: response.status, body: (await response.json().catch(() => ({}))) as Record<string, unknown>, headers: response.headers };
}

async function get(path: string, token?: string, url = server.url): Promise<Answer> {
  const response = await fetch(`${url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, body: (await response.json().catch(() => ({}))) as Record<string, unknown>, headers: response.headers };
}

async function tokenOf(username: string): Promise<string> {
  let token = tokens.get(username);
  if (!token) {
    const answer = await post('/auth/board/session', { username, password: PASSWORD });
    expect(answer.status).toBe(200);
    token = answer.body.access_token as string;
    tokens.set(username, token);
  }
  return token;
}

interface Row {
  id: string;
  patient: { name?: string } | null;
  referrals: { agency: string; status: string; statusReason?: string }[] | null;
  deadlines: unknown[] | null;
  redFlags: unknown[] | null;
  coverage: { findings: unknown[] } | null;
  overdue: boolean;
  noAgency: boolean;
}

async function rows(username: string, query = ''): Promise<Row[]> {
  const answer = await get(`/board/api/transitions${query}`, await tokenOf(username));
  expect(answer.status).toBe(200);
  return answer.body.items as Row[];
}

const names = (list: Row[]): (string | undefined)[] => list.map((r) => r.patient?.name);

async function auditEvents(): Promise<AuditEvent[]> {
  return (await server.store.search(parseSearchRequest('AuditEvent?_count=1000'))).resources as AuditEvent[];
}

beforeAll(async () => {
  server = await startSeededServer();
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

describe('board sign-in', () => {
  it('gives a board user a short access token for its organization and role, as the token endpoint would', async () => {
    const answer = await post('/auth/board/session', { username: 'planner', password: PASSWORD });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.headers.get('set-cookie')).toBeNull();
    expect(answer.body).toMatchObject({ token_type: 'bearer', expires_in: 300, scope: 'system/*.rs', user: { clientId: 'board:planner', name: BOARD_PEOPLE.planner?.name, organization: HARBOR_POINT, role: 'hospital' } });
    const claims = decodeJwt(answer.body.access_token as string);
    expect(claims).toMatchObject({ sub: 'board:planner', iss: server.url, aud: `${server.url}/fhir`, auth_time: expect.any(Number) });
    // The same token reads /transitions as Harbor Point: its two transitions, not Riverside's.
    const list = await get('/transitions', answer.body.access_token as string);
    expect((list.body.items as { id: string }[]).map((i) => i.id).sort()).toEqual([server.price, server.delgado].sort());
    // A form works as well as JSON.
    const form = await post('/auth/board/session', new URLSearchParams({ username: 'ops', password: PASSWORD }).toString(), { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(200);
  });

  it('refuses a wrong password and an unknown user alike, and audits both', async () => {
    const wrong = await post('/auth/board/session', { username: 'planner', password: 'guess' });
    const unknown = await post('/auth/board/session', { username: 'nobody', password: 'guess' });
    for (const answer of [wrong, unknown]) {
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ error: 'invalid_grant', error_description: 'Unknown username or wrong password' });
    }
    const sessions = (await auditEvents()).filter((e) => JSON.stringify(e).includes('board-session'));
    const refused = sessions.filter((e) => e.outcome === '4').map((e) => e.agent?.find((a) => a.who?.identifier?.value)?.who?.identifier?.value);
    expect(refused).toEqual(expect.arrayContaining(['board:planner', 'board:nobody']));
    expect(sessions.some((e) => e.outcome === '0')).toBe(true);
    // Nothing the person typed reaches the log.
    expect(server.logs.join('')).not.toContain('guess');
    expect(server.logs.join('')).not.toContain(PASSWORD);
  });

  it('answers malformed sign-ins with 400 and never a stack', async () => {
    for (const body of ['not json', '[]', JSON.stringify({ username: 'planner' }), JSON.stringify({ username: 'planner', password: 42 }), JSON.stringify({ username: 'x'.repeat(65), password: 'p' }), JSON.stringify({ username: 'planner', password: PASSWORD, devClient: 'carebridge-dev' })]) {
      const answer = await post('/auth/board/session', body);
      expect({ body, status: answer.status, error: answer.body.error }).toEqual({ body, status: 400, error: 'invalid_request' });
    }
    expect((await post('/auth/board/session', 'username=a', { 'content-type': 'text/plain' })).status).toBe(400);
    expect((await post('/auth/board/session', { username: 'a', password: 'x'.repeat(20_000) })).status).toBe(413);
    expect((await get('/auth/board/session')).status).toBe(405);
  });

  it('refuses a username after repeated failures, even with the right password, for a while', async () => {
    await tokenOf('case-manager'); // signed in before: a session already open is not cut short
    for (let i = 0; i < MAX_FAILURES; i += 1) {
      expect((await post('/auth/board/session', { username: 'case-manager', password: `wrong ${i}` })).status).toBe(401);
    }
    const throttled = await post('/auth/board/session', { username: 'case-manager', password: PASSWORD });
    expect(throttled.status).toBe(429);
    expect(throttled.body.error).toBe('slow_down');
    // Other people are not affected.
    expect((await post('/auth/board/session', { username: 'charm-city', password: PASSWORD })).status).toBe(200);
  });

  it('renews a session\'s token, keeping its sign-in time; a client\'s token is not renewed here', async () => {
    const token = await tokenOf('planner');
    const renewed = await post('/auth/board/session/renew', '', { authorization: `Bearer ${token}` });
    expect(renewed.status).toBe(200);
    const next = renewed.body.access_token as string;
    expect(next).not.toBe(token);
    expect(decodeJwt(next).auth_time).toBe(decodeJwt(token).auth_time);
    expect((await post('/auth/board/session/renew', '')).status).toBe(401);
    expect((await post('/auth/board/session/renew', '', { authorization: 'Bearer not-a-token' })).status).toBe(401);
    const clientToken = await tokenFor(server, await adminClient());
    expect((await post('/auth/board/session/renew', '', { authorization: `Bearer ${clientToken}` })).status).toBe(403);
  });

  it('never lets a board user get a token at the token endpoint (it has no key)', async () => {
    const answer = await fetch(`${server.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'board:planner' }).toString() });
    expect(answer.status).toBe(400);
    expect((await answer.json()) as unknown).toMatchObject({ error: 'invalid_request' });
  });

  it('offers no password-less sign-in outside development mode', async () => {
    expect((await get('/auth/board/sign-in-options')).body).toEqual({ devMode: false, devClients: [] });
    const answer = await post('/auth/board/session', { devClient: 'carebridge-dev' });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('unauthorized_client');
  });
});

describe('development mode sign-in', () => {
  let dev: TestServer;
  beforeAll(async () => {
    dev = await startSqliteServer('warn', { devMode: true });
  });
  afterAll(async () => {
    await dev?.stop();
  });

  it('lists the demo clients and signs in as one without a password', async () => {
    const options = await get('/auth/board/sign-in-options', undefined, dev.url);
    expect((options.body.devClients as { clientId: string }[]).map((c) => c.clientId)).toEqual(['carebridge-dev', 'carebridge-dev-hospital', 'carebridge-dev-agency-1', 'carebridge-dev-agency-2', 'carebridge-dev-agency-3']);
    const answer = await post('/auth/board/session', { devClient: 'carebridge-dev-hospital' }, {}, dev.url);
    expect(answer.status).toBe(200);
    expect(answer.body.user).toMatchObject({ clientId: 'carebridge-dev-hospital', role: 'hospital' });
    expect((await get('/board/api/transitions', answer.body.access_token as string, dev.url)).status).toBe(200);
    // Its session renews like a board user's.
    expect((await post('/auth/board/session/renew', '', { authorization: `Bearer ${answer.body.access_token as string}` }, dev.url)).status).toBe(200);
    // A configured (keyed) client is never signed in this way.
    expect((await post('/auth/board/session', { devClient: 'test-admin' }, {}, dev.url)).status).toBe(400);
    // Nor is a token from the token endpoint renewed as a session.
    expect((await post('/auth/board/session/renew', '', { authorization: `Bearer ${dev.token}` }, dev.url)).status).toBe(403);
  });
});

describe('/board/api/transitions', () => {
  it('shows a hospital its own open transitions with referrals, decline reasons, the clock, red flags and coverage', async () => {
    const list = await rows('planner');
    expect(names(list)).toEqual(['Rosa Delgado', 'Darnell Lewis Price']);
    const [delgado, price] = list as [Row, Row];
    expect(delgado).toMatchObject({ id: server.delgado, overdue: false, noAgency: true });
    expect(delgado.referrals).toEqual(expect.arrayContaining([expect.objectContaining({ agency: 'Chesapeake Home Care & Rehabilitation', status: 'rejected', statusReason: DECLINE_REASON })]));
    expect(price).toMatchObject({ id: server.price, overdue: true, noAgency: false, acceptedBy: 'Inner Harbor Visiting Nurses' });
    expect(price.deadlines).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'interactive-contact', state: 'overdue', due: '2026-12-02T23:59:59-05:00' })]));
    expect(price.redFlags).toEqual([expect.objectContaining({ priority: 'urgent', text: expect.stringMatching(/86 % is below 90 %/) })]);
    expect(price.coverage?.findings).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'eligibility-not-checked', severity: 'warning' })]));
  });

  it('shows an agency only the transitions referred to it, and only its own referral', async () => {
    const list = await rows('charm-city');
    expect(names(list)).toEqual(['Rosa Delgado']);
    expect(list[0]?.referrals).toEqual([expect.objectContaining({ agency: CHARM_CITY.display, status: 'requested' })]);
    for (const query of ['?filter=overdue', '?filter=no-agency', '?_count=1']) {
      expect(names(await rows('charm-city', query)).every((n) => n === 'Rosa Delgado')).toBe(true);
    }
    // Another tenant's transition, by its id: there is none.
    const token = await tokenOf('charm-city');
    for (const id of [server.price, server.riverside]) {
      expect((await get(`/board/api/transitions/${id}`, token)).status).toBe(404);
      expect((await get(`/transitions/${id}`, token)).status).toBe(404);
    }
    expect((await get(`/board/api/transitions/${server.delgado}`, token)).status).toBe(200);
  });

  it('gives a case manager the Coverage view of the patients on its care teams, and null for what its role does not read', async () => {
    const list = await rows('case-manager');
    expect(names(list).sort()).toEqual(['Darnell Lewis Price', 'Rosa Delgado']);
    for (const row of list) {
      expect(row).toMatchObject({ referrals: null, deadlines: null, redFlags: null });
      expect(row.coverage?.findings.length).toBeGreaterThan(0);
    }
  });

  it('shows an admin every tenant\'s transitions', async () => {
    expect(names(await rows('ops')).sort()).toEqual(['Darnell Lewis Price', 'Rosa Delgado', 'Harold James Whitfield'].sort());
  });

  it('filters by "overdue" and "no agency yet" across pages, and pages with a cursor', async () => {
    expect(names(await rows('planner', '?filter=overdue'))).toEqual(['Darnell Lewis Price']);
    expect(names(await rows('planner', '?filter=no-agency'))).toEqual(['Rosa Delgado']);
    expect(names(await rows('planner', '?filter=overdue,no-agency'))).toEqual([]);
    // One a page: the overdue one is on the store's second page, found by walking on.
    const first = await get('/board/api/transitions?filter=overdue&_count=1', await tokenOf('planner'));
    expect(names(first.body.items as Row[])).toEqual(['Darnell Lewis Price']);
    const paged = await get('/board/api/transitions?_count=1', await tokenOf('planner'));
    expect(names(paged.body.items as Row[])).toEqual(['Rosa Delgado']);
    const rest = await get(`/board/api/transitions?_count=1&_cursor=${encodeURIComponent(paged.body.next as string)}`, await tokenOf('planner'));
    expect(names(rest.body.items as Row[])).toEqual(['Darnell Lewis Price']);
  });

  it('refuses what it does not understand, and callers without a token', async () => {
    const token = await tokenOf('planner');
    for (const query of ['?filter=late', '?_count=0', '?_count=51', '?patient=x', '?_cursor=']) {
      const answer = await get(`/board/api/transitions${query}`, token);
      expect({ query, status: answer.status, type: answer.body.resourceType }).toEqual({ query, status: 400, type: 'OperationOutcome' });
    }
    expect((await get('/board/api/transitions')).status).toBe(401);
    expect((await get('/board/api/elsewhere', token)).status).toBe(404);
  });

  it('records each read in the audit trail as the board user', async () => {
    await rows('planner', '?filter=overdue');
    const reads = (await auditEvents()).filter((e) => e.subtype?.[0]?.code === 'search-type' && JSON.stringify(e.agent).includes('board:planner'));
    expect(reads.length).toBeGreaterThan(0);
  });
});

describe('/board/api/sync-health', () => {
  it('shows admins each peer\'s outbox and poll health, and nobody else', async () => {
    const answer = await get('/board/api/sync-health', await tokenOf('ops'));
    expect(answer.status).toBe(200);
    const destinations = answer.body.destinations as { destination: string; dead: number; poll?: { lastSuccessAt?: string } }[];
    expect(destinations.find((d) => d.destination === 'charm-city')?.dead).toBeGreaterThan(0);
    expect(destinations.find((d) => d.destination === 'riverside-ehr')?.poll?.lastSuccessAt).toBe('2026-12-10T16:45:00Z');
    expect((await get('/board/api/sync-health', await tokenOf('planner'))).status).toBe(403);
    expect((await get('/admin/outbox', await tokenOf('planner'))).status).toBe(403);
  });
});

describe('/board', () => {
  it('serves the page and its assets under a CSP that allows this origin only; the API keeps its own', async () => {
    const page = await fetch(`${server.url}/board/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toBe("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
    const html = await page.text();
    expect(html).not.toMatch(/<script>|<style>|style="|https?:\/\//);
    const script = readdirSync(`${BOARD_DIST}assets`).find((f) => f.endsWith('.js')) as string;
    const asset = await fetch(`${server.url}/board/assets/${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toMatch(/immutable/);
    expect((await fetch(`${server.url}/board`)).status).toBe(200);
    expect((await fetch(`${server.url}/board/nothing-here.js`)).status).toBe(404);
    expect((await fetch(`${server.url}/fhir/metadata`)).headers.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none'");
  });
});
