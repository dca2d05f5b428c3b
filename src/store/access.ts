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
  /**
   * May change what other organizations wrote (admins). Without it, a conditional update matches
   * open-type resources only where the caller wrote them: another hospital's Location carrying the
   * same identifier is not the caller's to update (it would be refused), so it is not its match.
   */
  writesOthers?: boolean;
  /** Types visible at all: search results, reads, _include and _revinclude. */
  readableTypes: ReadonlySet<string>;
  /** Resources the caller's organization created stay visible to it outside any compartment. */
  ownAuthored: boolean;
  /** Types visible to the organization that created them, and to nobody else but admins (Subscription). */
  ownAuthoredTypes?: readonly string[];
  /** Resources assigned to another organization through these reference parameters are hidden
   *  (agencies do not see each other's referrals of a broadcast: Task.owner, ServiceRequest.performer). */
  foreignAssignments: readonly { resourceType: string; code: string }[];
}

/** A write about to happen: `current` undefined for a create, `next` undefined for a delete. */
export interface WriteChange {
  resourceType: string;
  current?: Resource;
  next?: Resource;
  currentAuthor?: string | null;
  /** A row exists (maybe deleted, so without `current`): a write to it is an update, never a create. */
  exists?: boolean;
  /** The versionId the client said it last saw (If-Match), when it said one. */
  ifMatch?: string;
}

/** A write the caller's role may not make; throw an OperationOutcomeError to refuse it. */
export type WriteGuard = (change: WriteChange) => void;

/**
 * Rules that need the database (HAPI's storage pointcut "pre-storage"): refuse the write (throw an
 * OperationOutcomeError), return the resource to store instead of `next`, and make writes of their
 * own through `system` (same transaction, written as carebridge itself, no hooks).
 */
export type BeforeWrite = (change: WriteChange & { next: Resource }, context: { caller: StoreTransaction; system: StoreTransaction }) => Promise<Resource | void>;

export interface StoreCaller {
  /** The organization the caller acts for; its key ("system|value") is stored as the author. */
  organization: { system: string; value: string };
  /** Undefined: sees everything (admin clients, carebridge's own jobs). */
  access?: AccessScope;
  /** Checked before every create, update and delete. */
  guardWrite?: WriteGuard;
  /** Called as each transaction (each attempt of a retried one) begins. */
  onTransaction?: () => void;
  /**
   * Called once before a transaction that wrote something commits, with what it wrote and a
   * transaction on the same connection that writes as carebridge itself: Provenance and the
   * write's AuditEvent commit with the write, or not at all.
   */
  recordWrites?: (written: StoredVersion[], system: StoreTransaction) => Promise<void>;
  /**
   * Rules that follow a transaction's writes once all of them are stored (HAPI's "pre-commit"):
   * called before recordWrites with what the caller wrote (stored ids included), the caller's own
   * transaction (to read as it sees) and one that writes as carebridge; what that writes commits
   * and goes to the outbox with the rest.
   */
  afterWrites?: (written: StoredVersion[], context: { caller: StoreTransaction; system: StoreTransaction }) => Promise<void>;
  /**
   * Names of the groups a create or update of `resource` belongs to (e.g. the referrals of one
   * plan). The store locks them, in order, before it reads and locks the resource's own row, so
   * writers of one group run one at a time on every instance and never deadlock (PostgreSQL:
   * transaction-scoped advisory locks; SQLite has one writer already).
   */
  writeLocks?: (resource: Resource) => string[];
  /** Called on every create and update once the current version is read (and locked), before the If-Match check: a rule's 409 says more than a 412. */
  beforeWrite?: BeforeWrite;
  /**
   * A tenant updates a resource it cannot see (404). The hook may refuse with something more
   * useful, when that tells the tenant nothing it did not know (an agency whose referral was just
   * placed with another agency learns why it lost it). `organizationIds`: the caller's Organizations.
   */
  explainHidden?: (target: { resourceType: string; id: string }, context: { system: StoreTransaction; organizationIds: readonly string[] }) => Promise<void>;
}

/** Task statuses after which a referral no longer opens the patient to the owning agency. */
export const DEFAULT_REFERRAL_ENDS_ON: readonly string[] = ['rejected', 'cancelled', 'entered-in-error', 'failed'];

/** The key an organization is known by in tenancy rows (author_org, access_grants): "system|value". */
export function organizationKey(organization: { system: string; value: string }): string {
  return `${organization.system}|${organization.value}`;
}

export function organizationKeyOf(caller: StoreCaller): string {
  return organizationKey(caller.organization);
}
