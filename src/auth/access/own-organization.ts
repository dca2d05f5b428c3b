// An agency acts in its own name only. Its report-back (an Observation's performer, a
// Communication's sender) decides whose answer the hospital sees in GET /transitions/{id}
// (lastReportBack, "from Charm City Home Health"), so a reference there that names an organization
// must name the one the client acts for: an Organization carrying its identifier — by reference
// (Organization/id, or a PractitionerRole whose organization it is) or by identifier. People
// (Practitioner, Patient, RelatedPerson), a CareTeam and display-only references name no
// organization and stay free; an admin, a hospital and carebridge itself are not held to this.
import { OperationOutcomeError, Operator, forbidden } from '@medplum/core';
import type { Identifier, Organization, PractitionerRole, Reference, Resource } from '@medplum/fhirtypes';
import { identifierToken } from '../../mapping/identifiers.ts';
import type { StoreTransaction } from '../../store/fhir-store.ts';
import { hasScheme } from '../../util/untrusted-text.ts';

/** The organization a client acts for (Principal.organization). */
export interface OwnOrganization {
  system: string;
  value: string;
}

/** Organizations, PractitionerRoles looked at per identifier: one is usual; more are other tenants' copies of the same directory entry. */
const MATCHES_PER_IDENTIFIER = 50;

/** Type/id at the end of a relative or absolute literal reference (a version allowed). */
const LITERAL = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const ORGANIZATION_TYPES = new Set(['Organization', 'PractitionerRole']);

/** Does the Organization carry the identifier the client acts for? */
export function isOwnOrganization(organization: Organization | undefined, own: OwnOrganization): boolean {
  return organization?.identifier?.some((i) => i.system === own.system && i.value === own.value) === true;
}

/** The type a Reference.type names ("Organization" or its StructureDefinition URL). */
function typeOf(reference: Reference): string | undefined {
  return reference.type?.slice(reference.type.lastIndexOf('/') + 1);
}

type Found = Organization | PractitionerRole;

class Names {
  private readonly own: OwnOrganization;
  /** The resource written: `#id` references point into its `contained`. */
  private readonly container: Resource & { contained?: Resource[] };
  private readonly system: StoreTransaction;

  constructor(own: OwnOrganization, container: Resource, system: StoreTransaction) {
    this.own = own;
    this.container = container;
    this.system = system;
  }

  /** Whether the reference names an organization other than the client's own. */
  async another(reference: Reference, depth = 0): Promise<boolean> {
    const target = reference.reference;
    if (target !== undefined && (await this.anotherByLiteral(target, depth))) {
      return true;
    }
    // The identifier is judged on its own (only an explicit type narrows it): a reader that goes by
    // the identifier (GET /transitions/{id}) must not find another agency behind Patient/x.
    return reference.identifier !== undefined && this.anotherByIdentifier(reference.identifier, typeOf(reference), depth);
  }

  private async anotherByLiteral(target: string, depth: number): Promise<boolean> {
    let found: Found | undefined;
    if (target.startsWith('#')) {
      found = this.container.contained?.find((r): r is Found => (r.resourceType === 'Organization' || r.resourceType === 'PractitionerRole') && r.id === target.slice(1));
      if (!found) {
        return false; // a contained person, or nothing: no organization named
      }
    } else {
      // Only this server's references: one to the own base URL was made relative before the
      // write; an absolute URL names a resource on another server, nothing carebridge can check.
      const match = hasScheme(target) ? null : LITERAL.exec(target);
      if (!match || !ORGANIZATION_TYPES.has(match[1] as string)) {
        return false;
      }
      found = (await this.system.read(match[1] as string, match[2] as string))?.resource as Found | undefined;
      if (!found) {
        return true; // names an organization carebridge cannot show to be the client's
      }
    }
    return this.isAnother(found, depth);
  }

  private async anotherByIdentifier(identifier: Identifier, type: string | undefined, depth: number): Promise<boolean> {
    if (!identifier.value) {
      return false;
    }
    if ((type === undefined || type === 'Organization') && identifier.system === this.own.system && identifier.value === this.own.value) {
      return false;
    }
    if (type !== undefined && !ORGANIZATION_TYPES.has(type)) {
      return false;
    }
    const found = (await this.system.search({ resourceType: type === 'PractitionerRole' ? 'PractitionerRole' : 'Organization', filters: [{ code: 'identifier', operator: Operator.EQUALS, value: identifierToken(identifier) }], count: MATCHES_PER_IDENTIFIER })).resources as Found[];
    for (const resource of found) {
      if (await this.isAnother(resource, depth)) {
        return true;
      }
    }
    // A typed Organization found nowhere names an organization, and not the client's; an untyped
    // identifier no Organization carries is a person's (an NPI names people too), and so is a
    // PractitionerRole carebridge does not know.
    return found.length === 0 && type === 'Organization';
  }

  private async isAnother(found: Found, depth: number): Promise<boolean> {
    if (found.resourceType === 'Organization') {
      return !isOwnOrganization(found, this.own);
    }
    // A PractitionerRole acts for its organization; one without any names no organization.
    return found.organization !== undefined && (depth > 0 || this.another(found.organization, depth + 1));
  }
}

/** The references of a report-back that say who reported it. */
function authorsOf(resource: Resource): { path: string; references: Reference[] } | undefined {
  switch (resource.resourceType) {
    case 'Observation':
      return { path: 'Observation.performer', references: resource.performer ?? [] };
    case 'Communication':
      return { path: 'Communication.sender', references: resource.sender ? [resource.sender] : [] };
    default:
      return undefined;
  }
}

/**
 * Throws 403 when an agency's Observation.performer or Communication.sender names an organization
 * other than its own (read and searched through `system`, which sees all directory data).
 */
export async function checkReportBackAuthor(own: OwnOrganization, resource: Resource, system: StoreTransaction): Promise<void> {
  const authors = authorsOf(resource);
  if (!authors) {
    return;
  }
  const names = new Names(own, resource, system);
  for (const [index, reference] of authors.references.entries()) {
    if (await names.another(reference)) {
      const path = authors.path.endsWith('performer') ? `${authors.path}[${index}]` : authors.path;
      throw new OperationOutcomeError({
        ...forbidden,
        issue: [{ severity: 'error', code: 'forbidden', details: { text: `An agency reports back in its own name only: ${path} names another organization; it must be the agency's own Organization (by reference or identifier), a PractitionerRole of it, or a person` }, expression: [path] }],
      });
    }
  }
}
