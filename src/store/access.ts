// Tenancy as the store sees it: who is writing (recorded as the author of what they create) and
// what they may see. Visibility is decided *in the query* (search, _include, chains, history,
// totals, paging) from two kinds of rows the store keeps at every write:
// - resource_patients: the Patient compartment of each resource (R4 CompartmentDefinition);
// - access_grants: which organization may see which patient, and why ("author": it sent data
//   about the patient; "referral": a Task names it as owner; "care-team": a CareTeam names it).
import type { Resource } from '@medplum/fhirtypes';
import type { GrantKind } from '../search/compartment.ts';
import type { StoreTransaction, StoredVersion } from './fhir-store.ts';

export type { GrantKind };

export interface AccessScope {
  /** Grants of these kinds open a patient's compartment to the caller. */
  grantKinds: readonly GrantKind[];
  /** Types visible whatever the patient (directory data: Organization, Practitioner, …). */
  openTypes: readonly string[];
  /** Types visible at all: search results, reads, _include and _revinclude. */
  readableTypes: ReadonlySet<string>;
  /** Resources the caller's organization created stay visible to it outside any compartment. */
  ownAuthored: boolean;
  /** Tasks owned by and ServiceRequests performed by another organization are hidden (agencies do
   *  not see each other's referrals of a broadcast). */
  hideOtherOrganizationsAssignments: boolean;
}

/** A write the caller's role may not make; throw an OperationOutcomeError to refuse it. */
export type WriteGuard = (change: { resourceType: string; current?: Resource; next?: Resource; currentAuthor?: string | null }) => void;

export interface StoreCaller {
  /** The organization the caller acts for; its key ("system|value") is stored as the author. */
  organization: { system: string; value: string };
  /** Undefined: sees everything (admin clients, carebridge's own jobs). */
  access?: AccessScope;
  /** Checked before every create, update and delete. */
  guardWrite?: WriteGuard;
  /**
   * Called once before a transaction that wrote something commits, with what it wrote and a
   * transaction on the same connection that writes as carebridge itself: Provenance and the
   * write's AuditEvent commit with the write, or not at all.
   */
  recordWrites?: (written: StoredVersion[], system: StoreTransaction) => Promise<void>;
}

/** Task statuses after which a referral no longer opens the patient to the owning agency. */
export const DEFAULT_REFERRAL_ENDS_ON: readonly string[] = ['rejected', 'cancelled', 'entered-in-error', 'failed'];

export function organizationKeyOf(caller: StoreCaller): string {
  return `${caller.organization.system}|${caller.organization.value}`;
}
