// Who may see and change what, by role, on top of the token's scopes (both must allow).
// - hospital: the patients it sent data about (their whole compartments) and what it authored;
//   writes what it authored, and referral Tasks (it is their requester).
// - agency: the patients of its open referrals, limited to the types a home-care agency needs;
//   other agencies' referrals of a broadcast stay hidden; writes only what an agency owns.
// - case-management: Coverage, eligibility, Patient and CarePlan of the patients its organization
//   is on the CareTeam of; reads only.
// - admin: everything; the only role that reads the audit trail (AuditEvent, Provenance),
//   which nobody writes through the API.
// - HealthcareService (an agency's service lines: services, ZIPs, payers, capacity) is directory
//   data every role reads (agency matching, workflow/agency-matching.ts); it is written by admins
//   and by an agency for its own Organization only (providedBy: checked against the identifier the
//   client acts for), so an agency keeps its own capacity current and nobody else can. Hospitals
//   read it and choose (POST /transitions/{id}/agency-choice); they do not write it.
// - An agency's report-back is in its own name: an Observation.performer or Communication.sender
//   that names an organization names its own (own-organization.ts), so it cannot answer for
//   another agency of the broadcast.
import { OperationOutcomeError, forbidden } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { AccessScope, StoreCaller, WriteGuard } from '../../store/access.ts';
import { RESOURCE_TYPES } from '../../api/fhir/supported.ts';
import { canonicalJson } from '../../util/canonical-json.ts';
import type { ClientRole, Principal } from '../principal.ts';
import { organizationKey } from '../principal.ts';
import type { Permission } from '../scopes.ts';
import { allows } from '../scopes.ts';
import type { WorkflowActor } from '../../workflow/lifecycle.ts';
import type { WorkflowSettings } from '../../workflow/write-rules.ts';
import { workflowRules } from '../../workflow/write-rules.ts';
import { applySubscriptionRules } from '../../subscriptions/write-rules.ts';
import type { HealthcareService, Organization, Subscription } from '@medplum/fhirtypes';
import type { StoreTransaction } from '../../store/fhir-store.ts';
import { checkReportBackAuthor, isOwnOrganization } from './own-organization.ts';

/** Where a referral names the organization it is for: another agency's referrals stay hidden. */
const REFERRAL_ASSIGNMENTS = [
  { resourceType: 'Task', code: 'owner' },
  { resourceType: 'ServiceRequest', code: 'performer' },
];

/** Written by carebridge itself, read by admins only. */
const AUDIT_TYPES = ['AuditEvent', 'Provenance'];
/** Directory data, not about a patient: readable by every role that reads at all. */
const DIRECTORY_TYPES = ['Organization', 'Practitioner', 'PractitionerRole', 'Location', 'HealthcareService'];
/** Directory data the agency it describes writes (with admins), nobody else. */
const AGENCY_DIRECTORY_TYPES = ['HealthcareService'];
const HOSPITAL_WRITES = RESOURCE_TYPES.filter((t) => !AUDIT_TYPES.includes(t) && !AGENCY_DIRECTORY_TYPES.includes(t));

/** Every role may subscribe (to the topics whose resources it reads); each sees only its own Subscriptions. */
const OWN_TYPES = ['Subscription'];

// Coverage and the payer's eligibility answer (in force? home health covered? prior authorization
// needed, on file?): what an agency weighs before it accepts a referral and bills after. Not the
// request carebridge sent the payer, which holds nothing the answer does not.
const AGENCY_READS = [
  'Patient', 'RelatedPerson', 'Encounter', 'Condition', 'CarePlan', 'CareTeam', 'Goal', 'Task', 'ServiceRequest',
  'Appointment', 'AppointmentResponse', 'Coverage', 'CoverageEligibilityResponse', 'Observation', 'Communication', 'MedicationRequest', 'MedicationStatement',
  ...DIRECTORY_TYPES, ...OWN_TYPES,
];
const CASE_MANAGEMENT_READS = ['Patient', 'CarePlan', 'Coverage', 'CoverageEligibilityResponse', 'Organization', 'HealthcareService', ...OWN_TYPES];

const READABLE: Record<ClientRole, ReadonlySet<string>> = {
  hospital: new Set(RESOURCE_TYPES.filter((t) => !AUDIT_TYPES.includes(t))),
  agency: new Set(AGENCY_READS),
  'case-management': new Set(CASE_MANAGEMENT_READS),
  admin: new Set(RESOURCE_TYPES),
};

/** Types each role may create / update / delete (narrowed further per resource by the guard). */
const WRITABLE: Record<ClientRole, Record<'c' | 'u' | 'd', ReadonlySet<string>>> = {
  hospital: { c: new Set(HOSPITAL_WRITES), u: new Set(HOSPITAL_WRITES), d: new Set(HOSPITAL_WRITES) },
  agency: {
    c: new Set(['AppointmentResponse', 'Observation', 'Communication', ...AGENCY_DIRECTORY_TYPES, ...OWN_TYPES]),
    u: new Set(['Task', 'AppointmentResponse', 'Observation', 'Communication', ...AGENCY_DIRECTORY_TYPES, ...OWN_TYPES]),
    d: new Set(['Observation', 'Communication', ...AGENCY_DIRECTORY_TYPES, ...OWN_TYPES]),
  },
  'case-management': { c: new Set(OWN_TYPES), u: new Set(OWN_TYPES), d: new Set(OWN_TYPES) },
  // The audit trail is carebridge's own record: nobody writes, changes or deletes it through the API.
  admin: {
    c: new Set(RESOURCE_TYPES.filter((t) => !AUDIT_TYPES.includes(t))),
    u: new Set(RESOURCE_TYPES.filter((t) => !AUDIT_TYPES.includes(t))),
    d: new Set(RESOURCE_TYPES.filter((t) => !AUDIT_TYPES.includes(t))),
  },
};

/** What an agency may change on a Task: its answer and progress, nothing the hospital owns. */
const AGENCY_TASK_FIELDS = new Set(['status', 'statusReason', 'businessStatus', 'output', 'lastModified', 'executionPeriod', 'note', 'meta', 'text']);

/** Does the role allow the permission on the type (before scopes)? */
export function roleAllows(role: ClientRole, resourceType: string, permission: Permission): boolean {
  if (permission === 'r' || permission === 's') {
    return READABLE[role].has(resourceType);
  }
  return WRITABLE[role][permission].has(resourceType);
}

/** Scope and role: may this principal do `permission` on `resourceType` at all? */
export function permitted(principal: Principal, resourceType: string, permission: Permission): boolean {
  return roleAllows(principal.role, resourceType, permission) && allows(principal.scopes, resourceType, permission);
}

const PERMISSION_WORDS: Record<Permission, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

export function forbiddenError(text: string): OperationOutcomeError {
  return new OperationOutcomeError({ ...forbidden, issue: [{ severity: 'error', code: 'forbidden', details: { text } }] });
}

/** Throws 403 unless the principal may do `permission` on `resourceType`. */
export function requirePermission(principal: Principal | undefined, resourceType: string, permission: Permission): void {
  if (principal && !permitted(principal, resourceType, permission)) {
    throw forbiddenError(`This client's token does not allow it to ${PERMISSION_WORDS[permission]} ${resourceType} (scope system/${resourceType}.${permission} and its role)`);
  }
}

/**
 * What the principal may see: the role's compartments, and only the types both its role and its
 * token's scopes let it read — so _include, _revinclude, chains and history never reach past them.
 */
function scopeOf(principal: Principal): AccessScope | undefined {
  const readable = new Set([...READABLE[principal.role]].filter((t) => allows(principal.scopes, t, 'r') || allows(principal.scopes, t, 's')));
  switch (principal.role) {
    case 'admin':
      return readable.size === RESOURCE_TYPES.length ? undefined : { grantKinds: [], openTypes: [...readable], writesOthers: true, readableTypes: readable, ownAuthored: false, foreignAssignments: [] };
    case 'hospital':
      return { grantKinds: ['author'], openTypes: DIRECTORY_TYPES, readableTypes: readable, ownAuthored: true, foreignAssignments: [] };
    case 'agency':
      return { grantKinds: ['referral'], openTypes: DIRECTORY_TYPES, readableTypes: readable, ownAuthored: false, ownAuthoredTypes: OWN_TYPES, foreignAssignments: REFERRAL_ASSIGNMENTS };
    case 'case-management':
      return { grantKinds: ['care-team'], openTypes: ['Organization', 'HealthcareService'], readableTypes: readable, ownAuthored: false, ownAuthoredTypes: OWN_TYPES, foreignAssignments: [] };
  }
}

function without(resource: Resource | undefined, keep: Set<string>): string {
  const rest = Object.fromEntries(Object.entries(resource ?? {}).filter(([k]) => !keep.has(k)));
  return canonicalJson(rest);
}

function guardFor(principal: Principal): WriteGuard {
  const ownKey = organizationKey(principal.organization);
  return ({ resourceType, current, next, currentAuthor, exists }) => {
    // A deleted resource has no `current` but still an author: writing it again is an update.
    const existing = exists ?? current !== undefined;
    const permission = !existing ? 'c' : next ? 'u' : 'd';
    requirePermission(principal, resourceType, permission);
    if (principal.role === 'admin' || !existing) {
      return;
    }
    // An Organization's identifier decides which client acts for it (referral access): changing it
    // would hand one agency's patients to another.
    if (resourceType === 'Organization' && next && canonicalJson((current as { identifier?: unknown } | undefined)?.identifier ?? null) !== canonicalJson((next as { identifier?: unknown }).identifier ?? null)) {
      throw forbiddenError('Only an admin may change an Organization\'s identifiers');
    }
    const ownsIt = currentAuthor === ownKey;
    if (principal.role === 'agency' && resourceType === 'Task') {
      if (without(current, AGENCY_TASK_FIELDS) !== without(next, AGENCY_TASK_FIELDS)) {
        throw forbiddenError('An agency may change only a Task\'s status, statusReason, businessStatus, output, executionPeriod and note');
      }
      return;
    }
    if (principal.role === 'hospital' && resourceType === 'Task') {
      return;
    }
    if (!ownsIt) {
      throw forbiddenError(`Only the organization that created this ${resourceType} may ${PERMISSION_WORDS[permission]} it`);
    }
  };
}

/** Which side of a Task the role is on: the hospital (and an admin) asks, the agency does. */
const WORKFLOW_ACTORS: Record<ClientRole, WorkflowActor | undefined> = { hospital: 'requester', admin: 'requester', agency: 'performer', 'case-management': undefined };

/**
 * An agency writes only its own service lines: HealthcareService.providedBy must be an Organization
 * carrying the identifier the client acts for (the directory row every agency can read says who
 * offers what, so another agency's capacity is not for it to change).
 */
async function checkOwnProvider(principal: Principal, service: HealthcareService, system: StoreTransaction): Promise<void> {
  const reference = service.providedBy?.reference ?? '';
  const id = reference.startsWith('Organization/') ? reference.slice('Organization/'.length) : undefined;
  const organization = id ? ((await system.read('Organization', id))?.resource as Organization | undefined) : undefined;
  if (!isOwnOrganization(organization, principal.organization)) {
    throw forbiddenError("An agency may write only its own HealthcareServices: providedBy must be the agency's Organization");
  }
}

/** The store caller a principal reads and writes as; the workflow's and subscriptions' rules ride on its writes. */
export function callerFor(principal: Principal, workflowSettings?: WorkflowSettings): StoreCaller {
  const workflow = workflowRules(WORKFLOW_ACTORS[principal.role], workflowSettings);
  const subscriber = { organization: { system: principal.organization.system, value: principal.organization.value }, role: principal.role, clientId: principal.clientId };
  const mayRead = (resourceType: string): boolean => permitted(principal, resourceType, 'r');
  return {
    organization: principal.organization,
    access: scopeOf(principal),
    guardWrite: guardFor(principal),
    ...workflow,
    beforeWrite: async (change, context) => {
      if (change.resourceType === 'Subscription') {
        return applySubscriptionRules({ subscriber, mayRead }, change.current as Subscription | undefined, change.next as Subscription);
      }
      if (change.resourceType === 'HealthcareService' && principal.role === 'agency') {
        await checkOwnProvider(principal, change.next as HealthcareService, context.system);
      }
      if (principal.role === 'agency') {
        await checkReportBackAuthor(principal.organization, change.next, context.system);
      }
      return workflow.beforeWrite(change, context);
    },
  };
}
