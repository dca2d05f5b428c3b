// Red flags over HTTP with real tokens: an agency reports a caregiver's readings; one crossing opens
// an urgent Task for the care coordinator's organization (queued in the outbox for its EHR peer),
// further crossings in the same episode add nothing, and a new episode opens after the Task is done.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, Observation, Task } from '@medplum/fhirtypes';
import { withPeerDefaults } from '../../src/config/peers.ts';
import { peerRouter } from '../../src/sync/outbox/peer-router.ts';
import { VITAL_SIGNS } from '../../src/model/vital-signs.ts';
import { RED_FLAG_SYSTEM } from '../../src/workflow/red-flags.ts';
import type { AuthTestServer } from '../auth/support/auth-server.ts';
import { startAuthTestServer } from '../auth/support/auth-server.ts';
import { readPlan } from '../support/fixtures.ts';
import { party } from '../api/transitions/support.ts';

const HOSPITAL = party('riverside', 'hospital', '1543829067');
const AGENCY = party('buckeye', 'agency', '1188453025');
const NPI = 'http://hl7.org/fhir/sid/us-npi';
const peers = [
  withPeerDefaults({ name: 'riverside-ehr', kind: 'ehr', organization: { system: NPI, value: '1543829067' }, fhirBaseUrl: 'http://127.0.0.1:1/ehr', push: { resourceTypes: ['Task'] } }),
  withPeerDefaults({ name: 'buckeye', kind: 'agency', organization: { system: NPI, value: '1188453025' }, fhirBaseUrl: 'http://127.0.0.1:1/agency', push: { resourceTypes: ['Task'] } }),
];

let server: AuthTestServer;
let patient: string;
let seen = 0;

const weight = (lb: number, at: string): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] },
  subject: { reference: `Patient/${patient}` },
  effectiveDateTime: at,
  valueQuantity: { value: lb, unit: 'lb', system: 'http://unitsofmeasure.org', code: '[lb_av]' },
});

async function redFlagTasks(): Promise<Task[]> {
  const found = (await server.as(HOSPITAL)('GET', `Task?patient=Patient/${patient}&code=${RED_FLAG_SYSTEM}|weight-gain-day`)).body as Bundle<Task>;
  return (found.entry ?? []).map((e) => e.resource as Task);
}

beforeAll(async () => {
  server = await startAuthTestServer({ principals: [HOSPITAL, AGENCY] });
  server.store.configure({ outboxRouter: peerRouter(peers) });
  const pushed = await server.http(HOSPITAL)('POST', '/transitions', readPlan('heart-failure-home-health.json'), { 'content-type': 'application/json' });
  expect(pushed.status).toBe(201);
  patient = ((await server.as(HOSPITAL)('GET', `CarePlan/${(pushed.body as { id: string }).id}`)).body as { subject: { reference: string } }).subject.reference.replace('Patient/', '');
  seen = (await server.store.listDeliveries({ afterId: 0, limit: 10_000 })).at(-1)?.id ?? 0;
});
afterAll(() => server?.stop());

describe('red flags from caregiver reports', () => {
  it('a weight gain over 2 lb in a day opens one urgent Task for the coordinator, queued for its organization', async () => {
    expect((await server.as(AGENCY)('POST', 'Observation', weight(176, '2026-12-02T08:00:00-05:00'))).status).toBe(201);
    expect(await redFlagTasks()).toEqual([]);
    expect((await server.as(AGENCY)('POST', 'Observation', weight(178.5, '2026-12-03T08:00:00-05:00'))).status).toBe(201);
    const [task, ...more] = await redFlagTasks();
    expect(more).toEqual([]);
    expect(task).toMatchObject({ status: 'requested', priority: 'urgent', authoredOn: '2026-12-03T13:00:00.000Z', description: expect.stringContaining('up 2.5 [lb_av] in a day') });
    expect(task?.owner?.reference).toMatch(/^Organization\//);
    const rows = await server.store.listDeliveries({ afterId: seen, limit: 10_000 });
    seen = rows.at(-1)?.id ?? seen;
    expect(rows.filter((r) => r.resourceType === 'Task' && r.resourceId === task?.id).map((r) => r.destination)).toEqual(['riverside-ehr']);
    // The agency does not see the coordinator's Task.
    expect((await server.as(AGENCY)('GET', `Task/${task?.id}`)).status).toBe(404);
  });

  it('further crossings in the same episode add nothing; after the Task is completed, the next crossing opens a new one', async () => {
    expect((await server.as(AGENCY)('POST', 'Observation', weight(179.5, '2026-12-03T20:00:00-05:00'))).status).toBe(201);
    const [open] = await redFlagTasks();
    expect(await redFlagTasks()).toHaveLength(1);
    const started = await server.as(HOSPITAL)('PUT', `Task/${open?.id}`, { ...open, status: 'in-progress' });
    expect(started.status).toBe(200);
    const done = await server.as(HOSPITAL)('PUT', `Task/${open?.id}`, { ...(started.body as Task), status: 'completed' });
    expect(done.status).toBe(200);
    expect((await server.as(AGENCY)('POST', 'Observation', weight(182, '2026-12-04T08:00:00-05:00'))).status).toBe(201);
    const all = await redFlagTasks();
    expect(all.map((t) => t.status).sort()).toEqual(['completed', 'requested']);
  });

  it('a reading created in the same transaction Bundle (urn:uuid) is the Task\'s focus and reason, by its stored id', async () => {
    const spo2: Observation = {
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: VITAL_SIGNS['oxygen-saturation'].loinc }] },
      subject: { reference: `Patient/${patient}` },
      effectiveDateTime: '2026-12-05T08:00:00-05:00',
      valueQuantity: { value: 86, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
    };
    const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: [{ fullUrl: 'urn:uuid:6f1f3c55-2b8e-4a57-9d7e-3f0c1f6a2b10', resource: spo2, request: { method: 'POST', url: 'Observation' } }] };
    const posted = await server.as(AGENCY)('POST', '', bundle);
    expect(posted.status).toBe(200);
    const stored = /Observation\/([^/]+)\/_history/.exec((posted.body as Bundle).entry?.[0]?.response?.location ?? '')?.[1];
    expect(stored).toBeDefined();
    const found = (await server.as(HOSPITAL)('GET', `Task?patient=Patient/${patient}&code=${RED_FLAG_SYSTEM}|oxygen-saturation-low`)).body as Bundle<Task>;
    const [task, ...more] = (found.entry ?? []).map((e) => e.resource as Task);
    expect(more).toEqual([]);
    expect(task?.focus?.reference).toBe(`Observation/${stored}`);
    expect(task?.reasonReference?.reference).toBe(`Observation/${stored}`);
  });
});
