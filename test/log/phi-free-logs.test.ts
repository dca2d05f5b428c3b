// A whole transition through the API — push, pull, accept, report back, and the errors parties
// make — with every log line captured at debug level: none may carry the patient's name, birth
// date, MRN or other identifier values, address or phone numbers.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, Resource, Task } from '@medplum/fhirtypes';
import type { ClientRole, Principal } from '../../src/auth/principal.ts';
import { parseScopes } from '../../src/auth/scopes.ts';
import type { TransitionPlan } from '../../src/model/transition-plan.ts';
import type { AuthTestServer } from '../auth/support/auth-server.ts';
import { startAuthTestServer } from '../auth/support/auth-server.ts';
import { readJson, readPlan } from '../support/fixtures.ts';

const NPI = 'http://hl7.org/fhir/sid/us-npi';
const as = (role: ClientRole, npi: string): Principal => ({ clientId: `client-${npi}`, clientName: npi, role, organization: { system: NPI, value: npi }, scopes: parseScopes('system/*.cruds').scopes });
const HOSPITAL = as('hospital', '1599024316');
const AGENCY = as('agency', '1266190432');
const OTHER_AGENCY = as('agency', '1877352900');

/** Every value from the plan that identifies the patient or the caregiver. */
function phiOf(plan: TransitionPlan): string[] {
  const p = plan.patient as unknown as { name: { family: string; given: string[] }; birthDate: string; identifiers: { value: string }[]; telecom?: { value: string }[]; address?: { line?: string[]; postalCode?: string }[] };
  return [
    p.name.family,
    ...p.name.given,
    p.birthDate,
    ...p.identifiers.map((i) => i.value),
    ...(p.telecom ?? []).map((t) => t.value),
    ...(p.address ?? []).flatMap((a) => [...(a.line ?? []), a.postalCode ?? '']),
  ].filter((v) => v.length >= 4);
}

describe('logs of a whole transition carry no patient data', () => {
  let server: AuthTestServer;
  const phi = phiOf(readPlan('broadcast-three-agencies.json'));

  beforeAll(async () => {
    server = await startAuthTestServer({ principals: [HOSPITAL, AGENCY, OTHER_AGENCY], logLevel: 'debug' });
    const hospital = server.as(HOSPITAL);
    const agency = server.as(AGENCY);
    // Push.
    expect((await hospital('POST', '', readJson('golden/broadcast-three-agencies.bundle.json'))).status).toBe(200);
    // Pull.
    const patients = await agency('GET', 'Patient');
    const patientId = ((patients.body as Bundle).entry?.[0]?.resource as Resource).id as string;
    expect((await agency('GET', `CarePlan?patient=Patient/${patientId}&_include=CarePlan:care-team`)).status).toBe(200);
    const referral = ((await agency('GET', 'Task?code=fulfill')).body as Bundle).entry?.[0]?.resource as Task;
    // Accept, then report back.
    expect((await agency('PUT', `Task/${referral.id}`, { ...referral, status: 'accepted' }, { 'if-match': `W/"${referral.meta?.versionId}"` })).status).toBe(200);
    const observation = { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: `Patient/${patientId}` }, valueQuantity: { value: 88, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' } };
    expect((await agency('POST', 'Observation', observation)).status).toBe(201);
    // The errors parties make, with patient data in what they send.
    const [family, given] = phi;
    expect((await agency('PUT', `Task/${referral.id}`, { ...referral, status: 'accepted', description: `${given} ${family}` })).status).toBe(403);
    expect((await hospital('POST', 'Patient', { resourceType: 'Patient', name: [{ family, given: [given] }], birthDate: `${phi[3]}T99` })).status).toBe(422);
    expect((await hospital('POST', 'Patient', `{"resourceType":"Patient","name":[{"family":"${family}"`)).status).toBe(400);
    expect((await hospital('GET', `Patient?identifier=${phi[4]}&name=${family}&birthdate=${phi[3]}`)).status).toBe(200);
    expect((await server.as(OTHER_AGENCY)('GET', `Observation?subject=Patient/${patientId}`)).status).toBe(200);
    expect((await hospital('POST', 'Patient', { resourceType: 'Observation', subject: { display: `${given} ${family}` } })).status).toBe(400);
    expect((await agency('GET', `Patient/${patientId}/_history`)).status).toBe(200);
  }, 60_000);

  afterAll(async () => {
    await server.stop();
  });

  it('logged the exchanges (a request line each)', () => {
    expect(server.logs.filter((line) => line.includes('"message":"request"')).length).toBeGreaterThanOrEqual(12);
  });

  it.each(['name', 'birth date', 'identifier', 'phone', 'address'])('no log line holds the patient\'s %s', (kind) => {
    const values = phi.filter((v) => (kind === 'name' ? /^[A-Za-z]+$/.test(v) : kind === 'birth date' ? /^\d{4}-\d{2}-\d{2}$/.test(v) : kind === 'phone' ? /^\+?[\d-]{10,}$/.test(v) : kind === 'address' ? /\s/.test(v) || /^\d{5}$/.test(v) : /^[A-Z0-9]{6,}$/.test(v)));
    expect(values.length).toBeGreaterThan(0);
    const leaks = server.logs.filter((line) => values.some((v) => line.includes(v)));
    expect(leaks).toEqual([]);
  });
});
