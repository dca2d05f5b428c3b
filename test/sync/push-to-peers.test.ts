// Outbound sync end to end: carebridge (real HTTP, real tokens, a real SQLite file) pushes a
// broadcast plan to three simulated agency FHIR servers and writes the accepting agency's answer
// back to the simulated hospital EHR — through outages, retries and dead letters, without a
// duplicate at any peer.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseSearchRequest } from '@medplum/core';
import type { Bundle, CarePlan, Communication, Patient, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import { PassThrough } from 'node:stream';
import type { AuthTestServer } from '../auth/support/auth-server.ts';
import { startAuthTestServer } from '../auth/support/auth-server.ts';
import type { PeerConfig } from '../../src/config/peers.ts';
import { withPeerDefaults } from '../../src/config/peers.ts';
import { createLogger } from '../../src/log/logger.ts';
import { peerDeliverers, peerReads } from '../../src/sync/outbox/deliverers.ts';
import { Dispatcher } from '../../src/sync/outbox/dispatcher.ts';
import { peerRouter } from '../../src/sync/outbox/peer-router.ts';
import { CAREBRIDGE_RESOURCE_SYSTEM } from '../../src/sync/identity.ts';
import type { SimulatedFhirPeer } from '../../src/sync/simulated/fhir-peer.ts';
import { startSimulatedFhirPeer } from '../../src/sync/simulated/fhir-peer.ts';
import { ADMIN, HOSPITAL, HOSPITAL_NPI, NPI, agencies, agencyNpi, broadcastPlan, ifMatch, pushPlan } from '../workflow/support/broadcast.ts';

const AGENCIES = agencies(3);
const logger = createLogger({ stream: new PassThrough(), level: 'error' });

let server: AuthTestServer;
let agencyPeers: SimulatedFhirPeer[];
let ehr: SimulatedFhirPeer;
/** An EHR that takes news as Communications (push.mode "communication"). */
let inbox: SimulatedFhirPeer;
let peers: PeerConfig[];
let dispatcher: Dispatcher;

const retry = { initialDelayMs: 20, maxDelayMs: 100, windowHours: 1 };

beforeAll(async () => {
  agencyPeers = await Promise.all(AGENCIES.map((_, i) => startSimulatedFhirPeer({ name: `Agency ${i}` })));
  ehr = await startSimulatedFhirPeer({ name: 'Hospital EHR' });
  inbox = await startSimulatedFhirPeer({ name: 'Hospital EHR inbox' });
  peers = [
    ...agencyPeers.map((peer, i) =>
      withPeerDefaults({ name: `agency-${i}`, kind: 'agency', organization: { system: NPI, value: agencyNpi(i) }, fhirBaseUrl: peer.baseUrl, push: { resourceTypes: ['Patient', 'CarePlan', 'CareTeam', 'Goal', 'Task', 'ServiceRequest', 'Appointment'] }, limits: { timeoutMs: 1000, retry } }),
    ),
    withPeerDefaults({ name: 'ehr', kind: 'ehr', organization: { system: NPI, value: HOSPITAL_NPI }, fhirBaseUrl: ehr.baseUrl, push: { resourceTypes: ['Task', 'Appointment', 'Observation'] }, limits: { timeoutMs: 1000, retry } }),
    withPeerDefaults({ name: 'ehr-inbox', kind: 'ehr', organization: { system: NPI, value: HOSPITAL_NPI }, fhirBaseUrl: inbox.baseUrl, push: { resourceTypes: ['Task'], mode: 'communication' }, limits: { timeoutMs: 1000, retry } }),
  ];
  server = await startAuthTestServer({ principals: [HOSPITAL, ADMIN, ...AGENCIES] });
  server.store.configure({ outboxRouter: peerRouter(peers) });
  const deliverers = peerDeliverers(peers, peerReads(server.store));
  const policies = new Map(peers.map((p) => [p.name, p.limits.retry]));
  dispatcher = new Dispatcher({ store: server.store, logger, delivererFor: (d) => deliverers.get(d), retryFor: (d) => policies.get(d) ?? retry, idleMs: 20, blockedProbeMs: 200 });
});

afterAll(async () => {
  await dispatcher?.stop();
  await server?.stop();
  await Promise.all([...(agencyPeers ?? []), ehr, inbox].filter(Boolean).map((p) => p.close()));
});

/** Resources of `type` at a peer carrying carebridge's identifier of our `Type/id`. */
async function atPeer<T extends Resource>(peer: SimulatedFhirPeer, type: string, id: string): Promise<T[]> {
  return (await peer.repo.searchResources(parseSearchRequest(`${type}?identifier=${CAREBRIDGE_RESOURCE_SYSTEM}|${type}/${id}`))) as T[];
}

async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error('not delivered in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('pushing a transition to agency FHIR servers and writing back to the EHR', () => {
  let plan: Awaited<ReturnType<typeof pushPlan>>;

  it('gives each agency its referral, the patient and the plan, with references that resolve at the agency', async () => {
    plan = await pushPlan(server.as(HOSPITAL), broadcastPlan('peers'));
    await dispatcher.drain({ untilSettled: true });
    for (let i = 0; i < 3; i += 1) {
      const peer = agencyPeers[i] as SimulatedFhirPeer;
      const [carePlan] = await atPeer<CarePlan>(peer, 'CarePlan', plan.carePlan.id as string);
      const [patient] = await atPeer<Patient>(peer, 'Patient', plan.patient);
      expect(carePlan && patient).toBeTruthy();
      expect(carePlan?.subject.reference).toBe(`Patient/${patient?.id}`);
      expect(await atPeer(peer, 'Task', plan.referrals.get(agencyNpi(i))?.id as string)).toHaveLength(1);
      for (const j of [0, 1, 2].filter((j) => j !== i)) {
        expect(await atPeer(peer, 'Task', plan.referrals.get(agencyNpi(j))?.id as string)).toHaveLength(0);
      }
      // The plan's references travel along only as far as the agency may see them: its own
      // referral's ServiceRequest, not the other agencies' (the same as it reads over the API).
      const visible = await server.as(AGENCIES[i] as typeof HOSPITAL)('GET', 'ServiceRequest');
      const own = ((visible.body as Bundle).entry ?? []).map((e) => e.resource?.id).sort();
      expect(own).toHaveLength(1);
      const sent = ((await peer.repo.searchResources(parseSearchRequest('ServiceRequest'))) as ServiceRequest[]).map((r) => r.identifier?.find((x) => x.system === CAREBRIDGE_RESOURCE_SYSTEM)?.value?.replace('ServiceRequest/', '')).sort();
      expect(sent).toEqual(own);
      // Every request carried its delivery's event id.
      expect(peer.requests.filter((r) => r.method === 'POST').every((r) => /^[0-9a-f-]{36}$/.test(r.headers['x-carebridge-event-id'] ?? ''))).toBe(true);
    }
    expect(ehr.requests.filter((r) => r.method === 'POST')).toHaveLength(0);
  });

  it('sends nothing twice: delivering the same changes again creates no duplicate at the peer', async () => {
    const peer = agencyPeers[0] as SimulatedFhirPeer;
    const before = (await peer.repo.searchResources(parseSearchRequest('CarePlan'))).length;
    const delivered = await server.store.listDeliveries({ destination: 'agency-0', state: 'delivered', limit: 1000 });
    const deliverer = peerDeliverers(peers, peerReads(server.store)).get('agency-0');
    for (const delivery of delivered) {
      await deliverer?.deliver(delivery, await server.store.read(delivery.resourceType, delivery.resourceId));
    }
    expect((await peer.repo.searchResources(parseSearchRequest('CarePlan'))).length).toBe(before);
    expect(await atPeer(peer, 'Patient', plan.patient)).toHaveLength(1);
  });

  it('writes the accepting agency\'s answer back to the EHR, and tells the others their referral was cancelled', async () => {
    const task = plan.referrals.get(agencyNpi(0)) as Task;
    expect((await server.as(AGENCIES[0] as typeof HOSPITAL)('PUT', `Task/${task.id}`, { ...task, status: 'accepted' }, ifMatch(task))).status).toBe(200);
    await dispatcher.drain({ untilSettled: true });
    const [atEhr] = await atPeer<Task>(ehr, 'Task', task.id as string);
    expect(atEhr?.status).toBe('accepted');
    for (const i of [1, 2]) {
      const [theirs] = await atPeer<Task>(agencyPeers[i] as SimulatedFhirPeer, 'Task', plan.referrals.get(agencyNpi(i))?.id as string);
      expect(theirs?.status).toBe('cancelled');
      expect(theirs?.statusReason?.text).toBe('placed with another agency');
    }
    // The EHR that takes Communications gets one per change, once, about the patient it knows.
    const messages = (await inbox.repo.searchResources(parseSearchRequest('Communication'))) as Communication[];
    const accepted = messages.filter((m) => m.about?.[0]?.identifier?.value === `Task/${task.id}`);
    expect(accepted.map((m) => m.payload?.[0]?.contentString)).toEqual([expect.stringMatching(/^Referral: accepted/)]);
    expect(accepted[0]?.subject?.identifier?.value).toBeDefined();
    expect(messages.filter((m) => m.payload?.[0]?.contentString?.includes('cancelled (placed with another agency)'))).toHaveLength(2);
    const rows = await server.store.listDeliveries({ destination: 'ehr-inbox', state: 'delivered', limit: 100 });
    const deliverer = peerDeliverers(peers, peerReads(server.store)).get('ehr-inbox');
    for (const delivery of rows) {
      await deliverer?.deliver(delivery, await server.store.read(delivery.resourceType, delivery.resourceId));
    }
    expect(await inbox.repo.searchResources(parseSearchRequest('Communication'))).toHaveLength(messages.length);
  });

  it('catches a peer up after an outage, in order, with the newest state once', async () => {
    const peer = agencyPeers[0] as SimulatedFhirPeer;
    dispatcher.start();
    peer.setDown('unavailable');
    const carePlan = (await server.as(HOSPITAL)('GET', `CarePlan/${plan.carePlan.id}`)).body as CarePlan;
    let current = carePlan;
    for (const description of ['Visit moved to Tuesday', 'Visit moved to Wednesday', 'Visit moved to Thursday']) {
      const answer = await server.as(HOSPITAL)('PUT', `CarePlan/${carePlan.id}`, { ...current, description }, ifMatch(current));
      expect(answer.status).toBe(200);
      current = answer.body as CarePlan;
    }
    await eventually(async () => peer.requests.some((r) => r.status === 503));
    const refusedWhileDown = peer.requests.filter((r) => r.status === 503).length;
    peer.setDown('hang'); // then timeouts
    await new Promise((resolve) => setTimeout(resolve, 1200));
    peer.setDown(false);
    await eventually(async () => (await atPeer<CarePlan>(peer, 'CarePlan', carePlan.id as string))[0]?.description === 'Visit moved to Thursday');
    // A request that timed out may still have reached the peer: it is sent again (at least once), harmlessly.
    await eventually(async () => (await server.store.countDeliveries()).every((c) => c.pending === 0));
    expect(await atPeer(peer, 'CarePlan', carePlan.id as string)).toHaveLength(1);
    expect(refusedWhileDown).toBeGreaterThan(0);
    const rows = await server.store.listDeliveries({ destination: 'agency-0', limit: 1000 });
    const carePlanRows = rows.filter((r) => r.resourceType === 'CarePlan' && Number(r.versionId) > 1);
    // Sent once, as it is now; the versions in between were superseded.
    expect(carePlanRows.filter((r) => r.state === 'delivered')).toHaveLength(1);
    expect(carePlanRows.every((r) => r.state === 'delivered' || r.state === 'superseded')).toBe(true);
    await dispatcher.stop();
  });

  it('dead-letters a change for a peer that never comes back within the window, and replay delivers it when it does', async () => {
    const peer = agencyPeers[0] as SimulatedFhirPeer;
    const shortWindow = peers.map((p) => (p.name === 'agency-0' ? { ...p, limits: { ...p.limits, timeoutMs: 300, retry: { initialDelayMs: 20, maxDelayMs: 50, windowHours: 0.5 / 3600 } } } : p));
    const deliverers = peerDeliverers(shortWindow, peerReads(server.store));
    const impatient = new Dispatcher({ store: server.store, logger, delivererFor: (d) => deliverers.get(d), retryFor: (d) => shortWindow.find((p) => p.name === d)?.limits.retry ?? retry, idleMs: 20 });
    peer.setDown('reset');
    const carePlan = (await server.as(HOSPITAL)('GET', `CarePlan/${plan.carePlan.id}`)).body as CarePlan;
    expect((await server.as(HOSPITAL)('PUT', `CarePlan/${carePlan.id}`, { ...carePlan, description: 'Discharged to daughter\'s home' }, ifMatch(carePlan))).status).toBe(200);
    await impatient.drain({ untilSettled: true });
    const [dead] = await server.store.listDeliveries({ destination: 'agency-0', state: 'dead', limit: 10 });
    expect(dead).toMatchObject({ resourceType: 'CarePlan', resourceId: carePlan.id });
    expect(dead?.lastError).toMatch(/retry window .* passed; last error: peer agency-0 unreachable/);
    peer.setDown(false);
    expect(await server.store.replayDeliveries({ destination: 'agency-0' })).toBe(1);
    await impatient.drain({ untilSettled: true });
    const [atAgency] = await atPeer<CarePlan>(peer, 'CarePlan', carePlan.id as string);
    expect(atAgency?.description).toBe('Discharged to daughter\'s home');
    expect(await atPeer(peer, 'CarePlan', carePlan.id as string)).toHaveLength(1);
  });
});
