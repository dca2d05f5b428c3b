// GET /transitions/{id}, GET /transitions and GET /fhir/CarePlan/{id}/$transition over HTTP with
// real tokens: the plan as sent plus live state, each party seeing only its part.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, CapabilityStatement, OperationOutcome, Task } from '@medplum/fhirtypes';
import type { TransitionList } from '../../../src/api/transitions/list.ts';
import type { TransitionState } from '../../../src/api/transitions/state.ts';
import type { TransitionPlan } from '../../../src/model/transition-plan.ts';
import type { AuthTestServer } from '../../auth/support/auth-server.ts';
import { startAuthTestServer } from '../../auth/support/auth-server.ts';
import { readPlan } from '../../support/fixtures.ts';
import { ADMIN, AGENCY_A, AGENCY_B, AGENCY_C, HOSPITAL, OTHER_HOSPITAL, PARTIES } from './support.ts';

type List = Omit<TransitionList, 'disclosed'>;

describe('reading transitions', () => {
  let server: AuthTestServer;
  const plan = readPlan('broadcast-three-agencies.json');
  let id: string;
  let tasks: string[];

  beforeAll(async () => {
    server = await startAuthTestServer({ principals: PARTIES });
    const pushed = await server.http(HOSPITAL)('POST', '/transitions', plan, { 'content-type': 'application/json' });
    expect(pushed.status).toBe(201);
    ({ id } = pushed.body as { id: string });
    tasks = (pushed.body as { referrals: { task: string }[] }).referrals.map((r) => r.task);
  });
  afterAll(() => server.stop());

  const get = <T>(who: typeof HOSPITAL, path: string) => server.http(who)('GET', path) as Promise<{ status: number; body: T; headers: Headers }>;

  it('the hospital reads back the plan exactly as it sent it, and every referral still requested', async () => {
    const answer = await get<TransitionState>(HOSPITAL, `/transitions/${id}`);
    expect(answer.status).toBe(200);
    expect(answer.body.plan).toEqual(plan);
    expect(answer.body.carePlan).toBe(`CarePlan/${id}`);
    expect(answer.body.referrals.map((r) => [r.id, r.agency.identifier?.value, r.status]).sort()).toEqual([
      ['bcast-a', '1266190432', 'requested'],
      ['bcast-b', '1877352900', 'requested'],
      ['bcast-c', '1455266175', 'requested'],
    ]);
    expect(answer.body.referrals.map((r) => r.task).sort()).toEqual([...tasks].sort());
    expect(answer.body.acceptedBy).toBeNull();
    expect(answer.body.appointments.map((a) => [a.followUp, a.status])).toEqual(expect.arrayContaining([['tcm-call', 'booked'], ['pcp', 'booked']]));
    expect(answer.body.caregiverTasks.map((t) => t.id).sort()).toEqual(['check-in', 'glucose-checks', 'insulin-reminder', 'meals']);
    expect(answer.body.lastReportBack).toBeNull();
  });

  it('an agency sees the plan with its own referral only, and the state after it answers and reports back', async () => {
    const mine = await get<TransitionState>(AGENCY_B, `/transitions/${id}`);
    expect(mine.status).toBe(200);
    const expected: TransitionPlan = { ...plan, referrals: plan.referrals?.filter((r) => r.id === 'bcast-b') };
    expect(mine.body.plan).toEqual(expected);
    expect(mine.body.referrals.map((r) => r.id)).toEqual(['bcast-b']);

    const task = mine.body.referrals[0]?.task as string;
    const current = (await server.as(AGENCY_B)('GET', task)).body as Task;
    const accepted = await server.as(AGENCY_B)('PUT', task, { ...current, status: 'accepted', businessStatus: { text: 'Start-of-care visit scheduled' }, lastModified: '2026-11-30T17:00:00-05:00' }, { 'if-match': `W/"${current.meta?.versionId}"` });
    expect(accepted.status).toBe(200);
    const observation = await server.as(AGENCY_B)('POST', 'Observation', {
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: '2339-0', display: 'Glucose [Mass/volume] in Blood' }], text: 'Blood glucose' },
      subject: { reference: current.for?.reference },
      effectiveDateTime: '2026-12-01T08:05:00-05:00',
      performer: [{ reference: current.owner?.reference }],
      valueQuantity: { value: 182, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
    });
    expect(observation.status).toBe(201);

    const state = (await get<TransitionState>(HOSPITAL, `/transitions/${id}`)).body;
    expect(state.acceptedBy).toMatchObject({ identifier: { value: '1877352900' }, display: 'Inner Harbor Visiting Nurses', task });
    expect(state.referrals.find((r) => r.task === task)).toMatchObject({ status: 'accepted', businessStatus: 'Start-of-care visit scheduled' });
    expect(state.lastReportBack).toMatchObject({ resource: `Observation/${observation.body?.id}`, kind: 'observation', summary: 'Blood glucose: 182 mg/dL', agency: { display: 'Inner Harbor Visiting Nurses' } });
  });

  it('a report-back naming the agency by identifier (its NPI) counts as that agency\'s', async () => {
    const task = (await get<TransitionState>(AGENCY_B, `/transitions/${id}`)).body.referrals[0]?.task as string;
    const patient = ((await server.as(AGENCY_B)('GET', task)).body as Task).for?.reference;
    const byNpi = { identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1877352900' } };
    const observation = await server.as(AGENCY_B)('POST', 'Observation', {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }], text: 'Heart rate' },
      subject: { reference: patient },
      effectiveDateTime: '2026-12-01T09:05:00-05:00',
      performer: [{ ...byNpi, display: 'Inner Harbor Visiting Nurses' }],
      valueQuantity: { value: 88, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    });
    expect(observation.status).toBe(201);
    let state = (await get<TransitionState>(HOSPITAL, `/transitions/${id}`)).body;
    expect(state.lastReportBack).toMatchObject({ resource: `Observation/${observation.body?.id}`, kind: 'observation', summary: 'Heart rate: 88 /min', agency: { identifier: byNpi.identifier, display: 'Inner Harbor Visiting Nurses' } });
    const communication = await server.as(AGENCY_B)('POST', 'Communication', { resourceType: 'Communication', status: 'completed', subject: { reference: patient }, sender: byNpi, payload: [{ contentString: 'Start-of-care visit done' }] });
    expect(communication.status).toBe(201);
    state = (await get<TransitionState>(HOSPITAL, `/transitions/${id}`)).body;
    expect(state.lastReportBack).toMatchObject({ resource: `Communication/${communication.body?.id}`, kind: 'communication', summary: 'Start-of-care visit done', agency: { identifier: byNpi.identifier, display: 'Inner Harbor Visiting Nurses' } });
  });

  it('is 404 for an unknown id, another hospital, and an id that is not a transition', async () => {
    expect((await get(HOSPITAL, '/transitions/no-such-plan')).status).toBe(404);
    expect((await get(OTHER_HOSPITAL, `/transitions/${id}`)).status).toBe(404);
    const patient = (await server.as(HOSPITAL)('GET', 'Patient')).body as Bundle;
    expect((await get(HOSPITAL, `/transitions/${patient.entry?.[0]?.resource?.id}`)).status).toBe(404);
    expect((await get(HOSPITAL, `/transitions/${'x'.repeat(80)}`)).status).toBe(404);
  });

  it('is audited: the read records an AuditEvent naming the transition and its patient', async () => {
    expect((await get(AGENCY_B, `/transitions/${id}`)).status).toBe(200);
    // The newest event about this CarePlan (token requests are audited too, so not simply the newest).
    const events = (await server.as(ADMIN)('GET', `AuditEvent?entity=CarePlan/${id}&subtype=read&_sort=-_lastUpdated&_count=1`)).body as Bundle;
    const event = JSON.stringify(events.entry?.[0]?.resource);
    expect(event).toContain(`CarePlan/${id}`);
    expect(event).toContain('"value":"inner-harbor"');
    expect(event).toMatch(/"code":"read"/);
    expect(event).toMatch(/"reference":"Patient\/[^"]+"/);
  });

  it('needs a token: 401 without one', async () => {
    const answer = await fetch(`${server.url}/transitions/${id}`);
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toBe('Bearer realm="carebridge"');
  });

  it('GET /fhir/CarePlan/{id}/$transition: the CarePlan and everything it references, for the hospital', async () => {
    const answer = await get<Bundle>(HOSPITAL, `/fhir/CarePlan/${id}/$transition`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    const entries = answer.body.entry ?? [];
    expect(entries[0]).toMatchObject({ resource: { resourceType: 'CarePlan', id }, search: { mode: 'match' } });
    const count = (type: string): number => entries.filter((e) => e.resource?.resourceType === type).length;
    expect(count('Patient')).toBe(1);
    expect(count('CareTeam')).toBe(1);
    expect(count('Goal')).toBe(4);
    expect(count('Coverage')).toBe(1);
    expect(count('MedicationRequest')).toBe(4);
    expect(count('Appointment')).toBe(2);
    expect(count('ServiceRequest')).toBe(3);
    // Caregiver tasks, referrals and the four TCM deadlines.
    expect(count('Task')).toBe(4 + 3 + 4);
    expect(count('RelatedPerson')).toBe(2);
    expect(count('Encounter')).toBe(1);
    expect(count('Organization')).toBeGreaterThanOrEqual(5);
    // Every reference inside resolves within the Bundle (nothing dangling but what the caller may not see).
    const present = new Set(entries.map((e) => `${e.resource?.resourceType}/${e.resource?.id}`));
    const carePlanRefs = JSON.stringify(entries[0]?.resource).match(/"reference":"([A-Za-z]+\/[^"]+)"/g) ?? [];
    for (const ref of carePlanRefs) {
      expect(present.has(ref.slice(13, -1))).toBe(true);
    }
  });

  it('$transition for an agency holds its own referral only; for an agency placed elsewhere and another hospital it is 404', async () => {
    const answer = await get<Bundle>(AGENCY_B, `/fhir/CarePlan/${id}/$transition`);
    expect(answer.status).toBe(200);
    const types = (answer.body.entry ?? []).map((e) => e.resource?.resourceType);
    expect(types.filter((t) => t === 'ServiceRequest')).toHaveLength(1);
    const referral = (answer.body.entry ?? []).map((e) => e.resource).filter((r): r is Task => r?.resourceType === 'Task' && r.code?.coding?.[0]?.code === 'fulfill');
    expect(referral.map((t) => t.owner?.display)).toEqual(['Inner Harbor Visiting Nurses']);
    // Agency B accepted, so the others' referrals were cancelled ("placed with another agency"): their access ended.
    expect((await get(AGENCY_C, `/fhir/CarePlan/${id}/$transition`)).status).toBe(404);
    expect((await get(OTHER_HOSPITAL, `/fhir/CarePlan/${id}/$transition`)).status).toBe(404);
    expect((await get(HOSPITAL, '/fhir/CarePlan/nope/$transition')).status).toBe(404);
  });

  it('the CapabilityStatement names $transition on CarePlan only', async () => {
    const metadata = (await (await fetch(`${server.url}/fhir/metadata`)).json()) as CapabilityStatement;
    const resources = metadata.rest?.[0]?.resource ?? [];
    expect(resources.find((r) => r.type === 'CarePlan')?.operation?.map((o) => o.name)).toContain('transition');
    expect(resources.find((r) => r.type === 'Patient')?.operation?.map((o) => o.name)).not.toContain('transition');
  });

  describe('GET /transitions', () => {
    beforeAll(async () => {
      // Two more transitions of the same hospital, for paging and filters.
      for (const n of [1, 2]) {
        const other: TransitionPlan = structuredClone(plan);
        other.identifier = { ...plan.identifier, value: `${plan.identifier.value}-${n}` };
        // Another stay of the same patient: one stay has one transition.
        other.hospitalStay.encounterIdentifier = { system: 'https://harborpoint-med.example/fhir/sid/encounter', value: `HP-IP-26-09331${n}` };
        other.referrals = plan.referrals?.slice(0, n);
        other.status = n === 2 ? 'completed' : 'active';
        expect((await server.http(HOSPITAL)('POST', '/transitions', other, { 'content-type': 'application/json' })).status).toBe(201);
      }
    });

    it('lists what the caller may see, newest first, with referral statuses', async () => {
      const all = (await get<List>(HOSPITAL, '/transitions')).body;
      expect(all.items).toHaveLength(3);
      expect(all.items[2]?.id).toBe(id);
      expect(all.items.map((i) => i.referrals.length)).toEqual([2, 1, 3]);
      expect((await get<List>(OTHER_HOSPITAL, '/transitions')).body.items).toEqual([]);
      expect((await get<List>(ADMIN, '/transitions')).body.items).toHaveLength(3);
      // An agency sees its patients' transitions (tenancy is by patient), and in them its own referrals only;
      // one placed elsewhere sees none.
      const seenByB = (await get<List>(AGENCY_B, '/transitions')).body.items;
      expect(seenByB.map((i) => i.referrals.map((r) => r.agency.display))).toEqual([['Inner Harbor Visiting Nurses'], [], ['Inner Harbor Visiting Nurses']]);
      expect((await get<List>(AGENCY_C, '/transitions')).body.items).toEqual([]);
    });

    it('pages with a stable cursor', async () => {
      const first = (await get<List>(HOSPITAL, '/transitions?_count=2')).body;
      expect(first.items).toHaveLength(2);
      expect(first.links.next).toMatch(/_count=2&_cursor=/);
      // A transition pushed meanwhile does not shift the next page.
      const late: TransitionPlan = { ...structuredClone(plan), identifier: { ...plan.identifier, value: 'late' } };
      late.hospitalStay.encounterIdentifier = { system: 'https://harborpoint-med.example/fhir/sid/encounter', value: 'HP-IP-26-099999' };
      expect((await server.http(HOSPITAL)('POST', '/transitions', late, { 'content-type': 'application/json' })).status).toBe(201);
      const next = (await get<List>(HOSPITAL, (first.links.next as string).slice(server.url.length))).body;
      expect(next.items.map((i) => i.id)).toEqual([id]);
      expect(next.links.next).toBeUndefined();
      expect(next.links.previous).toBeDefined();
    });

    it('filters by status, patient and agency', async () => {
      expect((await get<List>(HOSPITAL, '/transitions?status=completed')).body.items).toHaveLength(1);
      const patient = (await get<List>(HOSPITAL, '/transitions')).body.items[0]?.patient as string;
      const mrn = plan.patient.identifiers[0] as { system: string; value: string };
      expect((await get<List>(HOSPITAL, `/transitions?patient=${patient}`)).body.items).toHaveLength(4);
      expect((await get<List>(HOSPITAL, `/transitions?patient=${encodeURIComponent(`${mrn.system}|${mrn.value}`)}`)).body.items).toHaveLength(4);
      expect((await get<List>(HOSPITAL, '/transitions?patient=Patient/unknown')).body.items).toHaveLength(0);
      const npi = (value: string): string => encodeURIComponent(`http://hl7.org/fhir/sid/us-npi|${value}`);
      expect((await get<List>(HOSPITAL, `/transitions?agency=${npi('1455266175')}`)).body.items).toHaveLength(2);
      expect((await get<List>(HOSPITAL, `/transitions?agency=${npi('1877352900')}&status=active`)).body.items).toHaveLength(2);
      expect((await get<List>(HOSPITAL, `/transitions?agency=${npi('1877352900')}`)).body.items).toHaveLength(3);
      expect((await get<List>(AGENCY_A, '/transitions')).body.items).toHaveLength(4);
    });

    it('refuses what it does not understand: 400', async () => {
      expect((await get(HOSPITAL, '/transitions?colour=blue')).status).toBe(400);
      expect((await get(HOSPITAL, '/transitions?_count=0')).status).toBe(400);
      expect((await get(HOSPITAL, '/transitions?patient=a%20b')).status).toBe(400);
      expect((await server.http(HOSPITAL)('DELETE', `/transitions/${id}`)).status).toBe(405);
    });

    it('refuses a status that is no CarePlan status: 400 naming the parameter and the allowed values', async () => {
      for (const query of ['status=bogus', 'status=active,bogus']) {
        const answer = await get<OperationOutcome>(HOSPITAL, `/transitions?${query}`);
        expect(answer.status).toBe(400);
        expect(answer.body.resourceType).toBe('OperationOutcome');
        const issue = answer.body.issue?.[0];
        expect(issue?.expression).toEqual(['status']);
        expect(issue?.details?.text).toContain('"bogus"');
        expect(issue?.details?.text).toContain('draft, active, on-hold, revoked, completed, entered-in-error');
      }
      // Allowed values, alone and together, are a search (no CarePlan of this hospital is on hold).
      expect((await get<List>(HOSPITAL, '/transitions?status=on-hold')).body.items).toEqual([]);
      expect((await get<List>(HOSPITAL, '/transitions?status=completed,on-hold')).body.items).toHaveLength(1);
    });
  });
});
