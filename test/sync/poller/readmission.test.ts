// Admissions the poller pulls from the hospital's EHR go through the same readmission rule as a
// pushed Encounter or an admit notification: an inpatient stay within 30 days of a discharge is
// recorded on that discharge's transition, though the EHR's copy of the patient is another Patient
// resource than the one the plan made (they share the MRN). Another hospital's transition of a
// patient with the same MRN is not touched, nor is an outpatient visit or a stay outside the window.
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { CarePlan, Encounter, Patient } from '@medplum/fhirtypes';
import { callerFor } from '../../../src/auth/access/policy.ts';
import type { Principal } from '../../../src/auth/principal.ts';
import { transitionCategory } from '../../../src/mapping/careplan.ts';
import type { FhirStore } from '../../../src/store/fhir-store.ts';
import { pollPeer } from '../../../src/sync/poller/ehr-poller.ts';
import { peerPrincipal } from '../../../src/sync/poller/peer-caller.ts';
import { loadDefinitions } from '../../../src/validation/definitions.ts';
import { readmissionsOf } from '../../../src/workflow/readmission.ts';
import { startEhrServer } from './support/ehr-server.ts';
import type { EhrServer } from './support/ehr-server.ts';
import { NOW, at, copyOf, disposeSqlite, ehrPeer, encounter, openSqlite, patient } from './support/poll-fixtures.ts';

let ehr: EhrServer;
let store: FhirStore;
const now = (): Date => NOW;

beforeAll(() => {
  loadDefinitions();
});

beforeEach(async () => {
  ehr = await startEhrServer();
  store = await openSqlite();
});

afterEach(async () => {
  await ehr.close();
  await disposeSqlite(store);
});

/** A transition the hospital (or `writer`) pushed: its own Patient, keyed by the MRN the EHR uses too, discharged on `dischargedAt`. */
async function transition(mrn: string, dischargedAt: string, writer: Principal): Promise<string> {
  const as = store.forCaller(callerFor(writer));
  const own: Patient = { resourceType: 'Patient', identifier: [{ system: 'urn:oid:2.16.840.1.113883.19.5', value: mrn }], name: [{ family: 'Nguyen', given: ['Thi'] }] };
  const patientId = (await as.create(own)).version.id;
  const carePlan: CarePlan = { resourceType: 'CarePlan', status: 'active', intent: 'plan', category: [transitionCategory()], subject: { reference: `Patient/${patientId}` }, period: { start: dischargedAt } };
  return (await as.create(carePlan)).version.id;
}

const readmissions = async (carePlan: string): Promise<ReturnType<typeof readmissionsOf>> => readmissionsOf((await store.read('CarePlan', carePlan))?.resource as CarePlan);

describe('admissions polled from the EHR', () => {
  it('an inpatient stay within 30 days of a discharge is recorded on that transition, though the EHR\'s patient copy is another Patient', async () => {
    const hospital = peerPrincipal(ehrPeer(ehr.baseUrl));
    const carePlan = await transition('MRN-p1', '2026-11-05T15:00:00Z', hospital);
    await ehr.seed(patient('p1'), at(0));
    await ehr.seed(encounter('e1', 'Patient/p1'), at(1)); // admitted 2026-11-10: 5 days after
    const result = await pollPeer(ehrPeer(ehr.baseUrl), { store, now });
    expect(result.ok).toBe(true);
    const copy = await copyOf<Encounter>(store, ehr.baseUrl, 'Encounter', 'e1');
    const transitionPatient = ((await store.read('CarePlan', carePlan))?.resource as CarePlan).subject?.reference;
    expect(copy.subject?.reference).not.toBe(transitionPatient);
    expect(await readmissions(carePlan)).toEqual([{ encounter: `Encounter/${copy.id}`, admittedOn: '2026-11-10', daysAfterDischarge: 5 }]);
  });

  it('polled again, the same admission is recorded once', async () => {
    const carePlan = await transition('MRN-p1', '2026-11-05T15:00:00Z', peerPrincipal(ehrPeer(ehr.baseUrl)));
    await ehr.seed(patient('p1'), at(0));
    await ehr.seed(encounter('e1', 'Patient/p1'), at(1));
    await pollPeer(ehrPeer(ehr.baseUrl), { store, now });
    const version = (await store.read('CarePlan', carePlan))?.versionId;
    await ehr.seed(encounter('e1', 'Patient/p1', { period: { start: '2026-11-10T08:00:00Z', end: '2026-11-19T17:00:00Z' } }), at(5));
    await pollPeer(ehrPeer(ehr.baseUrl), { store, now });
    expect(await readmissions(carePlan)).toHaveLength(1);
    expect((await store.read('CarePlan', carePlan))?.versionId).toBe(version);
  });

  it('an outpatient visit, a stay past the window, or another hospital\'s transition of the same MRN is not a readmission', async () => {
    const hospital = peerPrincipal(ehrPeer(ehr.baseUrl));
    const other: Principal = { ...hospital, clientId: 'other-hospital', organization: { system: 'urn:test', value: 'another-hospital' } };
    const tooEarly = await transition('MRN-p1', '2026-10-10T15:00:00Z', hospital); // 2026-11-10 is day 31
    const elsewhere = await transition('MRN-p2', '2026-11-05T15:00:00Z', other);
    const clinic = await transition('MRN-p3', '2026-11-05T15:00:00Z', hospital);
    for (const id of ['p1', 'p2', 'p3']) {
      await ehr.seed(patient(id), at(0));
    }
    await ehr.seed(encounter('e1', 'Patient/p1'), at(1));
    await ehr.seed(encounter('e2', 'Patient/p2'), at(2));
    await ehr.seed(encounter('e3', 'Patient/p3', { class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' } }), at(3));
    expect((await pollPeer(ehrPeer(ehr.baseUrl), { store, now })).ok).toBe(true);
    expect(await readmissions(tooEarly)).toEqual([]);
    expect(await readmissions(elsewhere)).toEqual([]);
    expect(await readmissions(clinic)).toEqual([]);
  });
});
