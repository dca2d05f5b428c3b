// /fhir over express: turns HTTP into FhirRequests for the transport-free handlers and their
// FhirResponses back into HTTP, with FHIR's content negotiation and errors as OperationOutcome.
import { OperationOutcomeError, badRequest, notFound, unsupportedMediaType } from '@medplum/core';
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import express from 'express';
import type { Request, Response, Router } from 'express';
import type { Principal } from '../../auth/principal.ts';
import type { AuditInteraction, AuditObserver } from '../../audit/audit-event.ts';
import type { AuditTrail } from '../../audit/audit-trail.ts';
import type { ClockConfig } from '../../config/clock.ts';
import { clockRulesOf } from '../../config/clock.ts';
import type { Limits } from '../../config/limits.ts';
import { DEFAULT_LIMITS } from '../../config/limits.ts';
import type { Logger } from '../../log/logger.ts';
import type { FhirStore } from '../../store/fhir-store.ts';
import { parseJsonBody } from '../../validation/json-input.ts';
import { rateLimiter } from '../hardening/rate-limit.ts';
import { DEADLINE_AT_LOCAL, DEADLINE_LOCAL, pastDeadline } from '../hardening/request-timeout.ts';
import type { RequestAudit } from './audit-hook.ts';
import { auditedCaller, recordRequest } from './audit-hook.ts';
import { capabilityStatement } from './capability.ts';
import { conditionalUpdate, create, history, read, remove, update, validateOperation, vread } from './handlers.ts';
import type { FhirRequest, FhirResponse } from './request.ts';
import { errorResponse } from './request.ts';
import { processMessage } from './process-message.ts';
import { checkEligibilityOperation, coverageStatusOperation } from './coverage-operations.ts';
import { PayerDirectory } from '../../sync/connectors/payers.ts';
import { search } from './search.ts';
import { eventsOperation, statusOperation, topicRead, topicSearch } from './subscription-operations.ts';
import { batch, transaction } from './transaction.ts';
import { operationDefinitionRead, operationDefinitionSearch } from './operation-definitions.ts';
import { operationPaths } from './supported.ts';

export const FHIR_JSON = 'application/fhir+json';

const auditUnavailable: OperationOutcome = {
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code: 'transient', details: { text: 'The audit trail could not be written; the request was not answered. Try again.' } }],
};

export interface FhirApiOptions {
  store: FhirStore;
  logger: Logger;
  /** Public base URL of the server (http://host:port); /fhir is appended. */
  publicUrl?: string;
  software?: { name: string; version: string };
  limits?: Limits;
  /** Where every request's AuditEvent goes (reads and searches; writes record in their transaction). */
  auditTrail: AuditTrail;
  /** AuditEvent.source: this deployment. */
  auditObserver?: AuditObserver;
  /** Path of the SMART token endpoint (/auth/token), announced in the CapabilityStatement. */
  tokenPath?: string;
  /** Payers $check-eligibility asks (peers of kind payer); none: it answers 422. */
  payers?: PayerDirectory;
  /** Now, for $coverage-status and $check-eligibility (tests fix it). */
  clock?: () => Date;
  /** The TCM clock's holidays and hospital time zones: the deadlines a write's discharge sets. */
  tcmClock?: ClockConfig;
}

function baseUrlOf(req: Request, options: FhirApiOptions): string {
  return `${options.publicUrl ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`}/fhir`;
}

/** The value of a parameter given exactly once (as express's req.query names a string); else undefined. */
function singleValue(query: readonly [string, string][], name: string): string | undefined {
  let value: string | undefined;
  let count = 0;
  for (const [key, v] of query) {
    if (key === name) {
      value = v;
      count++;
    }
  }
  return count === 1 ? value : undefined;
}

/** _format / Accept: JSON only; XML (or anything else) is answered 415, as the API promises. */
function checkAcceptable(req: Request, query: readonly [string, string][]): void {
  const format = singleValue(query, '_format');
  if (format !== undefined && !/^(json|application\/json|application\/fhir\+json)$/i.test(format)) {
    throw new OperationOutcomeError({ ...unsupportedMediaType, issue: [{ severity: 'error', code: 'not-supported', details: { text: `_format=${format.slice(0, 40)} is not supported: carebridge speaks application/fhir+json` } }] });
  }
  const accept = req.get('accept');
  if (accept && !/(\*\/\*|application\/(fhir\+)?json|application\/\*)/i.test(accept)) {
    throw new OperationOutcomeError({ ...unsupportedMediaType, issue: [{ severity: 'error', code: 'not-supported', details: { text: `Accept ${accept.slice(0, 60)} is not supported: carebridge speaks application/fhir+json` } }] });
  }
}

function queryPairs(req: Request): [string, string][] {
  const search = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
  return [...new URLSearchParams(search)];
}

function headersOf(req: Request): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(req.headers)) {
    out[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function send(res: Response, response: FhirResponse, pretty: boolean): void {
  if (res.headersSent) {
    // Already answered (the request timed out): the late result is dropped.
    return;
  }
  res.status(response.status);
  for (const [key, value] of Object.entries(response.headers)) {
    res.setHeader(key, value);
  }
  if (response.body === undefined) {
    res.end();
    return;
  }
  res.setHeader('Content-Type', `${FHIR_JSON}; charset=utf-8`);
  res.end(pretty ? JSON.stringify(response.body, null, 2) : JSON.stringify(response.body));
}

export function fhirRouter(options: FhirApiOptions): Router {
  const startedAt = new Date().toISOString();
  const router = express.Router({ caseSensitive: true, strict: false });
  const limits = options.limits ?? DEFAULT_LIMITS;

  // After authentication (mounted before this router) so a client is counted by its principal;
  // before the body is read, so a throttled client costs no upload.
  const limiter = rateLimiter(limits.rateLimitPerMinute, options.logger);
  if (limiter) {
    router.use(limiter);
  }

  // Bodies are read raw and parsed by parseJsonBody: one place bounds size and depth and refuses
  // __proto__ keys and non-JSON content types.
  router.use(express.raw({ type: () => true, limit: limits.maxBodyBytes }));

  // Each request reads and writes through the store as its caller sees it (tenancy).
  const observer: AuditObserver = options.auditObserver ?? { site: 'carebridge', baseUrl: options.publicUrl };
  const workflow = { clockRules: clockRulesOf(options.tcmClock) };
  // `interaction` names the request for its AuditEvent; undefined: nothing to audit (metadata).
  const handle = (interaction: AuditInteraction | undefined, run: (request: FhirRequest, req: Request, store: FhirStore, audit: RequestAudit) => Promise<FhirResponse> | FhirResponse) => async (req: Request, res: Response): Promise<void> => {
    let response: FhirResponse;
    const principal = res.locals.principal as Principal | undefined;
    const audit: RequestAudit = {
      interaction: interaction ?? 'operation',
      principal,
      resourceType: typeof req.params.type === 'string' ? req.params.type : undefined,
      query: req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : undefined,
      address: req.ip,
      requestId: res.locals.requestId as string | undefined,
      observer,
      // "$validate", "$process-message": which operation, in its AuditEvent.
      operation: interaction === 'operation' ? /\/(\$[a-z][a-z-]{0,63})$/.exec(req.path)?.[1] : undefined,
    };
    // Parsed once: express's req.query parses the query string again at every read.
    const query = queryPairs(req);
    try {
      checkAcceptable(req, query);
      const hasBody = Buffer.isBuffer(req.body) && req.body.length > 0;
      const isForm = req.is('application/x-www-form-urlencoded');
      const body = hasBody && !isForm ? parseJsonBody(req.get('content-type'), req.body as Buffer, limits.maxBodyBytes) : undefined;
      const request: FhirRequest = {
        method: req.method as FhirRequest['method'],
        path: req.path.replace(/^\//, ''),
        query,
        headers: headersOf(req),
        body,
        baseUrl: baseUrlOf(req, options),
        principal,
        logger: res.locals.logger as Logger | undefined,
        signal: res.locals[DEADLINE_LOCAL] as AbortSignal | undefined,
        deadlineAt: res.locals[DEADLINE_AT_LOCAL] as number | undefined,
      };
      response = await run(request, req, principal ? options.store.forCaller(auditedCaller(principal, audit, workflow)) : options.store, audit);
    } catch (err) {
      response = errorResponse(err);
      // Stopped at the deadline (504): the timeout has logged it and answered already.
      const stopped = response.status === 504 && pastDeadline(res.locals[DEADLINE_LOCAL] as AbortSignal | undefined, res.locals[DEADLINE_AT_LOCAL] as number | undefined);
      if (response.status >= 500 && !stopped) {
        ((res.locals.logger as Logger | undefined) ?? options.logger).error('FHIR request failed', { method: req.method, route: req.route?.path, error: err });
      }
    }
    if (interaction) {
      try {
        await recordRequest(options.auditTrail, audit, response);
      } catch (err) {
        // No unaudited access: what could not be recorded is not answered.
        ((res.locals.logger as Logger | undefined) ?? options.logger).error('audit trail write failed', { method: req.method, route: req.route?.path, error: err });
        // Too many events pending is the trail's back-pressure (429); anything else: unavailable.
        const refused = errorResponse(err);
        response = refused.status === 429 ? refused : { status: 503, body: auditUnavailable, headers: {} };
      }
    }
    send(res, response, singleValue(query, '_pretty') === 'true');
  };

  const security = (baseUrl: string): { tokenUrl: string } | undefined => (options.tokenPath ? { tokenUrl: `${baseUrl.replace(/\/fhir$/, '')}${options.tokenPath}` } : undefined);
  router.get('/metadata', handle(undefined, (request) => ({ status: 200, body: capabilityStatement(request.baseUrl, options.software ?? { name: 'carebridge', version: '0' }, startedAt, security(request.baseUrl)), headers: {} })));
  router.get('/_history', handle('history-system', (request, _req, store) => history(store, request)));
  router.post(
    '/',
    handle('transaction', (request, _req, store, audit) => {
      const bundle = request.body as Bundle | undefined;
      if (bundle?.resourceType !== 'Bundle' || (bundle.type !== 'transaction' && bundle.type !== 'batch')) {
        throw new OperationOutcomeError(badRequest('POST /fhir takes a Bundle of type transaction or batch'));
      }
      if (bundle.type === 'batch') {
        // Its AuditEvents (each entry's own, and the request's) say which of the two it was.
        audit.interaction = 'batch';
        return batch(store, request, bundle);
      }
      return transaction(store, request, bundle);
    }),
  );
  // Subscriptions (R5 Backport IG): the topics as Basic resources, $status and $events. Before the
  // generic routes: /Subscription/$status would read as an id.
  router.get('/Basic', handle('search-type', (request) => topicSearch(request)));
  router.get('/Basic/:id', handle('read', (_request, req) => topicRead(req.params.id as string)));
  router.get(operationPaths('status', 'GET'), handle('operation', (request, req, store) => statusOperation(store, request, req.params.id as string | undefined)));
  router.get(operationPaths('events', 'GET'), handle('operation', (request, req, store) => eventsOperation(store, request, req.params.id as string)));
  // The definitions of the operations (operation-definitions.ts), the canonicals /metadata names.
  router.get('/OperationDefinition', handle('search-type', (request) => operationDefinitionSearch(request)));
  router.get('/OperationDefinition/:id', handle('read', (request, req) => operationDefinitionRead(request, req.params.id as string)));
  // The case manager's coverage status and eligibility check (coverage-operations.ts).
  const clock = options.clock ?? (() => new Date());
  const coverage = { systemStore: options.store, payers: options.payers ?? new PayerDirectory([]), clock };
  router.get(operationPaths('coverage-status', 'GET'), handle('operation', (request, req, store) => coverageStatusOperation(store, request, req.params.id as string, clock())));
  router.post(operationPaths('check-eligibility', 'POST'), handle('operation', (request, req, store) => checkEligibilityOperation(store, request, req.params.id as string, coverage)));
  router.get('/:type', handle('search-type', (request, req, store) => search(store, request, req.params.type as string)));
  router.post(
    '/:type/_search',
    handle('search-type', (request, req, store) => {
      // POST _search: parameters in a form body (and the URL), as GET would have them.
      const form = Buffer.isBuffer(req.body) && req.is('application/x-www-form-urlencoded') ? [...new URLSearchParams((req.body as Buffer).toString('utf8'))] : [];
      return search(store, { ...request, query: [...request.query, ...form] }, req.params.type as string);
    }),
  );
  // Da Vinci Unsolicited Notifications (admit, discharge): before POST /:type, which would take "$process-message" for a type.
  router.post(operationPaths('process-message', 'POST'), handle('operation', (request, _req, store) => processMessage(store, request)));
  router.post(operationPaths('validate', 'POST'), handle('operation', (request, req) => validateOperation(request, req.params.type as string)));
  router.post('/:type', handle('create', (request, req, store) => store.transaction((tx) => create(tx, request, req.params.type as string))));
  router.put(
    '/:type',
    handle('update', (request, req, store) => {
      const query = new URLSearchParams(request.query.filter(([k]) => !k.startsWith('_format') && k !== '_pretty')).toString();
      if (!query) {
        throw new OperationOutcomeError(badRequest('PUT /Type needs search parameters (conditional update) or an id: PUT /Type/id'));
      }
      return store.transaction((tx) => conditionalUpdate(tx, request, req.params.type as string, query));
    }),
  );
  router.get('/:type/_history', handle('history-type', (request, req, store) => history(store, request, req.params.type as string)));
  router.get('/:type/:id', handle('read', (request, req, store) => read(store, request, req.params.type as string, req.params.id as string)));
  router.put('/:type/:id', handle('update', (request, req, store) => store.transaction((tx) => update(tx, request, req.params.type as string, req.params.id as string))));
  router.delete('/:type/:id', handle('delete', (request, req, store) => store.transaction((tx) => remove(tx, request, req.params.type as string, req.params.id as string))));
  router.get('/:type/:id/_history', handle('history-instance', (request, req, store) => history(store, request, req.params.type as string, req.params.id as string)));
  router.get('/:type/:id/_history/:vid', handle('vread', (request, req, store) => vread(store, request, req.params.type as string, req.params.id as string, req.params.vid as string)));

  // Known paths with other methods: 405; anything else under /fhir: 404.
  router.all(['/', '/metadata', '/:type', '/:type/:id'], handle('operation', () => {
    const outcome: OperationOutcome = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported', details: { text: 'Method not allowed here' } }] };
    return { status: 405, body: outcome, headers: {} };
  }));
  router.use(handle('operation', () => Promise.reject(new OperationOutcomeError(notFound))));
  return router;
}
