// For bench/server.ts only: carebridge's FHIR router on the store CAREBRIDGE_DATABASE names,
// without authentication, tenancy or the audit trail — the baseline the cost of auth + audit is
// measured against. Never a way to run carebridge: it is not reachable from the CLI.
import express from 'express';
import { fhirRouter } from '../src/api/fhir/router.ts';
import type { AuditTrail } from '../src/audit/audit-trail.ts';
import { resolveLimits } from '../src/config/limits.ts';
import { createLogger } from '../src/log/logger.ts';
import { openStore } from '../src/store/open-store.ts';
import { loadDefinitions } from '../src/validation/definitions.ts';

loadDefinitions();
const store = await openStore(process.env.CAREBRIDGE_DATABASE);
/** Records nothing: the requests of this server are not audited. */
const noAudit = { record: () => Promise.resolve() } as unknown as AuditTrail;
const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.get('/readyz', (_req, res) => {
  res.json({ status: 'ready' });
});
app.use('/fhir', fhirRouter({ store, logger: createLogger({ level: 'warn' }), auditTrail: noAudit, limits: resolveLimits({ rateLimitPerMinute: 0 }) }));
app.listen(Number(process.env.PORT), '127.0.0.1');
// An orderly exit on SIGTERM, so that --cpu-prof writes its profile.
process.on('SIGTERM', () => process.exit(0));
