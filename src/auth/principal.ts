// Who is calling: a registered client (a system, not a person) acting for one Organization, with
// the SMART scopes its access token carries. Every /fhir request runs as one Principal.
import type { Scope } from './scopes.ts';

/** What a client is, which decides what it may see (tenancy) before scopes narrow it further. */
export type ClientRole = 'hospital' | 'agency' | 'case-management' | 'admin';

export const CLIENT_ROLES: readonly ClientRole[] = ['hospital', 'agency', 'case-management', 'admin'];

/** The Organization a client acts for, named by an identifier (carebridge assigns resource ids). */
export interface OrganizationIdentity {
  system: string;
  value: string;
  display?: string;
}

export interface Principal {
  clientId: string;
  clientName: string;
  role: ClientRole;
  organization: OrganizationIdentity;
  /** Scopes granted to this access token (a subset of what the client is allowed). */
  scopes: Scope[];
  /** The access token's own id (jti), for audit. */
  tokenId?: string;
}

/** The key a client's Organization is known by in tenancy rows (one definition, the store's). */
export { organizationKey } from '../store/access.ts';
