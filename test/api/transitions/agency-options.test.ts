// GET /transitions/{id}/agency-options and POST/GET /transitions/{id}/agency-choice over HTTP with
// real tokens, on a fixed clock: agencies describe their own service lines (HealthcareService), the
// discharging hospital sees them ranked against the patient, and its choice is recorded as a Provenance.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, HealthcareService, OperationOutcome, Organization, Provenance } from '@medplum/fhirtypes';
import type { AgencyChoice, AgencyOptions } from '../../../src/api/transitions/agency-options.ts';
import { SYSTEMS } from '../../../src/model/terminology.ts';
import type { HomeHealthService } from '../../../src/model/transition-plan.ts';
import { validateFhirResource } from '../../../src/validation/fhir-validator.ts';
import { ACCEPTED_PAYER_URL } from '../../../src/workflow/agency-matching.ts';
import type { AuthTestServer } from '../../auth/support/auth-server.ts';
import { startAuthTestServer } from '../../auth/support/auth-server.ts';
import { readPlan } from '../../support/fixtures.ts';
import { ADMIN, AGENCY_A, AGENCY_B, AGENCY_C, HOSPITAL, OTHER_HOSPITAL, PARTIES } from './support.ts';

const NOW = new Date('2026-12-01T14:00:00Z');
const NPI = 'http://hl7.org/fhir/sid/us-npi';
const PAYER = { system: 'https://payers.example/fhir/sid/payer-id', value: 'CCHP-MD-2210' };

function serviceLine(organization: string, services: HomeHealthService[], options: { zip?: string; payer?: string; notAvailable?: HealthcareService['notAvailable'] } = {}): HealthcareService {
  return {
    resourceType: 'HealthcareService',
    active: true,
    providedBy: { reference: organization },
    contained: [{ resourceType: 'Location', id: 'area', physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: 'area', display: 'Area' }] }, address: { postalCode: options.zip ?? '21205' } }],
    coverageArea: [{ reference: '#area' }],
    type: services.map((code) => ({ coding: [{ system: SYSTEMS.homeHealthService, code }] })),
    extension: [{ url: ACCEPTED_PAYER_URL, valueIdentifier: { system: PAYER.system, value: options.payer ?? PAYER.value } }],
    ...(options.notAvailable ? { notAvailable: options.notAvailable } : {}),
  };
}

describe('agency options and the planner\'s choice', () => {
  let server: AuthTestServer;
  const plan = readPlan('broadcast-three-agencies.json');
  const requested = [...new Set(plan.referrals?.flatMap((r) => r.services))];
  let id: string;
  const orgs: Record<string, string> = {};

  beforeAll(async () => {
    server = await startAuthTestServer({ principals: PARTIES, clock: () => NOW });
    const pushed = await server.http(HOSPITAL)('POST', '/transitions', plan, { 'content-type': 'application/json' });
    expect(pushed.status).toBe(201);
    ({ id } = pushed.body as { id: string });
    for (const agency of [AGENCY_A, AGENCY_B, AGENCY_C]) {
      const found = (await server.as(HOSPITAL)('GET', `Organization?identifier=${NPI}|${agency.organization.value}`)).body as Bundle<Organization>;
      orgs[agency.clientId] = `Organization/${found.entry?.[0]?.resource?.id ?? ''}`;
    }
  });
  afterAll(() => server.stop());

  it('an agency writes its own service lines only; a hospital writes none', async () => {
    const a = orgs[AGENCY_A.clientId] as string;
    expect((await server.as(AGENCY_A)('POST', 'HealthcareService', serviceLine(a, requested))).status).toBe(201);
    expect((await server.as(AGENCY_B)('POST', 'HealthcareService', serviceLine(a, requested, { payer: 'NONE' }))).status).toBe(403);
    expect((await server.as(HOSPITAL)('POST', 'HealthcareService', serviceLine(a, requested))).status).toBe(403);
    expect((await server.as(AGENCY_B)('POST', 'HealthcareService', serviceLine(orgs[AGENCY_B.clientId] as string, requested, { payer: 'MEDICARE' }))).status).toBe(201);
    const full = serviceLine(orgs[AGENCY_C.clientId] as string, requested, { notAvailable: [{ description: 'no aide capacity until mid-December', during: { start: '2026-11-25T00:00:00Z', end: '2026-12-15T00:00:00Z' } }] });
    expect((await server.as(AGENCY_C)('POST', 'HealthcareService', full)).status).toBe(201);
    // Everyone reads the directory.
    const listed = (await server.as(AGENCY_B)('GET', 'HealthcareService?active=true')).body as Bundle;
    expect(listed.entry).toHaveLength(3);
  });

  it('the hospital sees the agencies ranked: the one that can take the patient first, the others with what is missing', async () => {
    const answer = await server.http(HOSPITAL)('GET', `/transitions/${id}/agency-options`);
    expect(answer.status).toBe(200);
    const body = answer.body as AgencyOptions;
    expect(body.at).toBe(NOW.toISOString());
    expect(body.criteria).toEqual({ services: requested, zip: '21205', payers: [{ ...PAYER, display: 'Chesapeake Community Health Plan' }] });
    expect(body.options.map((o) => [o.rank, o.organization, o.eligible])).toEqual([
      [1, orgs[AGENCY_A.clientId], true],
      // As many criteria missing each: by name (Chesapeake, Inner Harbor).
      [2, orgs[AGENCY_C.clientId], false],
      [3, orgs[AGENCY_B.clientId], false],
    ]);
    expect(new Set(body.options[2]?.missing.map((m) => m.criterion))).toEqual(new Set(['payer']));
    expect(body.options[1]?.missing[0]?.text).toContain('no aide capacity until mid-December');
    expect(body.options[0]?.matched.some((m) => m.criterion === 'service-area' && m.text.includes('21205'))).toBe(true);
  });

  it('`service` asks for other services than the referrals\'', async () => {
    const answer = await server.http(HOSPITAL)('GET', `/transitions/${id}/agency-options?service=speech-language-pathology`);
    expect(answer.status).toBe(200);
    expect((answer.body as AgencyOptions).options).toEqual([]);
    expect((await server.http(HOSPITAL)('GET', `/transitions/${id}/agency-options?service=massage`)).status).toBe(400);
    // Hundreds of unknown values: the answer names a few, cut short, not all of them back.
    const many = Array.from({ length: 120 }, (_, i) => `unknown-service-${i}-${'x'.repeat(50)}`).join(',');
    const refused = await server.http(HOSPITAL)('GET', `/transitions/${id}/agency-options?service=${many}`);
    expect(refused.status).toBe(400);
    const text = (refused.body as OperationOutcome).issue?.[0]?.details?.text ?? '';
    expect(text).toMatch(/^Unknown service unknown-service-0-x+…, unknown-service-1-x+…, unknown-service-2-x+… and 117 more: one of /);
    expect(text.length).toBeLessThan(400);
  });

  it('only the discharging hospital and admins list options', async () => {
    expect((await server.http(AGENCY_A)('GET', `/transitions/${id}/agency-options`)).status).toBe(403);
    expect((await server.http(OTHER_HOSPITAL)('GET', `/transitions/${id}/agency-options`)).status).toBe(404);
    expect((await server.http(ADMIN)('GET', `/transitions/${id}/agency-options`)).status).toBe(200);
  });

  it('records the choice with who, when and the options shown, and reads it back', async () => {
    const shown = [orgs[AGENCY_A.clientId], orgs[AGENCY_B.clientId], orgs[AGENCY_C.clientId]] as string[];
    const post = (body: unknown, who = HOSPITAL) => server.http(who)('POST', `/transitions/${id}/agency-choice`, body, { 'content-type': 'application/json' });
    expect((await post({ chosen: shown[0], shown: shown.slice(1) })).status).toBe(400);
    expect((await post({ chosen: 'Organization/nope', shown: ['Organization/nope'] })).status).toBe(400);
    expect((await post({ chosen: shown[0], shown }, AGENCY_A)).status).toBe(403);
    const recorded = await post({ chosen: shown[1], shown, reason: 'patient preference: used this agency before' });
    expect(recorded.status).toBe(201);
    const choice = recorded.body as AgencyChoice;
    expect(choice).toMatchObject({ recorded: NOW.toISOString(), chosen: { reference: shown[1], display: 'Inner Harbor Visiting Nurses' }, reason: 'patient preference: used this agency before' });
    expect(choice.shown.map((s) => s.reference)).toEqual(shown);
    expect(choice.by[0]?.reference).toMatch(/^Practitioner\//);

    const back = await server.http(HOSPITAL)('GET', `/transitions/${id}/agency-choice`);
    expect(back.status).toBe(200);
    expect((back.body as { choices: AgencyChoice[] }).choices).toEqual([choice]);
    expect((await server.http(OTHER_HOSPITAL)('GET', `/transitions/${id}/agency-choice`)).status).toBe(404);
    // The Provenance itself: the audit trail, admins only.
    const provenance = (await server.as(ADMIN)('GET', choice.provenance)).body as Provenance;
    expect(provenance.target).toEqual([{ reference: `CarePlan/${id}` }]);
    expect(validateFhirResource(provenance).filter((i) => i.severity === 'error')).toEqual([]);
    expect((await server.as(HOSPITAL)('GET', choice.provenance)).status).toBe(403);
  });

  describe('refuses a choice its own record could not hold, recording nothing', () => {
    const post = (body: unknown) => server.http(HOSPITAL)('POST', `/transitions/${id}/agency-choice`, body, { 'content-type': 'application/json' });
    const recorded = async (): Promise<number> => ((await server.http(HOSPITAL)('GET', `/transitions/${id}/agency-choice`)).body as { choices: AgencyChoice[] }).choices.length;
    const organization = async (name: RegExp): Promise<string> => {
      const found = ((await server.as(ADMIN)('GET', 'Organization?_count=100')).body as Bundle<Organization>).entry?.map((e) => e.resource as Organization).find((o) => name.test(o.name ?? ''));
      expect(found).toBeDefined();
      return `Organization/${found?.id ?? ''}`;
    };

    it.each([
      ['NUL', '\u0000'],
      ['control characters', 'a\u0001\u001fb'],
      ['only blanks', '   '],
    ])('a reason of %s: 400 naming reason', async (_name, reason) => {
      const before = await recorded();
      const shown = [orgs[AGENCY_A.clientId]] as string[];
      const answer = await post({ chosen: shown[0], shown, reason });
      expect(answer.status).toBe(400);
      expect((answer.body as OperationOutcome).issue?.[0]).toMatchObject({ severity: 'error', expression: ['reason'] });
      expect(await recorded()).toBe(before);
    });

    // The options are the agencies of the directory (the providers of active service lines), which
    // agency-options ranks; the hospital itself or a payer is no agency a patient can be sent to.
    it.each([
      ['the hospital itself', /Harbor Point/],
      ['the payer', /Health Plan/],
    ])('%s as the chosen agency: 400 naming chosen', async (_name, name) => {
      const before = await recorded();
      const chosen = await organization(name);
      const answer = await post({ chosen, shown: [chosen, orgs[AGENCY_A.clientId]] });
      expect(answer.status).toBe(400);
      expect((answer.body as OperationOutcome).issue?.[0]).toMatchObject({ severity: 'error', expression: ['chosen'] });
      expect(await recorded()).toBe(before);
    });
  });
});
