import { describe, expect, it } from '@jest/globals';
import type { Resource } from '@medplum/fhirtypes';
import { mayReadAuditTrail, withoutAuditTrail } from '../../src/audit/access.ts';
import { agencyPrincipal } from './support.ts';

describe('audit trail access', () => {
  it('lets admin clients only read AuditEvents', () => {
    expect(mayReadAuditTrail(agencyPrincipal({ role: 'admin' }))).toBe(true);
    expect(['hospital', 'agency', 'case-management'].map((role) => mayReadAuditTrail(agencyPrincipal({ role: role as 'agency' })))).toEqual([false, false, false]);
    expect(mayReadAuditTrail(undefined)).toBe(false);
  });

  it('drops AuditEvents a non-admin search pulled in with _include or _revinclude', () => {
    const resources = [{ resourceType: 'Task', id: 't1' }, { resourceType: 'AuditEvent', id: 'a1' }] as Resource[];
    expect(withoutAuditTrail(agencyPrincipal(), resources).map((r) => r.id)).toEqual(['t1']);
    expect(withoutAuditTrail(agencyPrincipal({ role: 'admin' }), resources)).toHaveLength(2);
  });
});
