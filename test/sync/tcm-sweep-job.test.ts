// The sweep job: one instance at a time (a lease), an injected clock, and the coordinator's side
// told through the outbox — the settled deadline Task is routed like any other write.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { withPeerDefaults } from '../../src/config/peers.ts';
import type { Subscription } from '@medplum/fhirtypes';
import { CAREBRIDGE_BASE } from '../../src/model/terminology.ts';
import { FILTER_CRITERIA_URL, PAYLOAD_CONTENT_URL, withSubscriber } from '../../src/subscriptions/subscription.ts';
import { peerRouter } from '../../src/sync/outbox/peer-router.ts';
import { SubscriptionRouter, composeRouters } from '../../src/sync/outbox/subscription-router.ts';
import { SWEEP_LEASE, SweepJob } from '../../src/sync/tcm-sweep-job.ts';
import type { AuthTestServer } from '../auth/support/auth-server.ts';
import { startAuthTestServer } from '../auth/support/auth-server.ts';
import { ADMIN, HOSPITAL, HOSPITAL_NPI, NPI, agencies, agencyNpi, broadcastPlan } from '../workflow/support/broadcast.ts';

const AGENCIES = agencies(1);
const peers = [
  withPeerDefaults({ name: 'agency-0', kind: 'agency', organization: { system: NPI, value: agencyNpi(0) }, fhirBaseUrl: 'http://127.0.0.1:1/agency-0', push: { resourceTypes: ['Task'] } }),
  withPeerDefaults({ name: 'ehr', kind: 'ehr', organization: { system: NPI, value: HOSPITAL_NPI }, fhirBaseUrl: 'http://127.0.0.1:1/ehr', push: { resourceTypes: ['Task'] } }),
];
// Discharged Monday 2026-11-30 16:20 -05:00 (no zone configured: the written offset): contact due Wednesday.
const AFTER_CONTACT_DUE = Date.parse('2026-12-03T05:01:00Z');

describe('the TCM sweep job', () => {
  let server: AuthTestServer;
  let subscriptionId: string;

  beforeAll(async () => {
    server = await startAuthTestServer({ principals: [HOSPITAL, ADMIN, ...AGENCIES] });
    server.store.configure({ outboxRouter: composeRouters(peerRouter(peers), new SubscriptionRouter()) });
    // The hospital's coordinators' worklist: overdue deadlines only.
    const subscription: Subscription = {
      resourceType: 'Subscription',
      status: 'active',
      reason: 'overdue TCM deadlines',
      criteria: `${CAREBRIDGE_BASE}/SubscriptionTopic/tcm-deadline`,
      _criteria: { extension: [{ url: FILTER_CRITERIA_URL, valueString: 'Task?business-status=overdue' }] },
      channel: { type: 'rest-hook', endpoint: 'https://hospital.example.org/hook', payload: 'application/fhir+json', _payload: { extension: [{ url: PAYLOAD_CONTENT_URL, valueCode: 'id-only' }] } },
    } as Subscription;
    subscriptionId = (await server.store.create(withSubscriber(subscription, { organization: { system: NPI, value: HOSPITAL_NPI }, role: 'hospital', clientId: HOSPITAL.clientId }))).version.id;
    const pushed = await server.http(HOSPITAL)('POST', '/transitions', broadcastPlan('sweep', 1), { 'content-type': 'application/json' });
    expect(pushed.status).toBe(201);
  });
  afterAll(() => server.stop());

  it('skips a run while another instance holds the lease', async () => {
    expect(await server.store.claimLease(SWEEP_LEASE, 'other-instance', 60_000)).toBe(true);
    const job = new SweepJob({ store: server.store, now: () => AFTER_CONTACT_DUE, holder: 'this-instance' });
    expect(await job.trigger()).toEqual({ outcome: 'busy' });
    await server.store.releaseLease(SWEEP_LEASE, 'other-instance');
  });

  it('marks the contact overdue at the injected time and queues it for the hospital EHR, the agency and the overdue Subscription', async () => {
    const before = (await server.store.listDeliveries({ afterId: 0, limit: 10_000 })).at(-1)?.id ?? 0;
    const job = new SweepJob({ store: server.store, now: () => AFTER_CONTACT_DUE });
    expect(await job.trigger()).toEqual({ outcome: 'swept', result: { due: 1, met: 0, overdue: 1, ended: 0, skipped: 0 } });
    const queued = await server.store.listDeliveries({ afterId: before, limit: 10_000 });
    expect(queued.filter((d) => d.resourceType === 'Task').map((d) => d.destination).sort()).toEqual(['agency-0', 'ehr', `subscription/${subscriptionId}`]);
    // Twice, or late: nothing more to do.
    expect(await job.trigger()).toMatchObject({ outcome: 'swept', result: { due: 0 } });
    await job.stop();
  });
});
