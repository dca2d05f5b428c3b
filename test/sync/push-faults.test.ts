// A FHIR peer that answers, but not what it was asked (nock: shapes a local peer would not give):
// another resource, a Bundle of the wrong kind or size, an entry it refused — never taken for a delivery.
import { useNock } from '../support/nock.ts';
import { describe, expect, it } from '@jest/globals';
import type { Resource } from '@medplum/fhirtypes';
import { withPeerDefaults } from '../../src/config/peers.ts';
import type { StoredVersion } from '../../src/store/fhir-store.ts';
import type { Delivery } from '../../src/store/outbox.ts';
import { PeerClient, PeerError } from '../../src/sync/connectors/peer-client.ts';
import { FhirPushDeliverer } from '../../src/sync/outbox/deliverers.ts';

const PEER = 'https://agency.example.test';
const peer = withPeerDefaults({ name: 'agency', kind: 'agency', organization: { system: 'urn:test', value: 'a' }, fhirBaseUrl: `${PEER}/fhir`, push: { resourceTypes: ['Patient', 'CarePlan'] }, limits: { timeoutMs: 1000 } });
const patient: Resource = { resourceType: 'Patient', id: 'p1', name: [{ family: 'Okafor' }] };
const carePlan: Resource = { resourceType: 'CarePlan', id: 'c1', status: 'active', intent: 'plan', subject: { reference: 'Patient/p1' } };
const delivery: Delivery = { id: 1, eventId: '6f1c2a7e-0000-4000-8000-000000000001', destination: 'agency', patientId: 'p1', resourceType: 'CarePlan', resourceId: 'c1', versionId: '2', state: 'pending', attempts: 0, createdMs: 0, windowStartMs: 0, nextAttemptMs: 0 };
const current: StoredVersion = { resourceType: 'CarePlan', id: 'c1', versionId: '2', lastUpdated: '2026-11-24T00:00:00Z', seq: 2, deleted: false, resource: carePlan };
const deliverer = (): FhirPushDeliverer => new FhirPushDeliverer(new PeerClient(peer), () => async (type: string, id: string) => (type === 'Patient' && id === 'p1' ? patient : undefined));

const nock = useNock();

async function failure(): Promise<PeerError> {
  const err = await deliverer()
    .deliver(delivery, current)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(PeerError);
  return err as PeerError;
}

describe('FhirPushDeliverer against a peer that answers the wrong thing', () => {
  it('sends the CarePlan with its Patient by conditional update, the event id in a header, and takes a full transaction-response', async () => {
    let sent: { entry?: { request?: { url?: string } }[] } | undefined;
    nock()(PEER)
      .post('/fhir/')
      .matchHeader('x-carebridge-event-id', delivery.eventId)
      .reply(200, async (req: Request) => {
        sent = (await req.json()) as typeof sent;
        return { resourceType: 'Bundle', type: 'transaction-response', entry: [{ response: { status: '200 OK' } }, { response: { status: '201 Created' } }] };
      });
    expect(await deliverer().deliver(delivery, current)).toEqual({ sentVersionId: '2' });
    expect(sent?.entry?.map((e) => e.request?.url)).toEqual(['CarePlan?identifier=urn%3Acarebridge%3Aresource%7CCarePlan%2Fc1', 'Patient?identifier=urn%3Acarebridge%3Aresource%7CPatient%2Fp1']);
  });

  it('retries when the peer answers another resource, another kind of Bundle, or too few entries', async () => {
    for (const body of [{ resourceType: 'Patient', id: 'x' }, { resourceType: 'Bundle', type: 'batch-response', entry: [{}, {}] }, { resourceType: 'Bundle', type: 'transaction-response', entry: [{ response: { status: '200' } }] }]) {
      nock()(PEER).post('/fhir/').reply(200, body);
      const err = await failure();
      expect(err.failure).toBe('retry');
      expect(err.message).toMatch(/did not answer with the transaction-response/);
    }
  });

  it('dead-letters a change the peer refused (an entry answered 422), retries one it failed (500)', async () => {
    nock()(PEER).post('/fhir/').reply(200, { resourceType: 'Bundle', type: 'transaction-response', entry: [{ response: { status: '422 Unprocessable Entity' } }, { response: { status: '200 OK' } }] });
    expect((await failure()).failure).toBe('rejected');
    nock()(PEER).post('/fhir/').reply(200, { resourceType: 'Bundle', type: 'transaction-response', entry: [{ response: { status: '500' } }, { response: { status: '200 OK' } }] });
    expect((await failure()).failure).toBe('retry');
  });

  it('retries after a reset connection', async () => {
    nock()(PEER).post('/fhir/').replyWithError({ code: 'ECONNRESET', message: 'socket hang up' });
    expect((await failure()).failure).toBe('retry');
  });
});
