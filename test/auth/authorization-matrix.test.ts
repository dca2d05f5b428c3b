// The authorization matrix: every role × resource type × interaction × own/other tenant, over
// HTTP, against what the issue says each role may do. Expected outcomes come from the SPEC below
// (written from the requirements, not from the policy code); the test counts leaks — a hidden
// resource that answered — and requires zero.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { callerFor } from '../../src/auth/access/policy.ts';
import type { ClientRole, Principal } from '../../src/auth/principal.ts';
import { parseScopes } from '../../src/auth/scopes.ts';
import { RESOURCE_TYPES } from '../../src/api/fhir/supported.ts';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import { minimalResource } from './support/minimal-resources.ts';
import type { AuthTestServer } from './support/auth-server.ts';
import { startAuthTestServer } from './support/auth-server.ts';

const ORG = 'http://example.org/orgs';
const DIRECTORY = ['Organization', 'Practitioner', 'PractitionerRole', 'Location', 'HealthcareService'];
/** Directory data that only the agency it describes (and admins) write: "agencies for their own org". */
const AGENCY_DIRECTORY = ['HealthcareService'];
const HOSPITAL_DIRECTORY = DIRECTORY.filter((t) => !AGENCY_DIRECTORY.includes(t));
const AUDIT = ['AuditEvent', 'Provenance'];
/** "A subscriber sees only what its tenant may see": every role subscribes, and sees only its own Subscriptions. */
const OWN = ['Subscription'];
const CLINICAL = RESOURCE_TYPES.filter((t) => !DIRECTORY.includes(t) && !AUDIT.includes(t));

/** What each role may do, from the issue: "hospital reads and writes the transitions it sent…". */
const SPEC: Record<ClientRole, { read: string[]; create: string[]; update: string[]; delete: string[] }> = {
  hospital: { read: [...CLINICAL, ...DIRECTORY], create: [...CLINICAL, ...HOSPITAL_DIRECTORY], update: [...CLINICAL, ...HOSPITAL_DIRECTORY], delete: [...CLINICAL, ...HOSPITAL_DIRECTORY] },
  agency: {
    read: ['CarePlan', 'CareTeam', 'Goal', 'Task', 'ServiceRequest', 'Appointment', 'AppointmentResponse', 'Coverage', 'CoverageEligibilityResponse', 'Patient', 'RelatedPerson', 'Encounter', 'Condition', 'Observation', 'Communication', 'MedicationRequest', 'MedicationStatement', ...DIRECTORY, ...OWN],
    create: ['AppointmentResponse', 'Observation', 'Communication', ...AGENCY_DIRECTORY, ...OWN],
    update: ['Task', 'AppointmentResponse', 'Observation', 'Communication', ...AGENCY_DIRECTORY, ...OWN],
    delete: ['Observation', 'Communication', ...AGENCY_DIRECTORY, ...OWN],
  },
  'case-management': { read: ['Coverage', 'CoverageEligibilityResponse', 'Patient', 'CarePlan', 'Organization', ...AGENCY_DIRECTORY, ...OWN], create: [...OWN], update: [...OWN], delete: [...OWN] },
  // "Audit records are readable only by admin clients" — and written only by carebridge.
  admin: { read: [...RESOURCE_TYPES], create: [...CLINICAL, ...DIRECTORY], update: [...CLINICAL, ...DIRECTORY], delete: [...CLINICAL, ...DIRECTORY] },
};
/** Resources an agency writes itself (its report-back); the rest of a patient's data the hospital wrote. */
const AGENCY_AUTHORED = ['AppointmentResponse', 'Observation', 'Communication'];

const ROLES: ClientRole[] = ['hospital', 'agency', 'case-management', 'admin'];
const INTERACTIONS = ['read', 'search', 'history', 'transaction-read', 'create', 'update', 'delete'] as const;
type Interaction = (typeof INTERACTIONS)[number];
type Expected = 'allowed' | 'hidden' | 'forbidden';

function principal(role: ClientRole, value: string): Principal {
  return { clientId: `${value}-client`, clientName: value, role, organization: { system: ORG, value }, scopes: parseScopes('system/*.cruds').scopes };
}
const TENANTS: Record<ClientRole, [Principal, Principal]> = {
  hospital: [principal('hospital', 'h1'), principal('hospital', 'h2')],
  agency: [principal('agency', 'a1'), principal('agency', 'a2')],
  'case-management': [principal('case-management', 'c1'), principal('case-management', 'c2')],
  admin: [principal('admin', 'ops'), principal('admin', 'ops')],
};
const [H1, H2] = TENANTS.hospital;

function expected(role: ClientRole, type: string, interaction: Interaction, tenant: 'own' | 'other'): Expected {
  const spec = SPEC[role];
  const action = interaction === 'create' || interaction === 'update' || interaction === 'delete' ? interaction : 'read';
  if (!spec[action].includes(type)) {
    return 'forbidden';
  }
  if (role === 'admin' || tenant === 'own') {
    return 'allowed';
  }
  const visible = DIRECTORY.includes(type);
  if (action === 'read') {
    return visible ? 'allowed' : 'hidden';
  }
  if (action === 'create') {
    // Creating about the other tenant's patient; directory data is about no patient, and a new
    // Patient or Subscription is its own.
    return visible || type === 'Patient' || OWN.includes(type) ? 'allowed' : 'forbidden';
  }
  // Updating or deleting the other tenant's data: hidden, or (directory data) not the caller's.
  return visible ? 'forbidden' : 'hidden';
}

interface World {
  patients: [string, string];
  /** type → [own id, other id] */
  resources: Map<string, [string, string]>;
}

/** A fresh world for one role: its two tenants' patients, with one resource of every type each. */
async function seedWorld(store: FhirStore, role: ClientRole, orgIds: Record<string, string>): Promise<World> {
  const [own, other] = TENANTS[role];
  const resources = new Map<string, [string, string]>();
  const patients: string[] = [];
  for (const [index, hospital] of [H1, H2].entries()) {
    const tenant = index === 0 ? own : other;
    const h = store.forCaller(callerFor(hospital));
    const patient = (await h.create(minimalResource('Patient', 'x'))).version.id;
    patients.push(patient);
    const ids: Record<string, string> = { Patient: patient };
    const suffix = tenant.organization.value.slice(1);
    await h.transaction(async (tx) => {
      // The links that open the patient to the role's tenant: a referral, a care team.
      const referral = { ...minimalResource('Task', patient), owner: { reference: `Organization/${orgIds[`a${suffix}`]}` } } as Resource;
      const referralId = (await tx.create(referral)).version.id;
      await tx.create({ ...minimalResource('CareTeam', patient), participant: [{ member: { display: 'case manager' }, onBehalfOf: { reference: `Organization/${orgIds[`c${suffix}`]}` } }] } as Resource);
      for (const type of RESOURCE_TYPES) {
        if (type === 'Patient' || AUDIT.includes(type) || OWN.includes(type) || AGENCY_DIRECTORY.includes(type) || (role === 'agency' && AGENCY_AUTHORED.includes(type))) {
          continue;
        }
        ids[type] = role === 'agency' && type === 'Task' ? referralId : (await tx.create(minimalResource(type, patient, { organizationId: orgIds.a1 }))).version.id;
      }
    });
    if (role === 'agency') {
      const agency = store.forCaller(callerFor(tenant));
      for (const type of AGENCY_AUTHORED) {
        ids[type] = (await agency.create(minimalResource(type, patient))).version.id;
      }
    }
    for (const type of AGENCY_DIRECTORY) {
      // An agency's own service line (written by it), or one carebridge holds for agency a1.
      const providedBy = { organizationId: role === 'agency' ? orgIds[`a${suffix}`] : orgIds.a1 };
      ids[type] = (await (role === 'agency' ? store.forCaller(callerFor(tenant)) : store).create(minimalResource(type, patient, providedBy))).version.id;
    }
    for (const type of AUDIT) {
      ids[type] = (await store.create(minimalResource(type, patient, { organizationId: orgIds.a1 }))).version.id;
    }
    for (const type of OWN) {
      ids[type] = (await store.forCaller(callerFor(tenant)).create(minimalResource(type, patient))).version.id;
    }
    for (const [type, id] of Object.entries(ids)) {
      const pair = resources.get(type) ?? ['', ''];
      pair[index] = id;
      resources.set(type, pair);
    }
  }
  return { patients: patients as [string, string], resources };
}

describe('authorization matrix', () => {
  let server: AuthTestServer;
  const outcomes: { role: ClientRole; type: string; interaction: Interaction; tenant: string; expected: Expected; status: number; found?: boolean }[] = [];

  beforeAll(async () => {
    server = await startAuthTestServer({ principals: ROLES.flatMap((role) => TENANTS[role]) });
    const orgIds: Record<string, string> = {};
    for (const value of ['a1', 'a2', 'c1', 'c2']) {
      orgIds[value] = (await server.store.create({ resourceType: 'Organization', identifier: [{ system: ORG, value }] } as Resource)).version.id;
    }
    for (const role of ROLES) {
      const world = await seedWorld(server.store, role, orgIds);
      const [caller] = TENANTS[role];
      const call = server.as(caller);
      for (const type of RESOURCE_TYPES) {
        const pair = world.resources.get(type) as [string, string];
        for (const [t, tenant] of (['own', 'other'] as const).entries()) {
          const id = pair[t] as string;
          const patient = world.patients[t] as string;
          const expect = (interaction: Interaction): Expected => expected(role, type, interaction, tenant);
          const record = (interaction: Interaction, status: number, found?: boolean): void => {
            outcomes.push({ role, type, interaction, tenant, expected: expect(interaction), status, found });
          };
          record('read', (await call('GET', `${type}/${id}`)).status);
          const search = await call('GET', `${type}?_id=${id}`);
          record('search', search.status, ((search.body as Bundle).entry ?? []).some((e) => e.resource?.id === id));
          record('history', (await call('GET', `${type}/${id}/_history`)).status);
          const txn = await call('POST', '', { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'GET', url: `${type}/${id}` } }] });
          record('transaction-read', txn.status);
          record('create', (await call('POST', type, minimalResource(type, patient, { organizationId: orgIds.a1 }))).status);
          const current = (await server.store.read(type, id))?.resource as Resource;
          const changed = { ...current, meta: { ...current.meta, tag: [{ system: 'urn:matrix', code: 'touched' }] } };
          record('update', (await call('PUT', `${type}/${id}`, changed)).status);
          record('delete', (await call('DELETE', `${type}/${id}`)).status);
        }
      }
    }
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  const statusOk = (o: (typeof outcomes)[number]): boolean => {
    if (o.interaction === 'search') {
      return o.expected === 'forbidden' ? o.status === 403 : o.status === 200 && o.found === (o.expected === 'allowed');
    }
    if (o.expected === 'forbidden') {
      return o.status === 403;
    }
    if (o.expected === 'hidden') {
      return o.status === 404;
    }
    return o.interaction === 'create' ? o.status === 201 : o.status === 200;
  };

  it(`covers every role × type × interaction × tenant (${ROLES.length * RESOURCE_TYPES.length * INTERACTIONS.length * 2} cells)`, () => {
    expect(outcomes).toHaveLength(ROLES.length * RESOURCE_TYPES.length * INTERACTIONS.length * 2);
  });

  it('leaks nothing: no hidden resource answers, is found, or is changed', () => {
    const leaks = outcomes.filter((o) => o.expected === 'hidden' && (o.interaction === 'search' ? o.found : o.status < 400));
    expect(leaks).toEqual([]);
  });

  it('answers every cell as the specification says', () => {
    const wrong = outcomes.filter((o) => !statusOk(o)).map((o) => `${o.role} ${o.interaction} ${o.tenant} ${o.type}: expected ${o.expected}, got ${o.status}${o.found === undefined ? '' : ` found=${o.found}`}`);
    expect(wrong).toEqual([]);
  });
});
