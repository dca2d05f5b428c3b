// Red flags on two carebridge instances sharing one PostgreSQL schema: an agency reports readings
// of one patient at the same instant through both, each crossing the SpO2 threshold. The patient's
// red-flag lock (an advisory lock taken at the Observation's write, held to commit) makes the
// writers take turns, so the episode has ONE urgent Task, not one per reading.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, CarePlan, Observation, Task } from '@medplum/fhirtypes';
import { VITAL_SIGNS } from '../../src/model/vital-signs.ts';
import { RED_FLAG_SYSTEM } from '../../src/workflow/red-flags.ts';
import type { TestServer } from '../api/support/server.ts';
import { fhirFetch, startPostgresServer, uniqueSchema } from '../api/support/server.ts';
import type { TestClient } from '../support/auth.ts';
import { makeClient, tokenFor } from '../support/auth.ts';
import { readPlan } from '../support/fixtures.ts';

const READINGS = 12;
const NPI = 'http://hl7.org/fhir/sid/us-npi';
let a: TestServer & { schema: string };
let b: TestServer & { schema: string };
let hospital: TestClient;
let agency: TestClient;

beforeAll(async () => {
  // The heart-failure plan: Riverside discharges, Buckeye Home Health is referred.
  hospital = await makeClient('hospital', { system: NPI, value: '1543829067' }, ['system/*.cruds']);
  agency = await makeClient('agency', { system: NPI, value: '1188453025' }, ['system/*.cruds']);
  const schema = uniqueSchema('carebridge_red_flags');
  a = await startPostgresServer(schema, { clients: [hospital, agency] });
  b = await startPostgresServer(schema, { clients: [hospital, agency], shared: true });
});

afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

const spo2 = (patient: string, value: number, minute: number): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: VITAL_SIGNS['oxygen-saturation'].loinc }] },
  subject: { reference: patient },
  effectiveDateTime: `2026-12-03T08:${String(minute).padStart(2, '0')}:00-05:00`,
  valueQuantity: { value, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
});

describe('red flags on two instances of one PostgreSQL store', () => {
  it(`${READINGS} readings crossing one threshold at the same instant open one urgent Task`, async () => {
    const hospitalToken = await tokenFor(a, hospital);
    const pushed = await fetch(`${a.url}/transitions`, { method: 'POST', headers: { authorization: `Bearer ${hospitalToken}`, 'content-type': 'application/json' }, body: JSON.stringify(readPlan('heart-failure-home-health.json')) });
    expect(pushed.status).toBe(201);
    const { id } = (await pushed.json()) as { id: string };
    const patient = (await fhirFetch<CarePlan>(a, `CarePlan/${id}`, { token: hospitalToken })).body.subject?.reference as string;
    const tokens = [await tokenFor(a, agency), await tokenFor(b, agency)];
    const answers = await Promise.all(Array.from({ length: READINGS }, (_, i) => fhirFetch<Observation>(i % 2 ? b : a, 'Observation', { method: 'POST', json: spo2(patient, 85 + (i % 4), i), token: tokens[i % 2] })));
    expect(answers.map((x) => x.status)).toEqual(Array<number>(READINGS).fill(201));
    const found = await fhirFetch<Bundle>(a, `Task?patient=${patient}&code=${encodeURIComponent(`${RED_FLAG_SYSTEM}|oxygen-saturation-low`)}`, { token: hospitalToken });
    const tasks = (found.body.entry ?? []).map((e) => e.resource as Task);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ status: 'requested', priority: 'urgent' });
    // It names the reading that opened the episode, one of those just stored.
    expect(answers.map((x) => `Observation/${x.body.id}`)).toContain(tasks[0]?.focus?.reference);
  });
});
