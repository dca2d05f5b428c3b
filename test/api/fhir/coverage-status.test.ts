// GET /fhir/Patient/{id}/$coverage-status and POST /fhir/Patient/{id}/$check-eligibility over HTTP,
// with real tokens, a real SQLite file and a simulated payer: what a case manager sees before and
// after asking the payer, who may ask, and what a payer's failure answers (and leaves unstored).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, CapabilityStatement, CoverageEligibilityRequest, CoverageEligibilityResponse, OperationOutcome, Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { withPeerDefaults } from '../../../src/config/peers.ts';
import { PayerDirectory } from '../../../src/sync/connectors/payers.ts';
import type { SimulatedPayer } from '../../../src/sync/simulated/payer-peer.ts';
import { startSimulatedPayer } from '../../../src/sync/simulated/payer-peer.ts';
import type { AuthTestServer } from '../../auth/support/auth-server.ts';
import { startAuthTestServer } from '../../auth/support/auth-server.ts';
import { readPlan } from '../../support/fixtures.ts';
import { ADMIN, AGENCY_A, HOSPITAL, OTHER_HOSPITAL, party } from '../transitions/support.ts';

const PAYER_ID = 'https://payers.example/fhir/sid/payer-id';
// The plan's care coordinator works for the payer: its case managers see the patient (care-team grant).
const CASE_MANAGER = party('cchp-case-management', 'case-management', 'CCHP-MD-2210', PAYER_ID);
const OTHER_CASE_MANAGER = party('other-case-management', 'case-management', 'OTHER-PLAN', PAYER_ID);
// An agency no referral of the plan names.
const OTHER_AGENCY = party('elsewhere-home-health', 'agency', '1999999992');
const MEMBER_ID = 'CCH-77104928315';
// Two days after the plan's discharge (2026-11-30).
const NOW = new Date('2026-12-02T15:00:00Z');

const param = (p: Parameters, name: string): ParametersParameter | undefined => p.parameter?.find((x) => x.name === name);
const findings = (p: Parameters): { code?: string; severity?: string; text?: string }[] =>
  (p.parameter ?? []).filter((x) => x.name === 'finding').map((f) => Object.fromEntries((f.part ?? []).map((part) => [part.name, part.valueCode ?? part.valueString ?? part.valueReference?.reference])));

describe('coverage status and eligibility', () => {
  let server: AuthTestServer;
  let payer: SimulatedPayer;
  let patientId: string;

  beforeAll(async () => {
    // The payer's answers a minute apart, all on the day NOW is in: the freshest is the last one.
    let answers = 0;
    payer = await startSimulatedPayer({ clock: () => new Date(NOW.getTime() - 3600_000 + (answers += 1) * 60_000) });
    const peer = withPeerDefaults({ name: 'cchp', kind: 'payer', organization: { system: PAYER_ID, value: 'CCHP-MD-2210' }, fhirBaseUrl: payer.baseUrl, limits: { timeoutMs: 500 } });
    server = await startAuthTestServer({ principals: [HOSPITAL, OTHER_HOSPITAL, AGENCY_A, OTHER_AGENCY, ADMIN, CASE_MANAGER, OTHER_CASE_MANAGER], payers: new PayerDirectory([peer]), clock: () => NOW });
    const pushed = await server.http(HOSPITAL)('POST', '/transitions', readPlan('broadcast-three-agencies.json'));
    expect(pushed.status).toBe(201);
    const patients = (await server.as(ADMIN)('GET', 'Patient?identifier=https://harborpoint-med.example/fhir/sid/mrn|HP2291047')).body as Bundle;
    patientId = patients.entry?.[0]?.resource?.id as string;
    expect(patientId).toBeDefined();
  });
  afterAll(async () => {
    await server.stop();
    await payer.close();
  });

  const status = async (who = CASE_MANAGER): Promise<{ status: number; body: Parameters }> => {
    const answer = await server.as(who)('GET', `Patient/${patientId}/$coverage-status`);
    return { status: answer.status, body: answer.body as Parameters };
  };
  const check = async (who = CASE_MANAGER): Promise<{ status: number; body: CoverageEligibilityResponse; outcome: OperationOutcome }> => {
    const answer = await server.as(who)('POST', `Patient/${patientId}/$check-eligibility`);
    return { status: answer.status, body: answer.body as CoverageEligibilityResponse, outcome: answer.body as OperationOutcome };
  };
  const storedResponses = async (): Promise<number> => ((await server.as(ADMIN)('GET', `CoverageEligibilityResponse?patient=Patient/${patientId}&_summary=count`)).body as Bundle).total ?? -1;

  it('before any eligibility check: covered on the discharge day and through the window, primary, eligibility not checked', async () => {
    const { status: code, body } = await status();
    expect(code).toBe(200);
    expect(body.resourceType).toBe('Parameters');
    expect(param(body, 'discharge-date')?.valueDate).toBe('2026-11-30');
    expect(param(body, 'window')?.valuePeriod).toEqual({ start: '2026-11-30', end: '2026-12-29' });
    expect(param(body, 'covered-on-discharge')?.valueBoolean).toBe(true);
    expect(param(body, 'covered-through-window')?.valueBoolean).toBe(true);
    expect(param(body, 'payer')?.valueReference?.display).toBe('Chesapeake Community Health Plan');
    expect(param(body, 'plan')?.valueString).toBe('Chesapeake Community HealthChoice');
    expect(param(body, 'member-id')?.valueString).toBe(MEMBER_ID);
    expect(param(body, 'primary')?.valueBoolean).toBe(true);
    expect(findings(body).map((f) => f.code)).toEqual(['covered-on-discharge', 'covered-through-window', 'primary', 'eligibility-not-checked']);
  });

  it('tenancy: the hospital, an admin and a referred agency see it; another case manager or hospital gets 404, as for a patient that does not exist', async () => {
    for (const who of [HOSPITAL, ADMIN, AGENCY_A]) {
      expect((await status(who)).status).toBe(200);
    }
    for (const who of [OTHER_CASE_MANAGER, OTHER_HOSPITAL]) {
      expect((await status(who)).status).toBe(404);
      expect((await check(who)).status).toBe(404);
    }
    expect((await server.as(CASE_MANAGER)('GET', 'Patient/does-not-exist/$coverage-status')).status).toBe(404);
  });

  it('an agency may not ask the payer: 403', async () => {
    expect((await check(AGENCY_A)).status).toBe(403);
  });

  it('$check-eligibility asks the payer about the primary coverage and stores request and answer, linked', async () => {
    payer.members.set(MEMBER_ID, { inforce: true, authorizationRequired: true });
    const { status: code, body } = await check();
    expect(code).toBe(200);
    expect(body).toMatchObject({ resourceType: 'CoverageEligibilityResponse', outcome: 'complete', patient: { reference: `Patient/${patientId}` }, insurance: [{ inforce: true }] });
    const sent = payer.received.at(-1) as CoverageEligibilityRequest;
    expect(sent.purpose).toEqual(['validation', 'benefits']);
    expect(sent.contained?.find((r) => r.resourceType === 'Coverage')).toMatchObject({ identifier: expect.arrayContaining([expect.objectContaining({ value: MEMBER_ID })]) });
    const request = (await server.as(ADMIN)('GET', body.request?.reference as string)).body as CoverageEligibilityRequest;
    expect(request).toMatchObject({ resourceType: 'CoverageEligibilityRequest', patient: { reference: `Patient/${patientId}` }, insurance: [{ coverage: { reference: body.insurance?.[0]?.coverage.reference } }] });
    expect(request.identifier?.[0]?.value).toBe(body.identifier?.find((i) => i.system === request.identifier?.[0]?.system)?.value);

    const after = (await status()).body;
    expect(param(after, 'eligibility')?.valueReference?.reference).toBe(`CoverageEligibilityResponse/${body.id as string}`);
    expect(param(after, 'eligibility-age')?.valueDuration).toMatchObject({ value: 0, code: 'd' });
    expect(param(after, 'home-health-covered')?.valueBoolean).toBe(true);
    expect(param(after, 'prior-authorization-required')?.valueBoolean).toBe(true);
    expect(findings(after).filter((f) => f.severity !== 'information').map((f) => f.code)).toEqual(['prior-auth-missing']);
  });

  it('a referred agency reads the payer\'s answer too (in force, home health, prior authorization); one not referred does not', async () => {
    const asAgency = (await status(AGENCY_A)).body;
    const eligibility = param(asAgency, 'eligibility')?.valueReference?.reference as string;
    expect(eligibility).toMatch(/^CoverageEligibilityResponse\//);
    expect(param(asAgency, 'home-health-covered')?.valueBoolean).toBe(true);
    expect(findings(asAgency).map((f) => f.code)).not.toContain('eligibility-not-checked');
    expect((await server.as(AGENCY_A)('GET', eligibility)).status).toBe(200);
    // Not the request carebridge sent the payer, and nothing of a patient the agency is not referred.
    const request = ((await server.as(ADMIN)('GET', eligibility)).body as CoverageEligibilityResponse).request?.reference as string;
    expect((await server.as(AGENCY_A)('GET', request)).status).toBe(403);
    expect((await server.as(OTHER_AGENCY)('GET', eligibility)).status).toBe(404);
  });

  it('the freshest answer counts: an authorization on file once the payer has one', async () => {
    payer.members.set(MEMBER_ID, { inforce: true, authorizationRequired: true, preAuthRef: 'PA-2026-118' });
    expect((await check()).status).toBe(200);
    const after = (await status()).body;
    expect(param(after, 'prior-authorization')?.valueString).toBe('PA-2026-118');
    expect(findings(after).find((f) => f.code === 'prior-auth-on-file')?.text).toBe('Home health needs prior authorization; authorization PA-2026-118 is on file');
  });

  it('a payer failure is an OperationOutcome (502, 504 when it does not answer in time) and stores nothing', async () => {
    const before = await storedResponses();
    for (const [mode, expected] of [['unavailable', 502], ['garbage', 502], ['hang', 504]] as const) {
      payer.setDown(mode);
      const { status: code, outcome } = await check();
      expect([mode, code]).toEqual([mode, expected]);
      expect(outcome.resourceType).toBe('OperationOutcome');
      expect(outcome.issue?.[0]?.details?.text).toMatch(mode === 'hang' ? /^The payer cchp did not answer in time$/ : /^The payer cchp failed \((HTTP \d{3}|unreachable|refused the request)\)$/);
    }
    payer.setDown(false);
    expect(await storedResponses()).toBe(before);
  });

  it('a payer that does not know the member: its error answer is stored, and the status says so', async () => {
    payer.members.delete(MEMBER_ID);
    const { status: code, body } = await check();
    expect(code).toBe(200);
    expect(body).toMatchObject({ resourceType: 'CoverageEligibilityResponse', outcome: 'error' });
    const after = (await status()).body;
    expect(findings(after).find((f) => f.code === 'eligibility-error')).toMatchObject({ severity: 'error', text: expect.stringContaining('Member not found') });
  });

  it('the CapabilityStatement lists both operations on Patient', async () => {
    const metadata = (await server.as(ADMIN)('GET', 'metadata')).body as CapabilityStatement;
    const patient = metadata.rest?.[0]?.resource?.find((r) => r.type === 'Patient');
    expect(patient?.operation?.map((o) => o.name)).toEqual(expect.arrayContaining(['coverage-status', 'check-eligibility']));
  });
});

describe('eligibility without a payer peer for the coverage', () => {
  it('answers 422 with an OperationOutcome naming what is missing, and stores nothing', async () => {
    const server = await startAuthTestServer({ principals: [HOSPITAL, ADMIN, CASE_MANAGER], clock: () => NOW });
    try {
      expect((await server.http(HOSPITAL)('POST', '/transitions', readPlan('broadcast-three-agencies.json'))).status).toBe(201);
      const patients = (await server.as(ADMIN)('GET', 'Patient?identifier=https://harborpoint-med.example/fhir/sid/mrn|HP2291047')).body as Bundle;
      const id = patients.entry?.[0]?.resource?.id as string;
      const answer = await server.as(CASE_MANAGER)('POST', `Patient/${id}/$check-eligibility`);
      expect(answer.status).toBe(422);
      expect((answer.body as OperationOutcome).issue?.[0]?.details?.text).toMatch(/payer/i);
      expect(((await server.as(ADMIN)('GET', 'CoverageEligibilityRequest?_summary=count')).body as Bundle).total).toBe(0);
    } finally {
      await server.stop();
    }
  });
});
