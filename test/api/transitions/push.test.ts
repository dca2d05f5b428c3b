// POST /transitions over HTTP with real tokens: first push 201, re-push 200 without new versions,
// a changed plan versions only what changed, refused pushes leave the store as it was.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, Encounter, OperationOutcome } from '@medplum/fhirtypes';
import { sequentialUuids } from '../../../src/mapping/context.ts';
import { toFhir } from '../../../src/mapping/to-fhir.ts';
import type { TransitionPlan } from '../../../src/model/transition-plan.ts';
import type { AuthTestServer } from '../../auth/support/auth-server.ts';
import { startAuthTestServer } from '../../auth/support/auth-server.ts';
import { readJson, readPlan } from '../../support/fixtures.ts';
import { ADMIN, AGENCY_A, HOSPITAL, OTHER_HOSPITAL, PARTIES, dumpSqlite, expectOnlyItsAuditEvent, party } from './support.ts';

const RIVERSIDE = party('riverside', 'hospital', '1543829067');

interface Pushed {
  id: string;
  carePlan: string;
  referrals: { task: string; agency: { identifier: { system: string; value: string }; display: string }; status: string }[];
  transactionResponse: Bundle;
}

/** "Type/id" → versionId, from a transaction-response's locations. */
function versions(pushed: Pushed): Map<string, string> {
  return new Map(
    (pushed.transactionResponse.entry ?? []).map((e) => {
      const [, type, id, version] = /\/([A-Za-z]+)\/([^/]+)\/_history\/(\d+)$/.exec(e.response?.location ?? '') ?? [];
      return [`${type}/${id}`, version as string];
    }),
  );
}

describe('POST /transitions', () => {
  let server: AuthTestServer;
  const plan = readPlan('broadcast-three-agencies.json');

  beforeAll(async () => {
    server = await startAuthTestServer({ principals: [...PARTIES, RIVERSIDE] });
    // Every party's token first: a token request writes its assertion's id, which no dump should see.
    for (const who of [...PARTIES, RIVERSIDE]) {
      expect((await server.http(who)('GET', '/transitions')).status).toBe(200);
    }
  });
  afterAll(() => server.stop());

  const push = (body: unknown, who = HOSPITAL, contentType = 'application/json') => server.http(who)('POST', '/transitions', body, { 'content-type': contentType });

  let first: Pushed;

  it('creates the transition: 201, Location of the transition, the CarePlan and one referral Task per agency', async () => {
    const answer = await push(plan);
    expect(answer.status).toBe(201);
    first = answer.body as Pushed;
    expect(answer.headers.get('location')).toBe(`${server.url}/transitions/${first.id}`);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    expect(first.carePlan).toBe(`CarePlan/${first.id}`);
    expect(first.referrals.map((r) => [r.agency.identifier.value, r.agency.display, r.status])).toEqual([
      ['1266190432', 'Charm City Home Health', 'requested'],
      ['1877352900', 'Inner Harbor Visiting Nurses', 'requested'],
      ['1455266175', 'Chesapeake Home Care & Rehabilitation', 'requested'],
    ]);
    expect(first.referrals.every((r) => /^Task\/[A-Za-z0-9-]+$/.test(r.task))).toBe(true);
    expect(first.transactionResponse).toMatchObject({ resourceType: 'Bundle', type: 'transaction-response' });
    const read = await server.as(HOSPITAL)('GET', first.carePlan);
    expect(read.status).toBe(200);
  });

  it('pushed again unchanged: 200, the same resources, not one new version', async () => {
    const before = dumpSqlite(server.database);
    const answer = await push(plan);
    expect(answer.status).toBe(200);
    const again = answer.body as Pushed;
    expect(again.id).toBe(first.id);
    expect(again.referrals.map((r) => r.task)).toEqual(first.referrals.map((r) => r.task));
    expect(versions(again)).toEqual(versions(first));
    // Nothing written at all: no version, no Provenance (only the request's AuditEvent).
    expectOnlyItsAuditEvent(before, dumpSqlite(server.database));
  });

  it('pushed changed: 200, only the changed resources get a new version', async () => {
    const changed: TransitionPlan = structuredClone(plan);
    (changed.goals ?? [])[2]!.description = 'Climbs the 14 stairs to the bedroom with one rail, twice a day';
    (changed.referrals ?? [])[1]!.note = 'Broadcast 2 of 3. Updated: MSW visit first.';
    const answer = await push(changed);
    expect(answer.status).toBe(200);
    const now = versions(answer.body as Pushed);
    const was = versions(first);
    const bumped = [...now].filter(([ref, v]) => was.get(ref) !== v).map(([ref, v]) => [ref.split('/')[0], v]);
    expect(bumped.sort()).toEqual([['Goal', '2'], ['ServiceRequest', '2']]);
    expect([...now.keys()].sort()).toEqual([...was.keys()].sort());
  });

  it("keeps the agency's answer when the plan is pushed again", async () => {
    const task = first.referrals[0]?.task as string;
    const read = await server.as(AGENCY_A)('GET', task);
    // A referral's status changes carry If-Match (the workflow refuses them without: 428).
    const accepted = await server.as(AGENCY_A)('PUT', task, { ...read.body, status: 'accepted' }, { 'if-match': `W/"${read.body?.meta?.versionId}"` });
    expect(accepted.status).toBe(200);
    const answer = await push(plan);
    expect(answer.status).toBe(200);
    expect((answer.body as Pushed).referrals[0]?.status).toBe('accepted');
    expect(((await server.as(HOSPITAL)('GET', task)).body as { status: string }).status).toBe('accepted');
  });

  it("a re-push that the agency's carried answer makes invalid FHIR: 422 naming the Task, the store as it was", async () => {
    // The mapper's own output is validated with the mapped tier; a Task carrying an agency's
    // stored fields gets full validation, which holds Task inv-1 (lastModified ≥ authoredOn).
    const task = first.referrals[0]?.task as string;
    const read = await server.as(AGENCY_A)('GET', task);
    const answered = await server.as(AGENCY_A)('PUT', task, { ...read.body, lastModified: plan.created }, { 'if-match': `W/"${read.body?.meta?.versionId}"` });
    expect(answered.status).toBe(200);
    const later: TransitionPlan = { ...structuredClone(plan), created: plan.created.replace(/T\d\d/, (t) => `T${String(Number(t.slice(1)) + 1).padStart(2, '0')}`) };
    expect(Date.parse(later.created)).toBeGreaterThan(Date.parse(plan.created));
    const before = dumpSqlite(server.database);
    const answer = await push(later);
    expect(answer.status).toBe(422);
    const issue = (answer.body as OperationOutcome).issue?.[0];
    expect(issue?.expression?.[0]).toMatch(/^Bundle\.entry\[\d+\]\.resource/);
    expect(issue?.details?.text).toMatch(/inv-1/);
    expectOnlyItsAuditEvent(before, dumpSqlite(server.database));
  });

  it('an agency may not push: 403, nothing stored', async () => {
    const before = dumpSqlite(server.database);
    const answer = await push(readPlan('heart-failure-home-health.json'), AGENCY_A);
    expect(answer.status).toBe(403);
    expect((answer.body as OperationOutcome).issue?.[0]?.code).toBe('forbidden');
    expectOnlyItsAuditEvent(before, dumpSqlite(server.database));
  });

  it('a second plan for the same hospital stay: 409, the first transition and the store as they were', async () => {
    const second: TransitionPlan = { ...structuredClone(plan), identifier: { ...plan.identifier, value: `${plan.identifier.value}-bis` } };
    const before = dumpSqlite(server.database);
    const answer = await push(second);
    expect(answer.status).toBe(409);
    expect((answer.body as OperationOutcome).issue?.[0]?.expression?.[0]).toMatch(/\.resource\.identifier$/);
    // Also named in the plan the planner wrote, not only in the Bundle carebridge made of it.
    expect((answer.body as OperationOutcome).issue?.[0]?.location).toEqual(['/identifier']);
    expectOnlyItsAuditEvent(before, dumpSqlite(server.database));
  });

  it("a hospital may not push another hospital's discharge: 403", async () => {
    const answer = await push(readPlan('heart-failure-home-health.json'), OTHER_HOSPITAL);
    expect(answer.status).toBe(403);
  });

  it("another hospital pushing a plan with the same identifier first does not block it: each one's follow-up Locations are its own", async () => {
    const riversidePlan = readPlan('heart-failure-home-health.json');
    const squat: TransitionPlan = structuredClone(riversidePlan);
    squat.hospitalStay.dischargingOrganization = { identifier: { ...HOSPITAL.organization }, name: 'Harbor Point Medical Center' };
    squat.hospitalStay.encounterIdentifier = { system: 'https://harborpoint-med.example/fhir/sid/visit', value: 'SQUAT-1' };
    squat.patient.identifiers = [{ system: 'https://harborpoint-med.example/fhir/sid/mrn', value: 'SQUAT-1' }];
    const first = await push(squat, HOSPITAL);
    expect(first.status).toBe(201);
    const answer = await push(riversidePlan, RIVERSIDE);
    expect(answer.status).toBe(201);
    const locations = (pushed: Pushed): string[] => [...versions(pushed).keys()].filter((key) => key.startsWith('Location/'));
    const theirs = locations(first.body as Pushed);
    const own = locations(answer.body as Pushed);
    expect(own.length).toBeGreaterThan(0);
    expect(own.length).toBe(theirs.length);
    expect(own.filter((key) => theirs.includes(key))).toEqual([]);
    // And each pushes again unchanged: its own Locations, not a 403 on the other's nor a 412 for two.
    expect((await push(riversidePlan, RIVERSIDE)).status).toBe(200);
    expect((await push(squat, HOSPITAL)).status).toBe(200);
  });

  it('a plan that breaks the rules between its items: 422 with every issue, nothing stored', async () => {
    const before = dumpSqlite(server.database);
    const answer = await push(readJson('invalid/discharge-before-admission.json'));
    expect(answer.status).toBe(422);
    expect(answer.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    const outcome = answer.body as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue?.[0]?.location).toEqual(['/hospitalStay/dischargedAt']);
    expectOnlyItsAuditEvent(before, dumpSqlite(server.database));
  });

  it('not a plan (wrong shape), not JSON, no body: 400', async () => {
    const shape = await push(readJson('invalid/wrong-types.json'));
    expect(shape.status).toBe(400);
    expect((shape.body as OperationOutcome).issue?.length).toBeGreaterThan(0);
    expect((await push('{"identifier": ', HOSPITAL)).status).toBe(400);
    expect((await push(JSON.stringify(plan), HOSPITAL, 'text/plain')).status).toBe(415);
    expect((await server.http(HOSPITAL)('POST', '/transitions')).status).toBe(400);
  });

  it('a push whose third resource fails FHIR validation: 422 naming it, the store exactly as before', async () => {
    const bad: TransitionPlan = structuredClone(readPlan('post-stroke-follow-ups.json'));
    const before = dumpSqlite(server.database);
    // 13 digits of a second pass the plan schema's date-time but not FHIR's instant (at most 9);
    // the admission is the Encounter's period, and the Encounter is entry 2.
    bad.hospitalStay.admittedAt = '2026-11-12T16:40:00.1234567890123-08:00';
    const answer = await push(bad, ADMIN);
    expect(answer.status).toBe(422);
    expect((answer.body as OperationOutcome).issue?.[0]?.expression?.[0]).toMatch(/^Bundle\.entry\[2\]\.resource\.period/);
    expect((answer.body as OperationOutcome).issue?.[0]?.location).toEqual(['/hospitalStay']);
    expectOnlyItsAuditEvent(before, dumpSqlite(server.database));
  });

  it('a push whose third resource fails while being written rolls back everything written before it', async () => {
    const stroke = readPlan('post-stroke-follow-ups.json');
    const entries = toFhir(stroke, sequentialUuids()).entry ?? [];
    expect(entries[2]?.resource?.resourceType).toBe('Encounter');
    const encounter = (entries[2]?.resource as Encounter).identifier?.[0];
    // Two Encounters with the identifier the plan's Encounter is matched by: its conditional update
    // matches both (412), after the Patient and the Organizations were written in the same transaction.
    for (let i = 0; i < 2; i++) {
      const created = await server.as(ADMIN)('POST', 'Encounter', { resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' }, identifier: [encounter] });
      expect(created.status).toBe(201);
    }
    const before = dumpSqlite(server.database);
    const answer = await push(stroke, ADMIN);
    expect(answer.status).toBe(412);
    expectOnlyItsAuditEvent(before, dumpSqlite(server.database));
    expect((await server.as(ADMIN)('GET', `Patient?identifier=${encodeURIComponent(`${stroke.patient.identifiers[0]?.system}|${stroke.patient.identifiers[0]?.value}`)}`)).body).toMatchObject({ entry: [] });
  });
});
