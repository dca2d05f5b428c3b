// The board's list paged through real HTTP over enough transitions that a filter's matches straddle
// the store's CarePlan pages: no answer holds more than `_count` rows, and following `next` to the
// end yields every matching transition exactly once, newest first, for each caller's own view (a
// hospital its own, an agency what is referred to it, an admin all). Each answer's AuditEvent names
// the patients answered, not the ones a filter dropped.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseSearchRequest } from '@medplum/core';
import type { AuditEvent, Task } from '@medplum/fhirtypes';
import type { TransitionPlan } from '../../src/model/transition-plan.ts';
import type { TestServer } from '../api/support/server.ts';
import { startSqliteServer } from '../api/support/server.ts';
import type { TestClient } from '../support/auth.ts';
import { makeClient, tokenFor } from '../support/auth.ts';
import { readPlan } from '../support/fixtures.ts';
import { HARBOR_POINT, INNER_HARBOR, NOW, RIVERSIDE } from './support/seeded-server.ts';

const HARBOR_PLANS = 11;
/** Discharged 2026-11-30: the interactive contact was due 12-02, so overdue at NOW; else discharged 12-09, nothing due yet. */
const isOverdue = (i: number): boolean => i % 4 !== 2;
/** Referred to Charm City alone, so Inner Harbor never sees it. */
const charmCityOnly = (i: number): boolean => i % 5 === 4;
/** Inner Harbor accepts it: an agency is placed. */
const accepted = (i: number): boolean => i % 3 === 0 && !charmCityOnly(i);

interface Row {
  id: string;
  title?: string;
  patient: { reference: string } | null;
  overdue: boolean;
  noAgency: boolean;
}

let server: TestServer;
let clients: { harborPoint: TestClient; riverside: TestClient; innerHarbor: TestClient };
const tokens: Record<'harborPoint' | 'riverside' | 'innerHarbor' | 'admin', string> = { harborPoint: '', riverside: '', innerHarbor: '', admin: '' };

const dayAfter = (day: string, days: number): string => new Date(Date.parse(day) + days * 86_400_000).toISOString().slice(0, 10);

/** The broadcast fixture as another patient and stay of Harbor Point's. */
function harborPlan(i: number): TransitionPlan {
  const plan = readPlan('broadcast-three-agencies.json');
  const shift = isOverdue(i) ? 0 : 9;
  const suffix = `-P${i}`;
  return {
    ...plan,
    identifier: { ...plan.identifier, value: `${plan.identifier.value}${suffix}` },
    created: isOverdue(i) ? plan.created : '2026-12-09T10:00:00-05:00',
    title: `Harbor Point ${i}`,
    patient: { ...plan.patient, identifiers: plan.patient.identifiers.map((id) => ({ ...id, value: `${id.value}${suffix}` })) },
    hospitalStay: {
      ...plan.hospitalStay,
      encounterIdentifier: plan.hospitalStay.encounterIdentifier && { ...plan.hospitalStay.encounterIdentifier, value: `${plan.hospitalStay.encounterIdentifier.value}${suffix}` },
      ...(isOverdue(i) ? {} : { admittedAt: '2026-12-05T09:00:00-05:00', dischargedAt: '2026-12-09T15:00:00-05:00' }),
    },
    goals: plan.goals?.map((g) => ({ ...g, ...(g.targetDate ? { targetDate: dayAfter(g.targetDate, shift) } : {}) })),
    followUps: (plan.followUps ?? []).map((f) => ({ ...f, ...(f.start ? { start: `${dayAfter(f.start.slice(0, 10), shift)}${f.start.slice(10)}` } : {}) })),
    referrals: (plan.referrals ?? []).filter((r) => !charmCityOnly(i) || r.agency.name === 'Charm City Home Health').map((r) => ({ ...r, ...(r.requestedStartOfCare ? { requestedStartOfCare: dayAfter(r.requestedStartOfCare, shift) } : {}) })),
  };
}

function riversidePlan(i: number): TransitionPlan {
  const plan = readPlan('heart-failure-home-health.json');
  const suffix = `-R${i}`;
  return {
    ...plan,
    identifier: { ...plan.identifier, value: `${plan.identifier.value}${suffix}` },
    title: `Riverside ${i}`,
    patient: { ...plan.patient, identifiers: plan.patient.identifiers.map((id) => ({ ...id, value: `${id.value}${suffix}` })) },
    hospitalStay: { ...plan.hospitalStay, encounterIdentifier: plan.hospitalStay.encounterIdentifier && { ...plan.hospitalStay.encounterIdentifier, value: `${plan.hospitalStay.encounterIdentifier.value}${suffix}` } },
  };
}

async function call(token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': path.startsWith('/fhir') ? 'application/fhir+json' : 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

/** Follows `next` to the end; every answer within `_count`, each request named by its X-Request-Id. */
async function walk(token: string, filter: string, count: number, tag = ''): Promise<{ rows: Row[]; pages: { requestId: string; rows: Row[] }[] }> {
  const pages: { requestId: string; rows: Row[] }[] = [];
  let cursor: string | undefined;
  do {
    const requestId = `${tag}page-${pages.length}`;
    const query = `?_count=${count}${filter ? `&filter=${filter}` : ''}${cursor ? `&_cursor=${encodeURIComponent(cursor)}` : ''}`;
    const answer = await call(token, 'GET', `/board/api/transitions${query}`, undefined, { 'x-request-id': requestId });
    expect({ query, status: answer.status }).toEqual({ query, status: 200 });
    const items = answer.body.items as Row[];
    expect({ query, answered: items.length, moreThanCount: items.length > count }).toEqual({ query, answered: items.length, moreThanCount: false });
    pages.push({ requestId, rows: items });
    cursor = answer.body.next as string | undefined;
    // Bounded: a page of the store a request at the least, so no walk outlasts the list.
    expect(pages.length).toBeLessThanOrEqual(HARBOR_PLANS + 3);
  } while (cursor !== undefined);
  return { rows: pages.flatMap((p) => p.rows), pages };
}

const matching = (rows: Row[], filter: string): Row[] => rows.filter((r) => (!filter.includes('overdue') || r.overdue) && (!filter.includes('no-agency') || r.noAgency));
const titles = (rows: Row[]): (string | undefined)[] => rows.map((r) => r.title);

beforeAll(async () => {
  clients = {
    harborPoint: await makeClient('hospital', HARBOR_POINT, ['system/*.cruds']),
    riverside: await makeClient('hospital', RIVERSIDE, ['system/*.cruds']),
    innerHarbor: await makeClient('agency', INNER_HARBOR, ['system/*.cruds']),
  };
  server = await startSqliteServer('warn', { clients: Object.values(clients), now: () => NOW });
  tokens.harborPoint = await tokenFor(server, clients.harborPoint);
  tokens.riverside = await tokenFor(server, clients.riverside);
  tokens.innerHarbor = await tokenFor(server, clients.innerHarbor);
  tokens.admin = server.token;
  for (let i = 0; i < HARBOR_PLANS; i += 1) {
    const pushed = await call(tokens.harborPoint, 'POST', '/transitions', harborPlan(i));
    expect({ i, status: pushed.status }).toEqual({ i, status: 201 });
    if (accepted(i)) {
      const offered = await call(tokens.innerHarbor, 'GET', `/fhir/Task?code=fulfill&based-on=CarePlan/${pushed.body.id as string}`);
      const referral = (offered.body.entry as { resource: Task }[])[0]?.resource as Task;
      expect((await call(tokens.innerHarbor, 'PUT', `/fhir/Task/${referral.id}`, { ...referral, status: 'accepted' }, { 'if-match': `W/"${referral.meta?.versionId}"` })).status).toBe(200);
    }
    // Another hospital's plans between Harbor Point's, on the same store pages.
    if (i % 4 === 1) {
      expect((await call(tokens.riverside, 'POST', '/transitions', riversidePlan(i))).status).toBe(201);
    }
  }
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

describe('/board/api/transitions over many store pages', () => {
  it('seeds overdue and placed transitions as the board judges them', async () => {
    const { rows } = await walk(tokens.harborPoint, '', 50);
    expect(titles(rows).sort()).toEqual(Array.from({ length: HARBOR_PLANS }, (_, i) => `Harbor Point ${i}`).sort());
    for (const row of rows) {
      const i = Number(row.title?.split(' ').pop());
      expect({ title: row.title, overdue: row.overdue, noAgency: row.noAgency }).toEqual({ title: row.title, overdue: isOverdue(i), noAgency: !accepted(i) });
    }
  });

  for (const [caller, expectedTitles] of [
    ['harborPoint', (i: number): string[] => [`Harbor Point ${i}`]],
    ['innerHarbor', (i: number): string[] => (charmCityOnly(i) ? [] : [`Harbor Point ${i}`])],
    ['admin', (i: number): string[] => [`Harbor Point ${i}`, ...(i % 4 === 1 ? [`Riverside ${i}`] : [])]],
  ] as const) {
    it(`answers ${caller} at most _count rows a page and every match once, newest first, with and without filters`, async () => {
      const token = tokens[caller];
      // The whole list on one page is the order every walk must keep.
      const { rows: all } = await walk(token, '', 50);
      expect(titles(all).sort()).toEqual(Array.from({ length: HARBOR_PLANS }, (_, i) => expectedTitles(i)).flat().sort());
      for (const filter of ['', 'overdue', 'no-agency', 'overdue,no-agency']) {
        for (const count of [2, 3, 5]) {
          const { rows } = await walk(token, filter, count);
          expect({ filter, count, titles: titles(rows) }).toEqual({ filter, count, titles: titles(matching(all, filter)) });
        }
      }
    });
  }

  it('records in each answer\'s AuditEvent the patients answered, not those a filter dropped', async () => {
    const { pages } = await walk(tokens.harborPoint, 'overdue', 3, 'audited-');
    const events = (await server.store.search(parseSearchRequest('AuditEvent?_count=1000'))).resources as AuditEvent[];
    for (const page of pages) {
      const event = events.find((e) => e.entity?.some((x) => x.what?.identifier?.value === page.requestId));
      // A search's AuditEvent names the patients it touched (BALP), not each resource.
      const patients = (event?.entity ?? []).map((x) => x.what?.reference).filter((r): r is string => r?.startsWith('Patient/') === true);
      expect({ requestId: page.requestId, patients: patients.sort() }).toEqual({ requestId: page.requestId, patients: page.rows.map((r) => r.patient?.reference).sort() });
    }
  });
});
