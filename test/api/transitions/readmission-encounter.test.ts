// An admission pushed as an Encounter (not only an admit notification) is linked to the transition
// as a readmission when it falls within the 30-day window after the discharge.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Encounter } from '@medplum/fhirtypes';
import { SYSTEMS } from '../../../src/model/terminology.ts';
import type { Timeline } from '../../../src/api/transitions/timeline.ts';
import type { AuthTestServer } from '../../auth/support/auth-server.ts';
import { startAuthTestServer } from '../../auth/support/auth-server.ts';
import { readPlan } from '../../support/fixtures.ts';
import { HOSPITAL, PARTIES } from './support.ts';

describe('readmission from a pushed Encounter', () => {
  let server: AuthTestServer;
  const plan = readPlan('broadcast-three-agencies.json'); // discharged 2026-11-30T16:20:00-05:00
  let id: string;
  let patient: string;

  beforeAll(async () => {
    server = await startAuthTestServer({ principals: PARTIES, now: () => Date.parse('2026-12-20T12:00:00Z') });
    id = ((await server.http(HOSPITAL)('POST', '/transitions', plan, { 'content-type': 'application/json' })).body as { id: string }).id;
    patient = ((await server.as(HOSPITAL)('GET', `CarePlan/${id}`)).body as { subject: { reference: string } }).subject.reference;
  });
  afterAll(() => server.stop());

  const admit = async (start: string, code = 'IMP'): Promise<string> => {
    const encounter: Encounter = { resourceType: 'Encounter', status: 'in-progress', class: { system: SYSTEMS.v3ActCode, code }, subject: { reference: patient }, period: { start } };
    const created = await server.as(HOSPITAL)('POST', 'Encounter', encounter);
    expect(created.status).toBe(201);
    return `Encounter/${created.body?.id}`;
  };
  const readmission = async (): Promise<unknown> => ((await server.http(HOSPITAL)('GET', `/transitions/${id}/timeline`)).body as Timeline).readmission;

  it('ignores an ambulatory visit and an admission before the discharge', async () => {
    await admit('2026-12-03T09:00:00-05:00', 'AMB');
    await admit('2026-11-30T10:00:00-05:00');
    expect(await readmission()).toBeNull();
  });

  it('links an inpatient admission within 30 days, on the timeline and the transition state', async () => {
    const encounter = await admit('2026-12-10T22:15:00-05:00');
    expect(await readmission()).toEqual({ encounter, admittedOn: '2026-12-10', daysAfterDischarge: 10 });
    expect(((await server.http(HOSPITAL)('GET', `/transitions/${id}`)).body as { readmission: unknown }).readmission).toEqual({ encounter, admittedOn: '2026-12-10', daysAfterDischarge: 10 });
  });

  it('does not link an admission on the 31st day', async () => {
    await admit('2026-12-30T08:00:00-05:00');
    expect(await readmission()).toMatchObject({ daysAfterDischarge: 10 });
  });
});
