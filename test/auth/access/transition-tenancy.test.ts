// A whole transition pushed by its hospital, seen by each party: the referred agencies of a
// broadcast see the patient and only their own referral; another hospital sees nothing.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseSearchRequest } from '@medplum/core';
import type { Bundle } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transaction } from '../../../src/api/fhir/transaction.ts';
import { callerFor } from '../../../src/auth/access/policy.ts';
import type { ClientRole, Principal } from '../../../src/auth/principal.ts';
import { parseScopes } from '../../../src/auth/scopes.ts';
import type { FhirStore } from '../../../src/store/fhir-store.ts';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../../../src/validation/definitions.ts';
import { readJson } from '../../support/fixtures.ts';

const NPI = 'http://hl7.org/fhir/sid/us-npi';
const as = (role: ClientRole, npi: string): Principal => ({ clientId: npi, clientName: npi, role, organization: { system: NPI, value: npi }, scopes: parseScopes('system/*.cruds').scopes });
const HOSPITAL = as('hospital', '1599024316');
const OTHER_HOSPITAL = as('hospital', '1144246767');
const AGENCIES = ['1266190432', '1877352900', '1455266175'].map((npi) => as('agency', npi));

describe('a broadcast transition as each party sees it', () => {
  let dir: string;
  let store: SqliteStore;
  const view = (p: Principal): FhirStore => store.forCaller(callerFor(p));
  const ids = async (p: Principal, query: string): Promise<string[]> => (await view(p).search(parseSearchRequest(query))).resources.map((r) => r.id as string);

  beforeAll(async () => {
    loadDefinitions();
    dir = mkdtempSync(join(tmpdir(), 'carebridge-transition-tenancy-'));
    store = await SqliteStore.open(join(dir, 'carebridge.db'));
    const bundle = readJson('golden/broadcast-three-agencies.bundle.json') as Bundle;
    const response = await transaction(view(HOSPITAL), { method: 'POST', path: '', query: [], headers: {}, baseUrl: 'http://localhost/fhir', principal: HOSPITAL }, bundle);
    expect(response.status).toBe(200);
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('each referred agency sees the patient, the plan, the caregiver tasks and its own referral only', async () => {
    const referrals = await ids(HOSPITAL, 'Task?code=fulfill');
    expect(referrals).toHaveLength(3);
    const caregiverTasks = (await ids(HOSPITAL, 'Task')).length - 3;
    for (const agency of AGENCIES) {
      expect(await ids(agency, 'Patient')).toHaveLength(1);
      expect(await ids(agency, 'CarePlan')).toHaveLength(1);
      const own = await ids(agency, 'Task?code=fulfill');
      expect(own).toHaveLength(1);
      expect(referrals).toContain(own[0]);
      expect(await ids(agency, 'Task')).toHaveLength(caregiverTasks + 1);
    }
  });

  it('another hospital sees none of it', async () => {
    for (const type of ['Patient', 'CarePlan', 'Task', 'Coverage', 'CareTeam', 'Goal', 'Appointment']) {
      expect(await ids(OTHER_HOSPITAL, type)).toEqual([]);
    }
  });

  it('pushing the same plan again as the hospital updates the same resources', async () => {
    const before = await ids(HOSPITAL, 'Task');
    const bundle = readJson('golden/broadcast-three-agencies.bundle.json') as Bundle;
    await transaction(view(HOSPITAL), { method: 'POST', path: '', query: [], headers: {}, baseUrl: 'http://localhost/fhir', principal: HOSPITAL }, bundle);
    expect((await ids(HOSPITAL, 'Task')).sort()).toEqual(before.sort());
    expect(await ids(HOSPITAL, 'Patient')).toHaveLength(1);
  });
});
