// The TCM deadlines wherever a discharge becomes known, over HTTP: a discharge notification alone
// (owned by the hospital until the plan names a coordinator), a raw POST /fhir transaction Bundle,
// a CarePlan written through /fhir. Re-delivery and a later plan push never duplicate them; a moved
// discharge re-dates them, and a deadline the sweep had settled is judged again — its overdue mark
// cleared when the new due time lies ahead, set again when it has passed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, CarePlan, CareTeam, Communication, Task } from '@medplum/fhirtypes';
import { withClockDefaults } from '../../../src/config/clock.ts';
import { defaultMappingContext } from '../../../src/mapping/context.ts';
import { toFhir } from '../../../src/mapping/to-fhir.ts';
import { SYSTEMS } from '../../../src/model/terminology.ts';
import type { TransitionPlan } from '../../../src/model/transition-plan.ts';
import { validateFhirResource } from '../../../src/validation/fhir-validator.ts';
import { sweepDeadlines } from '../../../src/workflow/tcm-sweep.ts';
import type { AuthTestServer } from '../../auth/support/auth-server.ts';
import { startAuthTestServer } from '../../auth/support/auth-server.ts';
import { readPlan } from '../../support/fixtures.ts';
import { notification } from '../fhir/support/notification.ts';
import { toPatient } from '../../../src/mapping/patient.ts';
import { ADMIN, HOSPITAL, PARTIES } from './support.ts';

const codeOf = (t: Task): string | undefined => t.code?.coding?.[0]?.code;
const businessOf = (t: Task): string | undefined => t.businessStatus?.coding?.[0]?.code;
const at = (iso: string): number => Date.parse(iso);

describe('TCM deadlines on every path a discharge arrives by', () => {
  let server: AuthTestServer;
  const plan = readPlan('broadcast-three-agencies.json'); // Harbor Point, discharged Mon 2026-11-30 16:20 EST, moderate

  beforeAll(async () => {
    server = await startAuthTestServer({ principals: PARTIES, tcmClock: withClockDefaults({ hospitals: [{ identifier: plan.hospitalStay.dischargingOrganization.identifier, timeZone: 'America/New_York' }] }) });
  });
  afterAll(() => server.stop());

  const deadlines = async (carePlan: string): Promise<Task[]> => {
    const found = await server.as(ADMIN)('GET', `Task?based-on=${carePlan}&code=${encodeURIComponent(SYSTEMS.tcmDeadline)}%7C&_count=50`);
    return ((found.body as Bundle).entry ?? []).map((e) => e.resource as Task);
  };
  /** The transition's deadlines the sweep would still judge (Task?open-deadline). */
  const openDeadlines = async (carePlan: string): Promise<Task[]> => {
    const found = await server.as(ADMIN)('GET', 'Task?open-deadline=lt2027-02-01&_count=100');
    return ((found.body as Bundle).entry ?? []).map((e) => e.resource as Task).filter((t) => t.basedOn?.[0]?.reference === carePlan);
  };
  const byKind = (tasks: Task[]): Record<string, Task> => Object.fromEntries(tasks.map((t) => [codeOf(t) as string, t]));
  const dues = (tasks: Task[]): Record<string, string | undefined> => Object.fromEntries(tasks.map((t) => [codeOf(t), t.restriction?.period?.end]));
  const versions = (tasks: Task[]): Record<string, string | undefined> => Object.fromEntries(tasks.map((t) => [t.id, t.meta?.versionId]));

  describe('a discharge known from a notification first, the plan pushed later', () => {
    const hospital = plan.hospitalStay.dischargingOrganization;
    const discharge = {
      event: 'notification-discharge' as const,
      patient: toPatient(plan.patient),
      visit: plan.hospitalStay.encounterIdentifier?.value as string,
      admittedAt: plan.hospitalStay.admittedAt,
      dischargedAt: plan.hospitalStay.dischargedAt,
      sender: { ...hospital.identifier, name: hospital.name },
    };
    const message = notification(discharge);
    let carePlan: string;
    let first: Task[];

    it('creates the four deadlines with the draft, owned by the hospital, the visit due in 7 days until a plan says otherwise', async () => {
      const answer = await server.http(HOSPITAL)('POST', '/fhir/$process-message', message);
      expect(answer.status).toBe(200);
      carePlan = `CarePlan/${/CarePlan\/([A-Za-z0-9-]+)/.exec(answer.text)?.[1]}`;
      first = await deadlines(carePlan);
      expect(dues(first)).toEqual({
        'interactive-contact': '2026-12-02T23:59:59-05:00',
        'face-to-face-visit': '2026-12-07T23:59:59-05:00',
        'medication-reconciliation': '2026-12-07T23:59:59-05:00',
        'tcm-period-end': '2026-12-29T23:59:59-05:00',
      });
      const owners = new Set(first.map((t) => t.owner?.reference));
      expect(owners.size).toBe(1);
      const [owner] = [...owners];
      expect(owner).toMatch(/^Organization\//);
      expect(((await server.as(ADMIN)('GET', owner as string)).body as { identifier?: { value?: string }[] }).identifier?.map((i) => i.value)).toContain(hospital.identifier.value);
      expect(first.every((t) => t.status === 'requested' && t.for?.reference?.startsWith('Patient/') && t.restriction?.period?.start === plan.hospitalStay.dischargedAt)).toBe(true);
      // What the rule writes is valid R4, as anything a client writes must be.
      expect(first.flatMap((t) => validateFhirResource(t).filter((i) => i.severity === 'error'))).toEqual([]);
    });

    it('writes nothing more when the message is delivered again, or another message tells the same discharge', async () => {
      expect((await server.http(HOSPITAL)('POST', '/fhir/$process-message', message)).status).toBe(200);
      expect((await server.http(HOSPITAL)('POST', '/fhir/$process-message', notification(discharge))).status).toBe(200);
      const after = await deadlines(carePlan);
      expect(versions(after)).toEqual(versions(first));
    });

    it('the sweep marks the unmet contact overdue', async () => {
      expect(await sweepDeadlines(server.store, at('2026-12-03T00:01:00-05:00'))).toMatchObject({ due: 1, overdue: 1 });
      expect(businessOf(byKind(await deadlines(carePlan))['interactive-contact'] as Task)).toBe('overdue');
    });

    it('a corrected discharge date re-dates the deadlines and clears the overdue mark its new due time no longer earns', async () => {
      // The ADT system corrects the discharge to Tuesday morning: the contact is now due Thursday.
      const answer = await server.http(HOSPITAL)('POST', '/fhir/$process-message', notification({ ...discharge, dischargedAt: '2026-12-01T10:00:00-05:00' }));
      expect(answer.status).toBe(200);
      const moved = byKind(await deadlines(carePlan));
      const contact = moved['interactive-contact'] as Task;
      expect(contact.restriction?.period).toEqual({ start: '2026-12-01T10:00:00-05:00', end: '2026-12-03T23:59:59-05:00' });
      expect([contact.status, contact.businessStatus, contact.output]).toEqual(['requested', undefined, undefined]);
      expect(moved['face-to-face-visit']?.restriction?.period?.end).toBe('2026-12-08T23:59:59-05:00');
      // Judged again at the same instant: not due yet, so nothing to settle.
      expect(await sweepDeadlines(server.store, at('2026-12-03T00:01:00-05:00'))).toMatchObject({ due: 0 });
      const timeline = (await server.http(HOSPITAL)('GET', `/transitions/${carePlan.slice('CarePlan/'.length)}/timeline`)).body as { deadlines: { kind: string; state: string }[] };
      expect(timeline.deadlines.find((d) => d.kind === 'interactive-contact')?.state).toBe('open');
    });

    it('the plan pushed for the stay fills in the same deadlines: the coordinator owns them, the visit is due per the plan, no second set', async () => {
      const pushed = await server.http(HOSPITAL)('POST', '/transitions', plan, { 'content-type': 'application/json' });
      expect(pushed.status).toBe(200);
      const tasks = await deadlines(carePlan);
      expect(tasks.map((t) => t.id).sort()).toEqual(first.map((t) => t.id).sort());
      expect(dues(tasks)).toEqual({
        'interactive-contact': '2026-12-02T23:59:59-05:00',
        'face-to-face-visit': '2026-12-14T23:59:59-05:00',
        'medication-reconciliation': '2026-12-14T23:59:59-05:00',
        'tcm-period-end': '2026-12-29T23:59:59-05:00',
      });
      const careTeam = ((await server.as(ADMIN)('GET', `CareTeam?subject=${tasks[0]?.for?.reference}`)).body as Bundle).entry?.[0]?.resource as CareTeam;
      const coordinator = careTeam.participant?.find((p) => p.role?.[0]?.coding?.[0]?.code === 'care-coordinator')?.member?.reference;
      expect(coordinator).toMatch(/^Practitioner\//);
      expect(tasks.every((t) => t.owner?.reference === coordinator)).toBe(true);
      // The discharge moved back: the contact's due time has passed again, and the sweep says so.
      expect(await sweepDeadlines(server.store, at('2026-12-03T00:01:00-05:00'))).toMatchObject({ due: 1, overdue: 1 });
    });

    it('the same plan pushed again changes no deadline', async () => {
      const before = await deadlines(carePlan);
      expect((await server.http(HOSPITAL)('POST', '/transitions', plan, { 'content-type': 'application/json' })).status).toBe(200);
      expect(versions(await deadlines(carePlan))).toEqual(versions(before));
    });
  });

  describe('a transition written as FHIR (POST /fhir transaction, PUT CarePlan)', () => {
    const other: TransitionPlan = structuredClone(plan);
    other.identifier = { ...plan.identifier, value: 'HPMC-2026-11-30-RAW' };
    other.patient.identifiers = [{ system: plan.patient.identifiers[0]?.system as string, value: 'HP-RAW-1' }];
    other.hospitalStay.encounterIdentifier = { system: plan.hospitalStay.encounterIdentifier?.system as string, value: 'HP-IP-RAW-1' };
    let carePlan: string;
    let patient: string;

    it('a transaction Bundle carrying a transition gets its deadlines, owned by the CareTeam\'s coordinator', async () => {
      const posted = await server.as(HOSPITAL)('POST', '', toFhir(other, defaultMappingContext()));
      expect(posted.status).toBe(200);
      const id = ((posted.body as Bundle).entry ?? []).map((e) => /\/CarePlan\/([^/]+)\/_history\//.exec(e.response?.location ?? '')?.[1]).find((x) => x !== undefined);
      carePlan = `CarePlan/${id}`;
      const tasks = await deadlines(carePlan);
      expect(dues(tasks)).toEqual({
        'interactive-contact': '2026-12-02T23:59:59-05:00',
        'face-to-face-visit': '2026-12-14T23:59:59-05:00',
        'medication-reconciliation': '2026-12-14T23:59:59-05:00',
        'tcm-period-end': '2026-12-29T23:59:59-05:00',
      });
      expect(tasks.every((t) => t.owner?.reference?.startsWith('Practitioner/'))).toBe(true);
      patient = tasks[0]?.for?.reference as string;
    });

    it('the same Bundle posted again changes no deadline', async () => {
      const before = await deadlines(carePlan);
      expect((await server.as(HOSPITAL)('POST', '', toFhir(other, defaultMappingContext()))).status).toBe(200);
      expect(versions(await deadlines(carePlan))).toEqual(versions(before));
    });

    it('a contact met, then a discharge corrected to after it: the deadline opens again and the sweep finds it unmet', async () => {
      const contact: Communication = { resourceType: 'Communication', status: 'completed', subject: { reference: patient }, sent: '2026-12-01T11:00:00-05:00', category: [{ coding: [{ system: SYSTEMS.tcmDeadline, code: 'interactive-contact' }] }] };
      expect((await server.as(HOSPITAL)('POST', 'Communication', contact)).status).toBe(201);
      expect(await sweepDeadlines(server.store, at('2026-12-03T00:01:00-05:00'))).toMatchObject({ met: 1 });
      expect(byKind(await deadlines(carePlan))['interactive-contact']?.status).toBe('completed');

      // The stay really ended Tuesday at noon: the call at 11:00 was still in hospital.
      const stored = (await server.as(HOSPITAL)('GET', carePlan)).body as CarePlan;
      const put = await server.as(HOSPITAL)('PUT', carePlan, { ...stored, period: { start: '2026-12-01T12:00:00-05:00' } });
      expect(put.status).toBe(200);
      const reopened = byKind(await deadlines(carePlan))['interactive-contact'] as Task;
      expect([reopened.status, reopened.output, reopened.restriction?.period?.end]).toEqual(['requested', undefined, '2026-12-03T23:59:59-05:00']);
      expect(await sweepDeadlines(server.store, at('2026-12-04T00:01:00-05:00'))).toMatchObject({ due: 1, overdue: 1 });
      expect(businessOf(byKind(await deadlines(carePlan))['interactive-contact'] as Task)).toBe('overdue');
    });

    it('a transition revoked cancels the deadlines not met; active again, they run again', async () => {
      const stored = (await server.as(HOSPITAL)('GET', carePlan)).body as CarePlan;
      expect((await server.as(HOSPITAL)('PUT', carePlan, { ...stored, status: 'revoked' })).status).toBe(200);
      expect(new Set((await deadlines(carePlan)).map((t) => t.status))).toEqual(new Set(['cancelled']));
      expect(await openDeadlines(carePlan)).toEqual([]);
      const revoked = (await server.as(HOSPITAL)('GET', carePlan)).body as CarePlan;
      expect((await server.as(HOSPITAL)('PUT', carePlan, { ...revoked, status: 'active' })).status).toBe(200);
      expect(new Set((await deadlines(carePlan)).map((t) => t.status))).toEqual(new Set(['requested']));
      expect(await openDeadlines(carePlan)).toHaveLength(4);
    });

    it('a transition deleted cancels its deadlines: none is left for the sweep to mark', async () => {
      expect((await server.as(HOSPITAL)('DELETE', carePlan)).status).toBe(200);
      expect(new Set((await deadlines(carePlan)).map((t) => t.status))).toEqual(new Set(['cancelled']));
      expect(await openDeadlines(carePlan)).toEqual([]);
    });
  });
});
