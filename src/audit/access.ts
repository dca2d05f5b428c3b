// Who may see the audit trail: AuditEvents are readable by admin clients only, and written by
// carebridge alone (never created, updated or deleted through the API). Provenance is ordinary
// data, subject to the usual tenancy rules.
import type { Resource } from '@medplum/fhirtypes';
import type { Principal } from '../auth/principal.ts';

export const AUDIT_TRAIL_TYPE = 'AuditEvent';

export function mayReadAuditTrail(principal: Principal | undefined): boolean {
  return principal?.role === 'admin';
}

/**
 * What a caller may receive of a search's or a transaction's resources: a non-admin's
 * _include/_revinclude (e.g. "_revinclude=AuditEvent:entity") must not pull audit records in.
 */
export function withoutAuditTrail<T extends Resource>(principal: Principal | undefined, resources: T[]): T[] {
  return mayReadAuditTrail(principal) ? resources : resources.filter((r) => r.resourceType !== AUDIT_TRAIL_TYPE);
}
