// POST /fhir/$process-message over HTTP with real tokens and a real SQLite file: Da Vinci discharge
// notifications open transitions (a later plan push fills the same CarePlan in), admissions within
// 30 days of a discharge are flagged as readmissions, a message sent twice is answered twice the
// same way and written once, and bad or unauthorized messages leave the store as it was.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AuditEvent, Bundle, CapabilityStatement, CarePlan, Communication, Encounter, OperationOutcome, Patient } from '@medplum/fhirtypes';
import type { TransitionState } from '../../../src/api/transitions/state.ts';
import { toPatient } from '../../../src/mapping/patient.ts';
import type { TransitionPlan } from '../../../src/model/transition-plan.ts';
import { MESSAGE_HEADER_ID_SYSTEM } from '../../../src/workflow/notifications.ts';
import type { AuthTestServer } from '../../auth/support/auth-server.ts';
import { startAuthTestServer } from '../../auth/support/auth-server.ts';
import { readPlan } from '../../support/fixtures.ts';
import type { Principal } from '../../../src/auth/principal.ts';
import { ADMIN, AGENCY_A, HOSPITAL, OTHER_HOSPITAL, PARTIES, dumpSqlite, expectOnlyItsAuditEvent } from '../transitions/support.ts';
import type { NotificationInput } from './support/notification.ts';
import { MRN_SYSTEM, OTHER_HOSPITAL_ORG, VISIT_SYSTEM, notification, patient } from './support/notification.ts';

interface Answer {
  status: number;
  body: OperationOutcome;
  headers: Headers;
}

/** "CarePlan/<id>" named in an answer's text. */
function carePlanIn(outcome: OperationOutcome): string {
  const id = /CarePlan\/([A-Za-z0-9-]+)/.exec(outcome.issue?.[0]?.details?.text ?? '')?.[1];
  if (!id) {
    throw new Error(`no CarePlan in ${JSON.stringify(outcome)}`);
  }
  return id;
}

describe('POST /fhir/$process-message', () => {
  let server: AuthTestServer;
  const plan = readPlan('broadcast-three-agencies.json');
  const mrn = plan.patient.identifiers[0] as { system: string; value: string };
  const visit = plan.hospitalStay.encounterIdentifier?.value as string;

  beforeAll(async () => {
    // Request logs included (debug): no patient detail may reach them.
    server = await startAuthTestServer({ principals: PARTIES, logLevel: 'debug' });
    // Every party's token first: a token request writes its assertion's id, which no dump should see.
    for (const who of PARTIES) {
      expect((await server.http(who)('GET', '/transitions')).status).toBe(200);
    }
  });
  afterAll(() => server.stop());

  const send = async (message: unknown, who: Principal = HOSPITAL): Promise<Answer> => {
    const answer = await server.http(who)('POST', '/fhir/$process-message', message);
    return { status: answer.status, body: answer.body as OperationOutcome, headers: answer.headers };
  };
  const state = async (id: string, who: Principal = HOSPITAL): Promise<{ status: number; body: TransitionState }> => {
    const answer = await server.http(who)('GET', `/transitions/${id}`);
    return { status: answer.status, body: answer.body as TransitionState };
  };
  const search = async (path: string, who: Principal = HOSPITAL): Promise<Bundle> => (await server.as(who)('GET', path)).body as Bundle;
  const byIdentifier = (type: string, system: string, value: string): string => `${type}?identifier=${encodeURIComponent(`${system}|${value}`)}`;

  // The patient of the broadcast plan, and the hospital, as the hospital's ADT system sends them
  // (a Patient or Organization is stored by whoever names it first, and never overwritten).
  const hospital = plan.hospitalStay.dischargingOrganization;
  const sender = { ...hospital.identifier, name: hospital.name, telecom: hospital.telecom };
  const discharge: NotificationInput = { event: 'notification-discharge', patient: toPatient(plan.patient), visit, admittedAt: plan.hospitalStay.admittedAt, dischargedAt: plan.hospitalStay.dischargedAt, sender };
  const dischargeMessage = notification(discharge);
  let first: Answer;
  let transition: string;

  describe('a discharge', () => {
    it('opens the transition of the stay: 200, an informational OperationOutcome, a draft CarePlan', async () => {
      first = await send(dischargeMessage);
      expect(first.status).toBe(200);
      expect(first.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
      expect(first.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational' }] });
      expect(first.body.issue?.[0]?.details?.text).toMatch(/opened as a draft/);
      transition = carePlanIn(first.body);

      const opened = await state(transition);
      expect(opened.status).toBe(200);
      expect(opened.body).toMatchObject({ status: 'draft', referrals: [], readmission: null });
      expect(opened.body.plan).toBeUndefined();
      expect(opened.body.planProblem).toMatch(/No plan yet/);

      const carePlan = (await server.as(HOSPITAL)('GET', `CarePlan/${transition}`)).body as CarePlan;
      expect(carePlan.period?.start).toBe(plan.hospitalStay.dischargedAt);
      const encounters = await search(byIdentifier('Encounter', VISIT_SYSTEM, visit));
      expect(encounters.entry).toHaveLength(1);
      const encounter = encounters.entry?.[0]?.resource as Encounter;
      expect(carePlan.encounter?.reference).toBe(`Encounter/${encounter.id}`);
      expect(encounter).toMatchObject({ status: 'finished', period: { end: plan.hospitalStay.dischargedAt } });
      expect(carePlan.subject?.reference).toBe(encounter.subject?.reference);
    });

    it('is audited as $process-message, naming the transition and the patient', async () => {
      const events = await search(`AuditEvent?entity=CarePlan/${transition}&subtype=operation&_sort=-_lastUpdated&_count=1`, ADMIN);
      const event = events.entry?.[0]?.resource as AuditEvent;
      expect(event.entity?.some((e) => e.name === '$process-message')).toBe(true);
      expect(event.entity?.some((e) => e.what?.reference?.startsWith('Patient/'))).toBe(true);
      expect(event.outcome).toBe('0');
    });

    it('sent again (the same Bundle.id and MessageHeader.id): the same answer, nothing written', async () => {
      const before = dumpSqlite(server.database);
      const again = await send(dischargeMessage);
      expect(again.status).toBe(first.status);
      expect(again.body).toEqual(first.body);
      expectOnlyItsAuditEvent(before, dumpSqlite(server.database));
    });

    it('sent twice at the same instant: one transition, both answered alike', async () => {
      const message = notification({ ...discharge, patient: patient('HP-TWICE'), visit: 'HP-IP-26-200001' });
      const [a, b] = await Promise.all([send(message), send(message)]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(a.body).toEqual(b.body);
      expect((await search(`CarePlan?encounter.identifier=${encodeURIComponent(`${VISIT_SYSTEM}|HP-IP-26-200001`)}`)).entry).toHaveLength(1);
    });

    it('the plan pushed later for the same stay fills in that CarePlan, not a second one', async () => {
      const pushed = await server.http(HOSPITAL)('POST', '/transitions', plan, { 'content-type': 'application/json' });
      expect(pushed.status).toBe(200);
      expect((pushed.body as { id: string }).id).toBe(transition);
      const filled = await state(transition);
      expect(filled.body.plan).toEqual(plan);
      expect(filled.body.status).toBe('active');
      expect(filled.body.referrals).toHaveLength(3);
      expect((await search(byIdentifier('Encounter', VISIT_SYSTEM, visit))).entry).toHaveLength(1);
      expect((await search(byIdentifier('Patient', mrn.system, mrn.value))).entry).toHaveLength(1);
      const list = (await server.http(HOSPITAL)('GET', `/transitions?patient=${encodeURIComponent(`${mrn.system}|${mrn.value}`)}`)).body as { items: unknown[] };
      expect(list.items).toHaveLength(1);
    });

    it('after the plan was pushed, brings the transition\'s discharge date up to date and nothing else', async () => {
      const other: TransitionPlan = structuredClone(plan);
      other.identifier = { ...plan.identifier, value: 'HPMC-2026-12-02-0007' };
      other.patient.identifiers = [{ system: MRN_SYSTEM, value: 'HP2291999' }];
      other.hospitalStay.encounterIdentifier = { system: VISIT_SYSTEM, value: 'HP-IP-26-200002' };
      const pushed = await server.http(HOSPITAL)('POST', '/transitions', other, { 'content-type': 'application/json' });
      expect(pushed.status).toBe(201);
      const id = (pushed.body as { id: string }).id;
      const later = '2026-12-01T09:05:00-05:00';
      const answer = await send(notification({ event: 'notification-discharge', patient: toPatient(other.patient), visit: 'HP-IP-26-200002', admittedAt: other.hospitalStay.admittedAt, dischargedAt: later }));
      expect(answer.status).toBe(200);
      expect(carePlanIn(answer.body)).toBe(id);
      const updated = (await state(id)).body;
      expect(updated.plan).toEqual({ ...other, hospitalStay: { ...other.hospitalStay, dischargedAt: later } });
      expect(((await server.as(HOSPITAL)('GET', `CarePlan/${id}`)).body as CarePlan).period?.start).toBe(later);
    });
  });

  describe('an admission', () => {
    const admit = (mrnValue: string, visitValue: string, admittedAt: string, encounterClass = 'EMER', who: typeof discharge.patient = patient(mrnValue)): Bundle =>
      notification({ event: 'notification-admit', patient: who, visit: visitValue, admittedAt, encounterClass });

    it('12 days after a discharge is flagged as a readmission on that transition, and a plan pushed again keeps the flag', async () => {
      const answer = await send(admit(mrn.value, 'HP-ED-26-300001', '2026-12-12T03:40:00-05:00', 'EMER', toPatient(plan.patient)));
      expect(answer.status).toBe(200);
      expect(answer.body.issue?.[0]?.details?.text).toMatch(/readmission flagged/);
      expect(carePlanIn(answer.body)).toBe(transition);
      const admission = (await search(byIdentifier('Encounter', VISIT_SYSTEM, 'HP-ED-26-300001'))).entry?.[0]?.resource as Encounter;
      const expected = { encounter: `Encounter/${admission.id}`, admittedOn: '2026-12-12', daysAfterDischarge: 12 };
      expect((await state(transition)).body.readmission).toEqual(expected);
      // The agency caring for the patient sees it too.
      expect((await state(transition, AGENCY_A)).body.readmission).toEqual(expected);

      const pushed = await server.http(HOSPITAL)('POST', '/transitions', plan, { 'content-type': 'application/json' });
      expect(pushed.status).toBe(200);
      expect((await state(transition)).body.readmission).toEqual(expected);
    });

    it('on the discharge day + 29 (day 30 of the window, in the sender\'s time zone) is flagged', async () => {
      const opened = await send(notification({ event: 'notification-discharge', patient: patient('HP-D30'), visit: 'HP-IP-26-400001', admittedAt: '2026-10-27T10:00:00-05:00', dischargedAt: '2026-11-01T10:00:00-05:00' }));
      const id = carePlanIn(opened.body);
      // 23:30 in New York is already the next day in UTC: the sender's calendar day counts.
      const answer = await send(admit('HP-D30', 'HP-IP-26-400002', '2026-11-30T23:30:00-05:00', 'IMP'));
      expect(answer.body.issue?.[0]?.details?.text).toMatch(/readmission flagged .*29 day/);
      expect((await state(id)).body.readmission).toMatchObject({ admittedOn: '2026-11-30', daysAfterDischarge: 29 });
    });

    it('on day 31 or later is recorded, not flagged', async () => {
      const opened = await send(notification({ event: 'notification-discharge', patient: patient('HP-D31'), visit: 'HP-IP-26-500001', admittedAt: '2026-10-27T10:00:00-05:00', dischargedAt: '2026-11-01T10:00:00-05:00' }));
      const id = carePlanIn(opened.body);
      for (const [visitValue, admittedAt] of [['HP-IP-26-500002', '2026-12-01T00:30:00-05:00'], ['HP-IP-26-500003', '2026-12-02T08:00:00-05:00']] as const) {
        const answer = await send(admit('HP-D31', visitValue, admittedAt, 'IMP'));
        expect(answer.status).toBe(200);
        expect(answer.body.issue?.[0]?.details?.text).toMatch(/recorded; no transition of this patient was discharged within the 30 days/);
        expect((await search(byIdentifier('Encounter', VISIT_SYSTEM, visitValue))).entry).toHaveLength(1);
      }
      expect((await state(id)).body.readmission).toBeNull();
    });

    it('of a patient with no transition, or an outpatient visit, is recorded and flags nothing', async () => {
      const none = await send(admit('HP-NEW', 'HP-ED-26-600001', '2026-12-03T11:00:00-05:00'));
      expect(none.body.issue?.[0]?.details?.text).toMatch(/no transition of this patient/);
      const outpatient = await send(admit(mrn.value, 'HP-OP-26-600002', '2026-12-04T11:00:00-05:00', 'AMB', toPatient(plan.patient)));
      expect(outpatient.body.issue?.[0]?.details?.text).toMatch(/not an inpatient or emergency admission/);
      expect((await state(transition)).body.readmission?.admittedOn).toBe('2026-12-12');
    });
  });

  describe('tenancy', () => {
    it("another hospital's admission of a patient with the same MRN touches nothing of this hospital's", async () => {
      const mine = ((await search(byIdentifier('Patient', mrn.system, mrn.value))).entry?.[0]?.resource as Patient).id;
      const before = (await server.as(HOSPITAL)('GET', `CarePlan/${transition}`)).body as CarePlan;
      const answer = await send(
        notification({ event: 'notification-admit', patient: toPatient(plan.patient), visit: 'BV-IP-26-000001', admittedAt: '2026-12-05T10:00:00-05:00', sender: OTHER_HOSPITAL_ORG }),
        OTHER_HOSPITAL,
      );
      expect(answer.status).toBe(200);
      expect(answer.body.issue?.[0]?.details?.text).toMatch(/no transition of this patient/);
      const after = (await server.as(HOSPITAL)('GET', `CarePlan/${transition}`)).body as CarePlan;
      expect(after.meta?.versionId).toBe(before.meta?.versionId);
      // Each hospital has its own patient with that MRN; neither sees the other's.
      const theirs = ((await search(byIdentifier('Patient', mrn.system, mrn.value), OTHER_HOSPITAL)).entry ?? []).map((e) => e.resource?.id);
      expect(theirs).toHaveLength(1);
      expect(theirs).not.toContain(mine);
      expect((await state(transition, OTHER_HOSPITAL)).status).toBe(404);
    });

    it('the record of each message is the sender\'s (and admins\'): an agency caring for the patient does not see it', async () => {
      const records = (bundle: Bundle): number => (bundle.entry ?? []).filter((e) => (e.resource as Communication | undefined)?.identifier?.some((i) => i.system === MESSAGE_HEADER_ID_SYSTEM)).length;
      expect(records(await search('Communication?_count=100'))).toBeGreaterThan(0);
      expect(records(await search('Communication?_count=100', AGENCY_A))).toBe(0);
      expect(records(await search('Communication?_count=100', OTHER_HOSPITAL))).toBe(1);
    });

    it("a hospital may not send another hospital's notification: 403, nothing written", async () => {
      const before = dumpSqlite(server.database);
      const answer = await send(notification({ ...discharge, patient: patient('HP-FORGED'), visit: 'HP-IP-26-700001' }), OTHER_HOSPITAL);
      expect(answer.status).toBe(403);
      expect(answer.body.issue?.[0]?.code).toBe('forbidden');
      expectOnlyItsAuditEvent(before, dumpSqlite(server.database));
    });

    it('an agency may not send: 403, nothing written', async () => {
      const before = dumpSqlite(server.database);
      const answer = await send(notification({ ...discharge, patient: patient('HP-AGENCY'), visit: 'HP-IP-26-700002' }), AGENCY_A);
      expect(answer.status).toBe(403);
      expectOnlyItsAuditEvent(before, dumpSqlite(server.database));
    });

    it('an admin may send on behalf of a hospital', async () => {
      const answer = await send(notification({ ...discharge, patient: patient('HP-ADMIN'), visit: 'HP-IP-26-700003' }), ADMIN);
      expect(answer.status).toBe(200);
    });
  });

  describe('bad messages: 4xx with an OperationOutcome, nothing written', () => {
    const valid = (): Bundle => notification({ ...discharge, patient: patient('HP-BAD'), visit: 'HP-IP-26-800001' });
    const cases: [string, () => unknown, number][] = [
      ['not a Bundle', () => patient('HP-BAD'), 400],
      ['a Bundle of another type', () => ({ ...valid(), type: 'transaction' }), 400],
      ['no id', () => ({ ...valid(), id: undefined }), 400],
      ['no MessageHeader first', () => ({ ...valid(), entry: [...(valid().entry ?? [])].reverse() }), 400],
      ['only a MessageHeader', () => ({ ...valid(), entry: valid().entry?.slice(0, 1) }), 400],
      ['an event carebridge does not act on', () => withHeader(valid(), { eventCoding: { system: 'http://hl7.org/fhir/us/davinci-alerts/CodeSystem/notification-event', code: 'notification-transfer' } }), 422],
      ['an event of another code system', () => withHeader(valid(), { eventCoding: { system: 'http://example.org/events', code: 'notification-discharge' } }), 422],
      ['no focus', () => withHeader(valid(), { focus: undefined }), 400],
      ['a focus that is no entry', () => withHeader(valid(), { focus: [{ reference: 'urn:uuid:6f1c2c3e-0d4b-4c1e-9a8e-111111111111' }] }), 422],
      ['a focus on the Patient', () => withFocusOnPatient(valid()), 422],
      ['a patient without identifier', () => withPatient(valid(), { identifier: undefined }), 422],
      ['a discharge without its date', () => withEncounter(valid(), { period: { start: '2026-11-25T08:00:00-05:00' } }), 422],
      ['an Encounter that is not valid FHIR', () => withEncounter(valid(), { status: 'bogus' as Encounter['status'] }), 422],
      ['a huge message (500 entries)', () => ({ ...valid(), entry: [...(valid().entry ?? []), ...Array.from({ length: 494 }, (_, i) => ({ fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, resource: { resourceType: 'Basic', code: { text: 'x' } } }))] }), 400],
    ];

    it.each(cases)('%s', async (_name, make, status) => {
      const before = dumpSqlite(server.database);
      const answer = await send(make());
      expect({ status: answer.status, type: answer.body?.resourceType }).toEqual({ status, type: 'OperationOutcome' });
      expect(answer.body.issue?.[0]?.severity).toBe('error');
      expectOnlyItsAuditEvent(before, dumpSqlite(server.database));
    });

    // Once answered 500: a Reference or a fullUrl that is not a string.
    const notStrings: [string, () => unknown, string][] = [
      ['a MessageHeader.sender.reference that is not a string', () => withHeader(valid(), { sender: { reference: 0 } }), 'Bundle.entry[0].resource.sender.reference'],
      ...[1e308, true, [], {}, [null]].map((fullUrl): [string, () => unknown, string] => [`an entry.fullUrl ${JSON.stringify(fullUrl)}`, () => withFullUrl(valid(), 2, fullUrl), 'Bundle.entry[2].fullUrl']),
    ];

    it.each(notStrings)('%s: 422 naming it, nothing written', async (_name, make, expression) => {
      const before = dumpSqlite(server.database);
      const answer = await send(make());
      expect({ status: answer.status, type: answer.body?.resourceType }).toEqual({ status: 422, type: 'OperationOutcome' });
      expect(answer.body.issue).toContainEqual(expect.objectContaining({ severity: 'error', expression: [expression] }));
      expectOnlyItsAuditEvent(before, dumpSqlite(server.database));
    });

    it('a body over the size limit: 413, nothing written', async () => {
      const before = dumpSqlite(server.database);
      const big = valid();
      (big.entry?.[2]?.resource as Patient).name = [{ family: 'x'.repeat(6 * 1024 * 1024) }];
      const answer = await send(big);
      expect(answer.status).toBe(413);
      expectOnlyItsAuditEvent(before, dumpSqlite(server.database));
    });

    it('a Bundle.id used again for another message: 409, nothing written', async () => {
      const before = dumpSqlite(server.database);
      const answer = await send({ ...valid(), id: dischargeMessage.id });
      expect(answer.status).toBe(409);
      expect(answer.body.issue?.[0]?.code).toBe('duplicate');
      expectOnlyItsAuditEvent(before, dumpSqlite(server.database));
    });
  });

  it('GET /fhir/metadata lists $process-message as a system operation, defined as a subset of the standard one', async () => {
    const metadata = (await (await fetch(`${server.url}/fhir/metadata`)).json()) as CapabilityStatement;
    const definition = `${server.url}/fhir/OperationDefinition/MessageHeader-process-message`;
    expect(metadata.rest?.[0]?.operation).toContainEqual({ name: 'process-message', definition });
    const read = await server.http(HOSPITAL)('GET', definition.slice(server.url.length));
    expect(read.body).toMatchObject({ resourceType: 'OperationDefinition', url: definition, code: 'process-message', system: true, base: 'http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message' });
    expect(metadata.instantiates).toContain('http://hl7.org/fhir/us/davinci-alerts/CapabilityStatement/notification-receiver');
  });

  it('logged no patient name, birth date or identifier value', () => {
    const secrets = [plan.patient.name.family, plan.patient.birthDate, mrn.value, visit, 'Okafor', '1949-03-14', 'HP-D30', 'HP-IP-26-400002'];
    const leaks = server.logs.filter((line) => secrets.some((s) => line.includes(s)));
    expect(server.logs.length).toBeGreaterThan(0);
    expect(leaks).toEqual([]);
  });
});

function withEntry(bundle: Bundle, index: number, change: Record<string, unknown>): Bundle {
  const entry = [...(bundle.entry ?? [])];
  entry[index] = { ...entry[index], resource: { ...entry[index]?.resource, ...change } as never };
  return { ...bundle, entry };
}
function withFullUrl(bundle: Bundle, index: number, fullUrl: unknown): Bundle {
  const entry = [...(bundle.entry ?? [])];
  entry[index] = { ...entry[index], fullUrl: fullUrl as string };
  return { ...bundle, entry };
}
const withHeader = (bundle: Bundle, change: Record<string, unknown>): Bundle => withEntry(bundle, 0, change);
const withEncounter = (bundle: Bundle, change: Record<string, unknown>): Bundle => withEntry(bundle, 1, change);
const withPatient = (bundle: Bundle, change: Record<string, unknown>): Bundle => withEntry(bundle, 2, change);
function withFocusOnPatient(bundle: Bundle): Bundle {
  return withHeader(bundle, { focus: [{ reference: bundle.entry?.[2]?.fullUrl }] });
}
