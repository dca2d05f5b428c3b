// A real carebridge for the board's tests: initServer on 127.0.0.1 (port 0) over a fresh SQLite
// file, its clock fixed at NOW, board users in its config, the outbox dispatcher running against a
// webhook peer for Charm City that refuses what it is sent (422: dead letters) until told to take
// it. Seeded through the real API by keyed test clients:
// - "Price": Harbor Point's broadcast plan (discharged 2026-11-30), accepted by Inner Harbor, the
//   two other agencies cancelled; no interactive contact, so that deadline is overdue at NOW; the
//   agency reports SpO2 86 %: a red flag;
// - "Delgado": Harbor Point again (discharged 2026-12-09), referred to Charm City (no answer yet)
//   and Chesapeake (declined, with a reason): no agency yet, nothing overdue;
// - Riverside's heart-failure plan: another hospital's, which Harbor Point's people never see.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Observation, Task } from '@medplum/fhirtypes';
import { initServer } from '../../../src/api/server.ts';
import type { RunningServer } from '../../../src/api/server.ts';
import { AuthService } from '../../../src/auth/auth-service.ts';
import { hashPassword } from '../../../src/auth/password-hash.ts';
import type { ClientRole, OrganizationIdentity } from '../../../src/auth/principal.ts';
import type { BoardUserConfig } from '../../../src/config/board-users.ts';
import { parseConfig } from '../../../src/config/config.ts';
import { createLogger } from '../../../src/log/logger.ts';
import type { TransitionPlan } from '../../../src/model/transition-plan.ts';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.ts';
import type { WebhookReceiver } from '../../../src/sync/simulated/webhook-receiver.ts';
import { startWebhookReceiver } from '../../../src/sync/simulated/webhook-receiver.ts';
import { startSync } from '../../../src/sync/sync-service.ts';
import type { RunningSync } from '../../../src/sync/sync-service.ts';
import { loadDefinitions } from '../../../src/validation/definitions.ts';
import type { TestClient } from '../../support/auth.ts';
import { adminClient, makeClient, tokenFor } from '../../support/auth.ts';
import { readPlan } from '../../support/fixtures.ts';

/** The board's "now": ten days after Price's discharge, one after Delgado's. */
export const NOW = new Date('2026-12-10T17:00:00Z');
export const NPI = 'http://hl7.org/fhir/sid/us-npi';
export const HARBOR_POINT: OrganizationIdentity = { system: NPI, value: '1599024316', display: 'Harbor Point Medical Center' };
export const RIVERSIDE: OrganizationIdentity = { system: NPI, value: '1543829067', display: 'Riverside Regional Medical Center' };
export const CHARM_CITY: OrganizationIdentity = { system: NPI, value: '1266190432', display: 'Charm City Home Health' };
export const INNER_HARBOR: OrganizationIdentity = { system: NPI, value: '1877352900', display: 'Inner Harbor Visiting Nurses' };
export const CHESAPEAKE: OrganizationIdentity = { system: NPI, value: '1455266175', display: 'Chesapeake Home Care & Rehabilitation' };
export const CCHP: OrganizationIdentity = { system: 'https://payers.example/fhir/sid/payer-id', value: 'CCHP-MD-2210', display: 'Chesapeake Community Health Plan' };
export const DECLINE_REASON = 'No nurse free in ZIP 21205 this week';
export const PASSWORD = 'correct horse battery staple';

/** username → who the board user is (all read-only but the admin). */
export const BOARD_PEOPLE: Record<string, { name: string; organization: OrganizationIdentity; role: ClientRole; scopes: string[] }> = {
  planner: { name: 'Anne Fitzgerald (discharge planner)', organization: HARBOR_POINT, role: 'hospital', scopes: ['system/*.rs'] },
  'charm-city': { name: 'Charm City intake nurse', organization: CHARM_CITY, role: 'agency', scopes: ['system/*.rs'] },
  'case-manager': { name: 'Jerome Whitaker (case manager)', organization: CCHP, role: 'case-management', scopes: ['system/*.rs'] },
  ops: { name: 'carebridge operations', organization: { system: 'urn:carebridge-test:org', value: 'ops', display: 'Operations' }, role: 'admin', scopes: ['system/*.rs'] },
};

export interface SeededServer {
  url: string;
  store: SqliteStore;
  /** The refusing (then accepting) webhook peer of Charm City. */
  peer: WebhookReceiver;
  /** CarePlan ids. */
  price: string;
  delgado: string;
  riverside: string;
  logs: string[];
  stop: () => Promise<void>;
}

type Json = Record<string, unknown>;

async function call(url: string, token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': path.startsWith('/fhir') ? 'application/fhir+json' : 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as Json };
}

async function expectStatus(answer: Promise<{ status: number; body: Json }>, expected: number[], what: string): Promise<Json> {
  const { status, body } = await answer;
  if (!expected.includes(status)) {
    throw new Error(`${what} answered ${status}: ${JSON.stringify(body).slice(0, 600)}`);
  }
  return body;
}

const laterBy = (day: string, days: number): string => new Date(Date.parse(day) + days * 86_400_000).toISOString().slice(0, 10);

/** Delgado's plan: the broadcast fixture for another patient and stay, discharged the day before NOW, two agencies. */
function delgadoPlan(): TransitionPlan {
  const plan = readPlan('broadcast-three-agencies.json');
  const [charmCity, , chesapeake] = plan.referrals ?? [];
  return {
    ...plan,
    identifier: { ...plan.identifier, value: 'HPMC-2026-12-09-0051' },
    created: '2026-12-09T10:00:00-05:00',
    title: 'Hip fracture repair: home health referral',
    patient: { ...plan.patient, identifiers: plan.patient.identifiers.map((id) => ({ ...id, value: `${id.value}-D` })), name: { family: 'Delgado', given: ['Rosa'] }, birthDate: '1951-03-14', gender: 'female' },
    hospitalStay: { ...plan.hospitalStay, encounterIdentifier: plan.hospitalStay.encounterIdentifier && { ...plan.hospitalStay.encounterIdentifier, value: 'HP-IP-26-094410' }, admittedAt: '2026-12-05T09:00:00-05:00', dischargedAt: '2026-12-09T15:00:00-05:00' },
    goals: plan.goals?.map((g) => ({ ...g, ...(g.targetDate ? { targetDate: laterBy(g.targetDate, 10) } : {}) })),
    followUps: (plan.followUps ?? []).map((f, i) => ({ ...f, start: i === 0 ? '2026-12-11T14:00:00-05:00' : '2026-12-18T09:00:00-05:00' })),
    referrals: [charmCity, chesapeake].filter((r) => r !== undefined).map((r) => ({ ...r, requestedStartOfCare: '2026-12-11' })),
  };
}

async function seed(url: string, clients: { hospital: TestClient; riverside: TestClient; innerHarbor: TestClient; chesapeake: TestClient }): Promise<{ price: string; delgado: string; riverside: string }> {
  const [hospital, riverside, innerHarbor, chesapeake] = await Promise.all([tokenFor({ url }, clients.hospital), tokenFor({ url }, clients.riverside), tokenFor({ url }, clients.innerHarbor), tokenFor({ url }, clients.chesapeake)]);
  const price = (await expectStatus(call(url, hospital, 'POST', '/transitions', readPlan('broadcast-three-agencies.json')), [201], 'push Price')).id as string;
  const delgado = (await expectStatus(call(url, hospital, 'POST', '/transitions', delgadoPlan()), [201], 'push Delgado')).id as string;
  const other = (await expectStatus(call(url, riverside, 'POST', '/transitions', readPlan('heart-failure-home-health.json')), [201], 'push Riverside')).id as string;

  // Inner Harbor accepts Price (carebridge cancels the two other referrals) and reports a low SpO2.
  const offered = (await expectStatus(call(url, innerHarbor, 'GET', `/fhir/Task?code=fulfill&based-on=CarePlan/${price}`), [200], 'Inner Harbor referrals')) as { entry?: { resource: Task }[] };
  const referral = offered.entry?.[0]?.resource as Task;
  await expectStatus(call(url, innerHarbor, 'PUT', `/fhir/Task/${referral.id}`, { ...referral, status: 'accepted' }, { 'if-match': `W/"${referral.meta?.versionId}"` }), [200], 'accept');
  const reading: Observation = {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '59408-5', display: 'Oxygen saturation in Arterial blood by Pulse oximetry' }], text: 'SpO2' },
    subject: { reference: referral.for?.reference },
    effectiveDateTime: '2026-12-10T08:30:00-05:00',
    performer: referral.owner?.reference ? [{ reference: referral.owner.reference }] : undefined,
    valueQuantity: { value: 86, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
  };
  await expectStatus(call(url, innerHarbor, 'POST', '/fhir/Observation', reading), [201], 'SpO2 report');

  // Chesapeake declines Delgado, saying why.
  const asked = (await expectStatus(call(url, chesapeake, 'GET', `/fhir/Task?code=fulfill&based-on=CarePlan/${delgado}`), [200], 'Chesapeake referrals')) as { entry?: { resource: Task }[] };
  const declined = asked.entry?.[0]?.resource as Task;
  await expectStatus(call(url, chesapeake, 'PUT', `/fhir/Task/${declined.id}`, { ...declined, status: 'rejected', statusReason: { text: DECLINE_REASON } }, { 'if-match': `W/"${declined.meta?.versionId}"` }), [200], 'decline');
  return { price, delgado, riverside: other };
}

async function boardUsers(): Promise<BoardUserConfig[]> {
  // One hash for all: each costs ~0.1 s, and every user has the same test password.
  const passwordHash = await hashPassword(PASSWORD);
  return Object.entries(BOARD_PEOPLE).map(([username, person]) => ({ username, ...person, passwordHash }));
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function startSeededServer(options: { devMode?: boolean } = {}): Promise<SeededServer> {
  loadDefinitions();
  const dir = mkdtempSync(join(tmpdir(), 'carebridge-board-'));
  const store = await SqliteStore.open(join(dir, 'carebridge.db'));
  const logs: string[] = [];
  const logger = createLogger({ level: 'info', stream: new Writable({ write: (chunk: Buffer, _e, done) => (logs.push(chunk.toString('utf8')), done()) }) });
  // Every change for Charm City is refused (422: dead at once) until the test says otherwise.
  const peer = await startWebhookReceiver({ statuses: Array.from({ length: 1000 }, () => 422) });
  const clients = {
    hospital: await makeClient('hospital', HARBOR_POINT, ['system/*.cruds']),
    riverside: await makeClient('hospital', RIVERSIDE, ['system/*.cruds']),
    innerHarbor: await makeClient('agency', INNER_HARBOR, ['system/*.cruds']),
    chesapeake: await makeClient('agency', CHESAPEAKE, ['system/*.cruds']),
  };
  const config = parseConfig(
    {
      clients: [(await adminClient()).config, ...Object.values(clients).map((c) => c.config)],
      boardUsers: await boardUsers(),
      peers: [{ name: 'charm-city', kind: 'agency', organization: CHARM_CITY, webhookUrl: `${peer.url}/hooks/charm-city`, push: { resourceTypes: ['CarePlan'] }, limits: { timeoutMs: 2000, retry: { initialDelayMs: 50, maxDelayMs: 200, windowHours: 1 } } }],
    },
    'board test config',
  );
  const auth = await AuthService.init({ config, store, devMode: options.devMode === true, env: {} });
  let running: RunningServer | undefined;
  let sync: RunningSync | undefined;
  const stop = async (): Promise<void> => {
    await sync?.stop();
    running?.server.closeAllConnections();
    await running?.close();
    await peer.close();
    await store.close();
    logger.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    running = await initServer({ store, logger, auth, port: 0, host: '127.0.0.1', clock: () => NOW, limits: { rateLimitPerMinute: 0 } });
    const url = running.url;
    sync = await startSync({ store, peers: config.peers, logger, dispatch: true, fhirBaseUrl: `${url}/fhir`, poll: false, sweepSchedule: false, heartbeatTickMs: 0, dispatcher: { idleMs: 20 } });
    const ids = await seed(url, clients);
    // An EHR's poll health, as its poller records it: the operations view shows it beside the outbox.
    await store.recordPollRun('riverside-ehr', '*', { startedAt: '2026-12-10T16:45:00Z', finishedAt: '2026-12-10T16:45:02Z', ok: true, stored: 3, skipped: 0 });
    await eventually(async () => (await store.countDeliveries()).every((c) => c.pending === 0), 'the outbox to settle');
    return { url, store, peer, ...ids, logs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
