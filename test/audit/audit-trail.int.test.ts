// The audit trail against the real PostgreSQL (DATABASE_URL, default the local server), in a
// schema of its own per test, dropped after.
import { postgresStores } from '../support/postgres.ts';
import { describeAuditTrail } from './trail-contract.ts';

describeAuditTrail('PostgreSQL', postgresStores('carebridge_audit'));
