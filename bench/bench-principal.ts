// The caller the audit benchmarks write AuditEvents for: an agency client, as most audited reads are.
import type { Principal } from '../src/auth/principal.ts';

export const BENCH_AGENCY: Principal = {
  clientId: 'bench-agency',
  clientName: 'Bench Agency',
  role: 'agency',
  organization: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' },
  scopes: [],
};
