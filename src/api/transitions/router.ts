// /transitions over express (push a plan, read a transition's state, list them) and
// GET /fhir/CarePlan/{id}/$transition. Like /fhir: a bearer token on every request (mounted in
// app.ts), reads and writes through the store as the caller sees it (tenancy), an AuditEvent for
// every request (writes record theirs in their own transaction), errors as OperationOutcome.
import { OperationOutcomeError, notFound } from '@medplum/core';
import type { Bundle, OperationOutcome, Provenance, Resource } from '@medplum/fhirtypes';
import express from 'express';
import type { Request, Response, Router } from 'express';
import type { AuditInteraction, AuditObserver } from '../../audit/audit-event.ts';
import type { AuditTrail } from '../../audit/audit-trail.ts';
import type { Principal } from '../../auth/principal.ts';
import type { ClockConfig } from '../../config/clock.ts';
import { clockRulesOf } from '../../config/clock.ts';
import type { Limits } from '../../config/limits.ts';
import type { Logger } from '../../log/logger.ts';
import type { FhirStore, StoreTransaction } from '../../store/fhir-store.ts';
import { parseJsonBody } from '../../validation/json-input.ts';
import type { RequestAudit } from '../fhir/audit-hook.ts';
import { auditedCaller, recordRequest } from '../fhir/audit-hook.ts';
import type { FhirRequest } from '../fhir/request.ts';
import { errorResponse } from '../fhir/request.ts';
import { operationPaths } from '../fhir/supported.ts';
import { rateLimiter } from '../hardening/rate-limit.ts';
import { agencyOptions, choiceOf, choiceProvenance, parseChoice, readChoices, requirePlanner } from './agency-options.ts';
import type { TransitionResources } from './collect.ts';
import { collectTransition } from './collect.ts';
import { listTransitions } from './list.ts';
import { pushTransition } from './push.ts';
import { transitionState } from './state.ts';
import { requireClockReader, timelineParameters, transitionTimeline } from './timeline.ts';

const FHIR_JSON = 'application/fhir+json';

export interface TransitionsApiOptions {
  store: FhirStore;
  logger: Logger;
  publicUrl?: string;
  limits: Limits;
  auditTrail: AuditTrail;
  auditObserver: AuditObserver;
  /** The clock agency matching (capacity, active coverage) and recorded choices use; the wall clock by default. */
  clock?: () => Date;
  /** Holidays and hospital time zones of the TCM deadlines (default: US federal, the discharge's written offset). */
  tcmClock?: ClockConfig;
  /** The TCM clock's time (ms since the epoch; default: `clock`, else Date.now). */
  now?: () => number;
}

/** What a handler answers: a JSON body (FHIR or not), and what it disclosed, for the AuditEvent. */
export interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** application/fhir+json (resources, OperationOutcomes) rather than application/json. */
  fhir?: boolean;
  disclosed: Resource[];
}

export interface Context {
  req: Request;
  principal: Principal;
  store: FhirStore;
  request: FhirRequest;
  base: string;
}

const auditUnavailable: OperationOutcome = {
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code: 'transient', details: { text: 'The audit trail could not be written; the request was not answered. Try again.' } }],
};

function queryPairs(req: Request): [string, string][] {
  const at = req.originalUrl.indexOf('?');
  return at < 0 ? [] : [...new URLSearchParams(req.originalUrl.slice(at + 1))];
}

function notFoundError(): OperationOutcomeError {
  return new OperationOutcomeError(notFound);
}

/** Wraps a handler: the caller's view of the store, errors as OperationOutcome, the request's AuditEvent. */
export type Handle = (interaction: AuditInteraction, run: (ctx: Context) => Promise<Answer>) => (req: Request, res: Response) => Promise<void>;

/**
 * The two routers: `transitions` for /transitions, `operation` for /fhir (before the FHIR router);
 * and `handle`, for other reads of transitions with the same tenancy and audit (the board's).
 */
export function transitionsRouters(options: TransitionsApiOptions): { transitions: Router; operation: Router; handle: Handle } {
  // Its own counter per client, as the /fhir router has (see hardening/rate-limit.ts).
  const limiter = rateLimiter(options.limits.rateLimitPerMinute, options.logger);
  const body = express.raw({ type: () => true, limit: options.limits.maxBodyBytes });
  // A pushed plan's discharge sets its TCM deadlines on the write path (workflow/transition-deadlines.ts).
  const workflow = { clockRules: clockRulesOf(options.tcmClock) };

  const handle: Handle = (interaction, run) => async (req, res) => {
    const principal = res.locals.principal as Principal | undefined;
    const logger = (res.locals.logger as Logger | undefined) ?? options.logger;
    const audit: RequestAudit = {
      interaction,
      principal,
      resourceType: 'CarePlan',
      query: req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : undefined,
      address: req.ip,
      requestId: res.locals.requestId as string | undefined,
      observer: options.auditObserver,
    };
    const base = options.publicUrl ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`;
    let answer: Answer;
    try {
      if (!principal) {
        // requireBearer runs first; without it nothing here is served.
        throw notFoundError();
      }
      const store = options.store.forCaller(auditedCaller(principal, audit, workflow));
      const request: FhirRequest = { method: req.method as FhirRequest['method'], path: req.path.replace(/^\//, ''), query: queryPairs(req), headers: {}, baseUrl: `${base}/fhir`, principal, logger };
      answer = await run({ req, principal, store, request, base });
    } catch (err) {
      const response = errorResponse(err);
      if (response.status >= 500) {
        logger.error('transitions request failed', { method: req.method, route: req.route?.path, error: err });
      }
      answer = { status: response.status, body: response.body, fhir: true, disclosed: [] };
    }
    try {
      const disclosed: Bundle = { resourceType: 'Bundle', type: 'collection', entry: answer.disclosed.map((resource) => ({ resource })) };
      await recordRequest(options.auditTrail, audit, { status: answer.status, body: answer.status < 400 ? disclosed : (answer.body as Resource), headers: {} });
    } catch (err) {
      logger.error('audit trail write failed', { method: req.method, route: req.route?.path, error: err });
      const refused = errorResponse(err);
      answer = refused.status === 429 ? { status: 429, body: refused.body, fhir: true, disclosed: [] } : { status: 503, body: auditUnavailable, fhir: true, disclosed: [] };
    }
    if (res.headersSent) {
      return;
    }
    res.status(answer.status);
    for (const [name, value] of Object.entries(answer.headers ?? {})) {
      res.setHeader(name, value);
    }
    res.setHeader('Content-Type', `${answer.fhir ? FHIR_JSON : 'application/json'}; charset=utf-8`);
    res.end(req.query._pretty === 'true' ? JSON.stringify(answer.body, null, 2) : JSON.stringify(answer.body));
  };

  const transitions = express.Router({ caseSensitive: true, strict: false });
  if (limiter) {
    transitions.use(limiter);
  }
  transitions.post(
    '/',
    body,
    handle('transaction', async ({ req, store, request, base }) => {
      const hasBody = Buffer.isBuffer(req.body) && req.body.length > 0;
      if (!hasBody) {
        throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'required', details: { text: 'POST /transitions takes a transition plan (JSON) as its body' } }] });
      }
      const plan = parseJsonBody(req.get('content-type'), req.body as Buffer, options.limits.maxBodyBytes);
      const pushed = await pushTransition(store, request, plan);
      const disclosed = (pushed.body.transactionResponse.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
      return { status: pushed.status, body: pushed.body, headers: { Location: `${base}/transitions/${pushed.body.id}` }, disclosed };
    }),
  );
  transitions.get(
    '/',
    handle('search-type', async ({ store, request, base }) => {
      const list = await listTransitions(store, request.query, `${base}/transitions`);
      return { status: 200, body: { items: list.items, links: list.links }, disclosed: list.disclosed };
    }),
  );
  const clock = options.clock ?? (() => new Date());
  const tcmNow = (): number => (options.now ? options.now() : clock().getTime());
  const readTransition = async (store: FhirStore | StoreTransaction, id: string): Promise<TransitionResources> => {
    const transition = await collectTransition(store, id);
    if (!transition) {
      throw notFoundError();
    }
    return transition;
  };
  transitions.get(
    '/:id',
    handle('read', async ({ req, store }) => {
      const transition = await readTransition(store, req.params.id as string);
      return { status: 200, body: await transitionState(store, transition), disclosed: transition.resources };
    }),
  );
  transitions.get(
    '/:id/agency-options',
    handle('operation', async ({ req, principal, store, request }) => {
      requirePlanner(principal);
      const transition = await readTransition(store, req.params.id as string);
      const listed = await agencyOptions(store, transition, request.query, clock());
      return { status: 200, body: listed.body, disclosed: listed.disclosed };
    }),
  );
  transitions.post(
    '/:id/agency-choice',
    body,
    handle('create', async ({ req, principal, store, base }) => {
      requirePlanner(principal);
      const transition = await readTransition(store, req.params.id as string);
      const choice = parseChoice(parseJsonBody(req.get('content-type'), req.body as Buffer, options.limits.maxBodyBytes));
      const provenance = await choiceProvenance(store, transition.carePlan, choice, principal, clock());
      // Provenance is carebridge's own record (nobody writes it through /fhir): written as carebridge.
      const stored = (await options.store.create(provenance)).version.resource as Provenance;
      return { status: 201, body: choiceOf(stored), headers: { Location: `${base}/transitions/${transition.carePlan.id}/agency-choice` }, disclosed: [stored] };
    }),
  );
  transitions.get(
    '/:id/agency-choice',
    handle('read', async ({ req, principal, store }) => {
      requirePlanner(principal);
      const transition = await readTransition(store, req.params.id as string);
      const choices = await readChoices(options.store, transition.carePlan);
      return { status: 200, body: { transition: transition.carePlan.id, choices: choices.map(choiceOf) }, disclosed: choices };
    }),
  );
  transitions.get(
    '/:id/timeline',
    handle('read', async ({ req, principal, store }) => {
      requireClockReader(principal);
      const transition = await readTransition(store, req.params.id as string);
      const { timeline, disclosed } = await transitionTimeline(store, transition, tcmNow());
      return { status: 200, body: timeline, disclosed };
    }),
  );
  transitions.all(['/', '/:id', '/:id/timeline'], handle('operation', () => Promise.resolve({ status: 405, fhir: true, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported', details: { text: 'Method not allowed here' } }] }, disclosed: [] })));
  transitions.use(handle('operation', () => Promise.reject(notFoundError())));

  const operation = express.Router({ caseSensitive: true, strict: false });
  if (limiter) {
    operation.use([...operationPaths('transition', 'GET'), ...operationPaths('timeline', 'GET')], limiter);
  }
  operation.get(
    operationPaths('timeline', 'GET'),
    handle('operation', async ({ req, principal, store }) => {
      requireClockReader(principal);
      const transition = await collectTransition(store, req.params.id as string);
      if (!transition) {
        throw notFoundError();
      }
      const { timeline, disclosed } = await transitionTimeline(store, transition, tcmNow());
      return { status: 200, body: timelineParameters(timeline), fhir: true, disclosed };
    }),
  );
  operation.get(
    operationPaths('transition', 'GET'),
    handle('operation', async ({ req, store, request }) => {
      const transition = await collectTransition(store, req.params.id as string);
      if (!transition) {
        throw notFoundError();
      }
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'searchset',
        total: 1,
        link: [{ relation: 'self', url: `${request.baseUrl}/CarePlan/${transition.carePlan.id}/$transition` }],
        entry: transition.resources.map((resource, i) => ({ fullUrl: `${request.baseUrl}/${resource.resourceType}/${resource.id}`, resource, search: { mode: i === 0 ? 'match' : 'include' } })),
      };
      return { status: 200, body: bundle, fhir: true, disclosed: transition.resources };
    }),
  );
  return { transitions, operation, handle };
}
