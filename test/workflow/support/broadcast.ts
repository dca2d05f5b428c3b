// A transition plan referring one patient to many agencies at once (a broadcast), pushed over
// HTTP by its hospital, and the principals of each party.
import type { Bundle, CarePlan, Resource, Task } from '@medplum/fhirtypes';
import type { ClientRole, Principal } from '../../../src/auth/principal.ts';
import { parseScopes } from '../../../src/auth/scopes.ts';
import { defaultMappingContext } from '../../../src/mapping/context.ts';
import { toFhir } from '../../../src/mapping/to-fhir.ts';
import type { TransitionPlan } from '../../../src/model/transition-plan.ts';
import type { Call } from '../../auth/support/auth-server.ts';
import { readPlan } from '../../support/fixtures.ts';

export const NPI = 'http://hl7.org/fhir/sid/us-npi';
/** The hospital of fixtures/plans/broadcast-three-agencies.json. */
export const HOSPITAL_NPI = '1599024316';
const GOLDEN_AGENCIES = ['1266190432', '1877352900', '1455266175'];

export const principal = (role: ClientRole, npi: string): Principal => ({ clientId: `${role}-${npi}`, clientName: npi, role, organization: { system: NPI, value: npi }, scopes: parseScopes('system/*.cruds').scopes });

/** The NPI of the i-th agency: the fixture's three first, then made-up ones. */
export function agencyNpi(i: number): string {
  return GOLDEN_AGENCIES[i] ?? `17${String(i).padStart(8, '0')}`;
}

export const HOSPITAL = principal('hospital', HOSPITAL_NPI);
export const ADMIN = principal('admin', 'carebridge-ops');
export const agencies = (n: number): Principal[] => Array.from({ length: n }, (_, i) => principal('agency', agencyNpi(i)));

/** The broadcast fixture for its own patient (`tag`), referring `n` agencies. */
export function broadcastPlan(tag: string, n = 3): TransitionPlan {
  const plan = readPlan('broadcast-three-agencies.json');
  const template = plan.referrals?.[0];
  if (!template) {
    throw new Error('the broadcast fixture has no referral');
  }
  return {
    ...plan,
    identifier: { ...plan.identifier, value: `${plan.identifier.value}-${tag}` },
    patient: { ...plan.patient, identifiers: plan.patient.identifiers.map((id) => ({ ...id, value: `${id.value}-${tag}` })) },
    // Another patient, so another hospital stay: one stay has one transition.
    hospitalStay: { ...plan.hospitalStay, encounterIdentifier: plan.hospitalStay.encounterIdentifier && { ...plan.hospitalStay.encounterIdentifier, value: `${plan.hospitalStay.encounterIdentifier.value}-${tag}` } },
    referrals: Array.from({ length: n }, (_, i) => ({ ...(plan.referrals?.[i] ?? template), id: `bcast-${i}`, agency: { ...template.agency, name: `Agency ${i}`, identifier: { system: NPI, value: agencyNpi(i) } } })),
  };
}

export interface PushedPlan {
  carePlan: CarePlan;
  patient: string;
  /** Referral Tasks by agency NPI. */
  referrals: Map<string, Task>;
  caregiverTasks: Task[];
}

function created(body: Resource | undefined): Resource[] {
  return ((body as Bundle | undefined)?.entry ?? []).map((e) => e.resource).filter((r): r is Resource => r !== undefined);
}

/** The hospital pushes the plan as a transaction Bundle; returns what carebridge stored. */
export async function pushPlan(hospital: Call, plan: TransitionPlan): Promise<PushedPlan> {
  const bundle = toFhir(plan, defaultMappingContext());
  const response = await hospital('POST', '', { ...bundle, type: 'transaction' }, { prefer: 'return=representation' });
  if (response.status !== 200) {
    throw new Error(`push answered ${response.status}: ${response.text?.slice(0, 500)}`);
  }
  const resources = created(response.body);
  const carePlan = resources.find((r): r is CarePlan => r.resourceType === 'CarePlan') as CarePlan;
  const tasks = resources.filter((r): r is Task => r.resourceType === 'Task');
  const orgs = new Map(resources.filter((r) => r.resourceType === 'Organization').map((o) => [`Organization/${o.id}`, (o as { identifier?: { value?: string }[] }).identifier?.[0]?.value ?? '']));
  const referrals = new Map<string, Task>();
  for (const task of tasks.filter((t) => t.intent === 'order')) {
    referrals.set(orgs.get(task.owner?.reference ?? '') ?? '', task);
  }
  return { carePlan, patient: carePlan.subject.reference?.replace('Patient/', '') ?? '', referrals, caregiverTasks: tasks.filter((t) => t.intent === 'plan') };
}

export const ifMatch = (resource: Resource): Record<string, string> => ({ 'if-match': `W/"${resource.meta?.versionId ?? '1'}"` });
