// What a deliverer sends along with a change is read as the peer's organization sees it *now*: a
// copy of the agency's Organization written after the process started (another hospital's own
// directory entry) opens the patients referred through it, as it does over the API.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Resource } from '@medplum/fhirtypes';
import { callerFor } from '../../src/auth/access/policy.ts';
import { withPeerDefaults } from '../../src/config/peers.ts';
import { peerReads } from '../../src/sync/outbox/deliverers.ts';
import type { AuthTestServer } from '../auth/support/auth-server.ts';
import { startAuthTestServer } from '../auth/support/auth-server.ts';
import { ADMIN, HOSPITAL, NPI, agencyNpi } from '../workflow/support/broadcast.ts';

describe('peerReads', () => {
  let server: AuthTestServer;

  beforeAll(async () => {
    server = await startAuthTestServer({ principals: [HOSPITAL, ADMIN] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("follows the agency's Organizations as they are at each delivery, not as they were at the first", async () => {
    const peer = withPeerDefaults({ name: 'agency-0', kind: 'agency', organization: { system: NPI, value: agencyNpi(0) }, fhirBaseUrl: 'http://127.0.0.1:1/agency-0', push: { resourceTypes: ['Patient'] } });
    const reader = peerReads(server.store)(peer);
    // Each read as its own delivery would make it.
    const read = (type: string, id: string): Promise<Resource | undefined> => reader()(type, id);
    const hospital = server.store.forCaller(callerFor(HOSPITAL));
    const organization = (): Resource => ({ resourceType: 'Organization', identifier: [{ system: NPI, value: agencyNpi(0) }], name: 'Charm City Home Health' }) as Resource;
    const referredThrough = async (organizationId: string): Promise<string> => {
      const patient = (await hospital.create({ resourceType: 'Patient', active: true })).version.id;
      await hospital.create({ resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${patient}` }, owner: { reference: `Organization/${organizationId}` } } as Resource);
      return patient;
    };

    const first = await referredThrough((await hospital.create(organization())).version.id);
    const unreferred = (await hospital.create({ resourceType: 'Patient', active: true })).version.id;
    expect(await read('Patient', first)).toMatchObject({ id: first });
    expect(await read('Patient', unreferred)).toBeUndefined();

    // A second copy of the agency's Organization, written after those deliveries.
    const copy = (await server.store.forCaller(callerFor(ADMIN)).create(organization())).version.id;
    const second = await referredThrough(copy);
    expect(await read('Patient', second)).toMatchObject({ id: second });
    expect(await read('Patient', unreferred)).toBeUndefined();
  });
});
