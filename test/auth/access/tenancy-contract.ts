// Tenant isolation at the store, as each role sees it: the same scenario on SQLite and PostgreSQL.
// Hospital A refers its patient to agencies X and Y (a broadcast) and names case-management
// organization C on the care team; hospital B has a patient of its own.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OperationOutcomeError, parseSearchRequest } from '@medplum/core';
import type { Resource, Task } from '@medplum/fhirtypes';
import { callerFor } from '../../../src/auth/access/policy.ts';
import type { ClientRole, Principal } from '../../../src/auth/principal.ts';
import { parseScopes } from '../../../src/auth/scopes.ts';
import type { FhirStore } from '../../../src/store/fhir-store.ts';

const ORG = 'http://example.org/orgs';

export function principal(role: ClientRole, value: string, scopes = 'system/*.cruds'): Principal {
  return { clientId: `${value}-client`, clientName: value, role, organization: { system: ORG, value }, scopes: parseScopes(scopes).scopes };
}

export const HOSPITAL_A = principal('hospital', 'hospital-a');
export const HOSPITAL_B = principal('hospital', 'hospital-b');
export const AGENCY_X = principal('agency', 'agency-x');
export const AGENCY_Y = principal('agency', 'agency-y');
export const CASE_MANAGER_C = principal('case-management', 'cm-c');
export const ADMIN = principal('admin', 'carebridge-ops');

export interface Scenario {
  ids: Record<string, string>;
}

/** What hospital A and B push (as themselves), returning the ids carebridge assigned. */
export async function seedScenario(store: FhirStore): Promise<Scenario> {
  const ids: Record<string, string> = {};
  const a = store.forCaller(callerFor(HOSPITAL_A));
  await a.transaction(async (tx) => {
    const org = async (key: string, value: string): Promise<void> => {
      ids[key] = (await tx.create({ resourceType: 'Organization', identifier: [{ system: ORG, value }], name: value } as Resource)).version.id;
    };
    await org('orgX', 'agency-x');
    await org('orgY', 'agency-y');
    await org('orgC', 'cm-c');
    ids.patientP = (await tx.create({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn:a', value: 'P-1' }] } as Resource)).version.id;
    const subject = { reference: `Patient/${ids.patientP}` };
    ids.carePlanP = (await tx.create({ resourceType: 'CarePlan', status: 'active', intent: 'plan', subject } as Resource)).version.id;
    ids.coverageP = (await tx.create({ resourceType: 'Coverage', status: 'active', beneficiary: subject, payor: [{ reference: `Organization/${ids.orgC}` }] } as Resource)).version.id;
    ids.careTeamP = (await tx.create({ resourceType: 'CareTeam', subject, participant: [{ member: { display: 'Case manager' }, onBehalfOf: { reference: `Organization/${ids.orgC}` } }] } as Resource)).version.id;
    const referral = (owner: string): Resource => ({ resourceType: 'Task', status: 'requested', intent: 'order', for: subject, owner: { reference: `Organization/${owner}` } }) as Resource;
    ids.taskX = (await tx.create(referral(ids.orgX as string))).version.id;
    ids.taskY = (await tx.create(referral(ids.orgY as string))).version.id;
  });
  const b = store.forCaller(callerFor(HOSPITAL_B));
  ids.patientQ = (await b.create({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn:b', value: 'Q-1' }] } as Resource)).version.id;
  ids.carePlanQ = (await b.create({ resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: `Patient/${ids.patientQ}` } } as Resource)).version.id;
  return { ids };
}

async function ids(store: FhirStore, query: string): Promise<string[]> {
  const result = await store.search(parseSearchRequest(query));
  return [...result.resources, ...result.included].map((r) => `${r.resourceType}/${r.id}`).sort();
}

async function refused(work: Promise<unknown>): Promise<number> {
  try {
    await work;
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return err.outcome.issue?.[0]?.code === 'forbidden' ? 403 : err.outcome.id === 'not-found' ? 404 : 400;
    }
    throw err;
  }
  return 200;
}

export function describeTenancy(name: string, open: () => Promise<FhirStore>, dispose: (store: FhirStore) => Promise<void>): void {
  describe(`tenancy (${name})`, () => {
    let store: FhirStore;
    let s: Scenario['ids'];
    const as = (p: Principal): FhirStore => store.forCaller(callerFor(p));

    beforeAll(async () => {
      store = await open();
      s = (await seedScenario(store)).ids;
    });
    afterAll(async () => {
      await dispose(store);
    });

    it('a hospital sees the patients it sent, not another hospital\'s', async () => {
      expect(await ids(as(HOSPITAL_A), 'Patient')).toEqual([`Patient/${s.patientP}`]);
      expect(await ids(as(HOSPITAL_B), 'Patient')).toEqual([`Patient/${s.patientQ}`]);
      expect(await as(HOSPITAL_B).read('Patient', s.patientP as string)).toBeUndefined();
      expect(await ids(as(HOSPITAL_B), `Patient?_id=${s.patientP}`)).toEqual([]);
      expect((await as(HOSPITAL_B).search(parseSearchRequest('CarePlan?_total=accurate'))).total).toBe(1);
    });

    it('an agency sees the patients of its referrals, and not the other agencies\' referrals', async () => {
      expect(await ids(as(AGENCY_X), 'Patient')).toEqual([`Patient/${s.patientP}`]);
      expect(await ids(as(AGENCY_X), 'Task')).toEqual([`Task/${s.taskX}`]);
      expect(await ids(as(AGENCY_Y), 'Task')).toEqual([`Task/${s.taskY}`]);
      expect(await as(AGENCY_X).read('Task', s.taskY as string)).toBeUndefined();
      expect(await ids(as(AGENCY_X), 'CarePlan')).toEqual([`CarePlan/${s.carePlanP}`]);
    });

    it('no leak through _revinclude, _include, chains, history or totals', async () => {
      expect(await ids(as(AGENCY_X), `Patient?_id=${s.patientP}&_revinclude=Task:patient`)).toEqual([`Patient/${s.patientP}`, `Task/${s.taskX}`].sort());
      expect(await ids(as(AGENCY_X), `Task?_include=Task:owner`)).toEqual([`Organization/${s.orgX}`, `Task/${s.taskX}`].sort());
      expect(await ids(as(HOSPITAL_B), 'CarePlan?subject:Patient.identifier=urn:mrn:a|P-1')).toEqual([]);
      expect(await ids(as(HOSPITAL_A), 'CarePlan?subject:Patient.identifier=urn:mrn:a|P-1')).toEqual([`CarePlan/${s.carePlanP}`]);
      const history = await as(AGENCY_X).history('Task', undefined, { count: 100 });
      expect(history.map((v) => v.id)).toEqual([s.taskX]);
      const all = await as(HOSPITAL_B).history(undefined, undefined, { count: 100 });
      // Directory data (the Organizations) is everyone's; no other hospital's patient data is.
      expect(new Set(all.map((v) => v.id))).toEqual(new Set([s.patientQ, s.carePlanQ, s.orgX, s.orgY, s.orgC]));
      expect(await as(HOSPITAL_B).vread('Patient', s.patientP as string, '1')).toBeUndefined();
      expect((await as(AGENCY_Y).search(parseSearchRequest('Task?_total=accurate'))).total).toBe(1);
    });

    it('a case manager reads Coverage and CarePlan of the patients its organization is on the care team of', async () => {
      expect(await ids(as(CASE_MANAGER_C), 'Coverage')).toEqual([`Coverage/${s.coverageP}`]);
      expect(await ids(as(CASE_MANAGER_C), 'CarePlan')).toEqual([`CarePlan/${s.carePlanP}`]);
      expect(await as(CASE_MANAGER_C).read('Task', s.taskX as string)).toBeUndefined();
      expect(await refused(as(CASE_MANAGER_C).update({ ...(await store.read('Coverage', s.coverageP as string))?.resource, status: 'cancelled' } as Resource))).toBe(403);
    });

    it('conditional create matches only the caller\'s own resources', async () => {
      const condition = 'identifier=urn:mrn:a|P-1';
      const fromB = await as(HOSPITAL_B).create({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn:a', value: 'P-1' }] } as Resource, { ifNoneExist: condition });
      expect(fromB.outcome).toBe('created');
      expect(fromB.version.id).not.toBe(s.patientP);
      const fromA = await as(HOSPITAL_A).create({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn:a', value: 'P-1' }] } as Resource, { ifNoneExist: condition });
      expect(fromA).toMatchObject({ outcome: 'existing', version: { id: s.patientP } });
      await as(ADMIN).delete('Patient', fromB.version.id);
    });

    it('a tenant cannot write itself into another tenant\'s patient, nor update what it cannot see', async () => {
      const observation = (patient: string): Resource => ({ resourceType: 'Observation', status: 'final', code: { text: 'visit' }, subject: { reference: `Patient/${patient}` } }) as Resource;
      expect(await refused(as(HOSPITAL_B).create(observation(s.patientP as string)))).toBe(403);
      expect(await ids(as(HOSPITAL_B), 'Patient')).toEqual([`Patient/${s.patientQ}`]);
      expect(await refused(as(HOSPITAL_B).update({ resourceType: 'Patient', id: s.patientP, active: false } as Resource))).toBe(404);
      expect(await refused(as(HOSPITAL_B).delete('Patient', s.patientP as string).then((r) => (r ? r : Promise.reject(new OperationOutcomeError({ resourceType: 'OperationOutcome', id: 'not-found', issue: [] })))))).toBe(404);
      expect(await refused(as(AGENCY_X).create(observation(s.patientQ as string)))).toBe(403);
      expect(await refused(as(AGENCY_X).create(observation(s.patientP as string)))).toBe(200);
    });

    it('an agency changes only the status of its referral; rejecting it ends its access', async () => {
      const task = (await as(AGENCY_X).read('Task', s.taskX as string))?.resource as Task;
      expect(await refused(as(AGENCY_X).update({ ...task, description: 'rewritten' } as Resource))).toBe(403);
      expect(await refused(as(AGENCY_X).update({ ...task, owner: { reference: `Organization/${s.orgY}` } } as Resource))).toBe(403);
      expect(await refused(as(AGENCY_X).create({ resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${s.patientP}` } } as Resource))).toBe(403);
      const rejected = await as(AGENCY_X).update({ ...task, status: 'rejected', statusReason: { text: 'No capacity' } } as Resource, { ifMatch: task.meta?.versionId });
      expect(rejected.outcome).toBe('updated');
      expect(await ids(as(AGENCY_X), 'Patient')).toEqual([]);
      expect(await as(AGENCY_X).read('CarePlan', s.carePlanP as string)).toBeUndefined();
      // Agency Y's referral is untouched: Y still sees the patient.
      expect(await ids(as(AGENCY_Y), 'Patient')).toEqual([`Patient/${s.patientP}`]);
    });

    it('admin sees everything', async () => {
      expect((await ids(as(ADMIN), 'Patient')).length).toBeGreaterThanOrEqual(2);
      expect(await ids(as(ADMIN), 'Task')).toEqual([`Task/${s.taskX}`, `Task/${s.taskY}`].sort());
    });
  });
}
