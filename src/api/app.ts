// The HTTP application: /fhir (FHIR R4 REST), /transitions (plans in, state out) and health checks. Errors anywhere answer as
// OperationOutcome; nothing escapes as an HTML error page or a stack trace.
import { OperationOutcomeError, getStatus } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
import { auditEventFor } from '../audit/audit-event.ts';
import { AuditTrail } from '../audit/audit-trail.ts';
import type { ClockConfig } from '../config/clock.ts';
import type { Limits } from '../config/limits.ts';
import { describeBytes, resolveLimits } from '../config/limits.ts';
import type { Principal } from '../auth/principal.ts';
import type { AuthService } from '../auth/auth-service.ts';
import { TOKEN_PATH } from '../auth/auth-service.ts';
import type { Logger } from '../log/logger.ts';
import { recordRefusal } from './fhir/audit-hook.ts';
import type { FhirStore } from '../store/fhir-store.ts';
import { outboxRoutes } from './admin/outbox-routes.ts';
import { boardRoutes } from './board/board-routes.ts';
import { authRoutes } from './auth/auth-routes.ts';
import { isFhirMetadata, requireBearer } from './auth/bearer.ts';
import { FHIR_JSON, fhirRouter } from './fhir/router.ts';
import { internalError } from './fhir/request.ts';
import { corsPolicy } from './hardening/cors.ts';
import { rateLimiter } from './hardening/rate-limit.ts';
import { requestTimeout } from './hardening/request-timeout.ts';
import { securityHeaders } from './hardening/security-headers.ts';
import { OPENAPI_PATH, serveOpenApi } from './openapi/openapi.ts';
import { transitionsRouters } from './transitions/router.ts';
import type { PayerDirectory } from '../sync/connectors/payers.ts';
import type { ObservabilityOptions } from '../observability/endpoints.ts';
import { observabilityEndpoints } from '../observability/endpoints.ts';
import { routeLabel } from '../observability/labels.ts';

export interface AppOptions {
  store: FhirStore;
  logger: Logger;
  /** Tokens and the bearer check: every /fhir request but GET /fhir/metadata needs a token. */
  auth: AuthService;
  publicUrl?: string;
  version?: string;
  /** Body size, handler timeout, rate limit, CORS origins; defaults (config/limits.ts) for what is left out. */
  limits?: Partial<Limits>;
  /** The audit trail every request records to (one is made on the store when not given; close it on shutdown). */
  auditTrail?: AuditTrail;
  /** AuditEvent.source.site: which deployment recorded (default "carebridge"). */
  auditSite?: string;
  /** Payers $check-eligibility asks (the config file's peers of kind payer). */
  payers?: PayerDirectory;
  /** Now: the coverage operations, agency matching and recorded agency choices (tests fix it); the wall clock by default. */
  clock?: () => Date;
  /** The TCM clock's holidays and hospital time zones (config file `clock`). */
  tcmClock?: ClockConfig;
  /** The TCM clock's time, ms since the epoch (default: `clock`, else Date.now). */
  now?: () => number;
  /** Metrics, /metrics access, readiness while draining (src/observability). */
  observability?: ObservabilityOptions;
}

/** What a caller's X-Request-Id may keep: letters, digits and '-' (at most 64 of them). */
const REQUEST_ID_UNSAFE = /[^A-Za-z0-9-]/g;

function outcome(severity: 'error', code: string, text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code: code as 'invalid', details: { text } }] };
}

export function createApp(options: AppOptions): express.Express {
  const limits = resolveLimits(options.limits);
  const auditTrail = options.auditTrail ?? new AuditTrail(options.store);
  const observer = { site: options.auditSite ?? 'carebridge', baseUrl: options.publicUrl };
  const observability = observabilityEndpoints({ ...options.observability, store: options.store, auth: options.auth, logger: options.logger, publicUrl: options.publicUrl, auditTrail, observer });
  const app = express();
  // First, so every answer carries them: errors, 404s, timeouts, 429s.
  app.use(securityHeaders());
  app.use(observability.httpMetrics);
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    const given = req.headers['x-request-id'];
    const requestId = (typeof given === 'string' ? given.replace(REQUEST_ID_UNSAFE, '').slice(0, 64) : '') || randomUUID();
    res.setHeader('X-Request-Id', requestId);
    // Everything logged for this request from here on carries its id.
    res.locals.requestId = requestId;
    res.locals.logger = options.logger.child({ requestId });
    res.on('finish', () => {
      // The route pattern (/fhir/:type/:id), never the path: an id in a URL may be anything; the
      // same label as the request metrics (routeLabel), so a log line and a series can be matched.
      // One object to the root logger: the same line as the child's, without its per-line copies.
      options.logger.info({
        message: 'request',
        requestId,
        method: req.method,
        route: routeLabel(req),
        status: res.statusCode,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
      });
    });
    next();
  });
  app.use(corsPolicy(limits.corsOrigins));
  app.use(requestTimeout(limits.requestTimeoutMs, options.logger));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Probes and scrapes: before the rate limiters and the audit hooks, so neither counts them.
  app.get('/readyz', observability.readiness);
  app.get('/metrics', ...observability.metricsRoute);
  app.get(OPENAPI_PATH, serveOpenApi({ publicUrl: options.publicUrl, version: options.version }));

  // The token endpoint is throttled per address too: guessing at assertions costs the guesser.
  const tokenLimiter = rateLimiter(limits.rateLimitPerMinute, options.logger);
  if (tokenLimiter) {
    app.use(TOKEN_PATH, tokenLimiter);
  }
  app.use(
    authRoutes(options.auth, {
      publicUrl: options.publicUrl,
      logger: options.logger,
      // Issued and refused tokens are security events: audited (BALP-style, operation "token").
      onTokenAnswer: (req, res, answer) =>
        auditTrail.record(
          auditEventFor({ interaction: 'operation', operation: 'token', principal: undefined, claimedClientId: answer.clientId, status: answer.status, issueCode: answer.error, address: req.ip, requestId: res.locals.requestId as string | undefined, recorded: new Date(), observer }),
        ),
    }),
  );
  // A refused token is a security event: audited like any other refusal.
  const auditRefusal = (req: Request, res: Response, err: { message: string }): Promise<void> =>
    recordRefusal(auditTrail, { principal: undefined, address: req.ip, requestId: res.locals.requestId as string | undefined, observer }, 401, {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'security', details: { text: err.message } }],
    });
  app.use('/fhir', requireBearer(options.auth, { publicUrl: options.publicUrl, logger: options.logger, isPublic: isFhirMetadata, onRefused: auditRefusal }));
  // /transitions (plan JSON in, state out) and GET /fhir/CarePlan/{id}/$transition: same token, tenancy and audit as /fhir.
  app.use('/transitions', requireBearer(options.auth, { publicUrl: options.publicUrl, logger: options.logger, onRefused: auditRefusal }));
  const transitionsApi = transitionsRouters({ store: options.store, logger: options.logger, publicUrl: options.publicUrl, limits, auditTrail, auditObserver: observer, clock: options.clock, tcmClock: options.tcmClock, now: options.now });
  app.use('/transitions', transitionsApi.transitions);
  // Operators: the outbox (admin clients only; same token and audit as everything else).
  app.use('/admin', requireBearer(options.auth, { publicUrl: options.publicUrl, logger: options.logger, onRefused: auditRefusal }));
  app.use('/admin/outbox', outboxRoutes({ store: options.store, auditTrail, observer }));
  // The care-coordination board: its page, its people's sign-in, its reads (same tokens, tenancy and audit).
  const boardNow = options.now ?? (() => (options.clock ?? (() => new Date()))().getTime());
  app.use(boardRoutes({ store: options.store, auth: options.auth, logger: options.logger, publicUrl: options.publicUrl, limits, auditTrail, observer, handle: transitionsApi.handle, onRefused: auditRefusal, now: boardNow }));
  app.use('/fhir', transitionsApi.operation);
  app.use(
    '/fhir',
    fhirRouter({
      store: options.store,
      logger: options.logger,
      publicUrl: options.publicUrl,
      limits,
      software: { name: 'carebridge', version: options.version ?? '0' },
      tokenPath: TOKEN_PATH,
      auditTrail,
      auditObserver: observer,
      payers: options.payers,
      clock: options.clock,
      tcmClock: options.tcmClock,
    }),
  );

  app.use((_req, res) => {
    res.status(404).type(FHIR_JSON).send(JSON.stringify(outcome('error', 'not-found', 'Not found')));
  });

  // Errors raised before a handler runs (body too large, aborted upload) still answer FHIR.
  app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    void next;
    const type = (err as { type?: string }).type;
    let status = 500;
    let body: OperationOutcome;
    if (type === 'entity.too.large') {
      status = 413;
      body = outcome('error', 'too-costly', `Request body too large (at most ${describeBytes(limits.maxBodyBytes)})`);
    } else if (type === 'request.aborted' || type === 'entity.verify.failed' || type === 'encoding.unsupported' || type === 'charset.unsupported') {
      status = type === 'request.aborted' ? 400 : 415;
      body = outcome('error', 'invalid', `Unreadable request body (${type})`);
    } else if (err instanceof OperationOutcomeError) {
      body = err.outcome;
      status = getStatus(err.outcome);
    } else if (typeof (err as { status?: unknown }).status === 'number' && (err as { status: number }).status >= 400 && (err as { status: number }).status < 500) {
      // express and body-parser mark what the client got wrong (a malformed %-escape in the
      // path, a body that does not match its Content-Encoding) with a 4xx status.
      status = (err as { status: number }).status;
      body = outcome('error', 'invalid', status === 415 ? 'Unsupported content encoding' : 'Malformed request');
    } else {
      body = internalError();
      ((res.locals.logger as Logger | undefined) ?? options.logger).error('unhandled error', { method: req.method, error: err });
    }
    if (res.headersSent) {
      return;
    }
    // A request refused before its handler ran is audited too (best effort: the refusal is the answer).
    recordRefusal(auditTrail, { principal: res.locals.principal as Principal | undefined, address: req.ip, requestId: res.locals.requestId as string | undefined, observer }, status, body)
      .catch((auditError: unknown) => ((res.locals.logger as Logger | undefined) ?? options.logger).error('audit trail write failed', { error: auditError }))
      .finally(() => res.status(status).type(FHIR_JSON).send(JSON.stringify(body)));
  });
  return app;
}
