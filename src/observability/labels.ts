// Label values of carebridge's metrics. A label is never a value a client chose: a URL path may
// hold an MRN, a destination may be a Subscription's id. Every value here comes from a fixed set
// (route patterns in the code, HTTP methods, FHIR issue types, peer names from the config file),
// anything else becomes "unmatched" or "other", and the number of distinct values is capped.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { Request } from 'express';

export const UNMATCHED = 'unmatched';
export const OTHER = 'other';

/** More distinct route patterns than the code has means something is wrong: the rest count as "other". */
const MAX_ROUTES = 200;
/** A route pattern as the code writes it: segments, :params, $operations, alternatives. */
const ROUTE_PATTERN = /^[A-Za-z0-9/_:$.|*-]{1,160}$/;
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** A peer's name as the config file allows it (config/peers.ts). */
const PEER_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** The destinations of Subscriptions ("subscription/<id>") count as one: ids are unbounded. */
export const SUBSCRIPTIONS = 'subscriptions';

/** FHIR R4 IssueType codes (http://hl7.org/fhir/R4/valueset-issue-type.html). */
const ISSUE_TYPES = new Set<string>([
  'invalid', 'structure', 'required', 'value', 'invariant', 'security', 'login', 'unknown', 'expired', 'forbidden', 'suppressed',
  'processing', 'not-supported', 'duplicate', 'multiple-matches', 'not-found', 'deleted', 'too-long', 'code-invalid', 'extension',
  'too-costly', 'business-rule', 'conflict', 'transient', 'lock-error', 'no-store', 'exception', 'timeout', 'incomplete', 'throttled', 'informational',
]);

const seenRoutes = new Set<string>();

function boundedRoute(pattern: string): string {
  if (seenRoutes.has(pattern)) {
    return pattern;
  }
  if (!ROUTE_PATTERN.test(pattern)) {
    return UNMATCHED;
  }
  if (seenRoutes.size >= MAX_ROUTES) {
    return OTHER;
  }
  seenRoutes.add(pattern);
  return pattern;
}

/**
 * express's route path without the escapes of `\\$op`. A route of several alternatives (the 405
 * route's '/metadata' and '/:type', Subscription/$status with and without an id) is named by the
 * first alternative that matches the request's own path, as express tries them: literal segments
 * equal (without regard to case, as express matches), `:param` segments anything.
 */
function pathOf(route: unknown, requestPath: string): string | undefined {
  const path = (route as { path?: unknown } | undefined)?.path;
  if (typeof path === 'string') {
    return path.replace(/\\/g, '');
  }
  if (!Array.isArray(path) || !path.every((p) => typeof p === 'string')) {
    return undefined;
  }
  const alternatives = (path as string[]).map((p) => p.replace(/\\/g, ''));
  const requested = segmentsOf(requestPath.toLowerCase());
  const matches = (pattern: string): boolean => {
    const wanted = segmentsOf(pattern.toLowerCase());
    return wanted.length === requested.length && wanted.every((segment, i) => segment.startsWith(':') || segment === requested[i]);
  };
  return alternatives.find(matches) ?? alternatives[0];
}

function segmentsOf(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

/** Where the route tracking keeps a request's matched route and its full pattern (symbols: no clash with express). */
const ROUTE = Symbol('carebridge.route');
const PATTERN = Symbol('carebridge.routePattern');
/** Request prototypes (one per express app) whose `route` is already tracked. */
const trackedPrototypes = new WeakSet<object>();
/** Patterns of single-path routes by route and mount: computed once per route, not per request. */
const patternsByRoute = new WeakMap<object, Map<string, string | undefined>>();

interface TrackedRequest {
  [ROUTE]?: unknown;
  [PATTERN]?: string;
}

function patternOf(route: unknown, req: Request): string | undefined {
  const mount = req.baseUrl.toLowerCase();
  const single = typeof (route as { path?: unknown } | undefined)?.path === 'string';
  // Alternatives are named by the request's own path: computed per request.
  let byMount = single ? patternsByRoute.get(route as object) : undefined;
  if (byMount?.has(mount)) {
    return byMount.get(mount);
  }
  const path = pathOf(route, req.path);
  // A router's own root ('/transitions' + '/') is named by its mount.
  const pattern = path === undefined ? undefined : path === '/' && mount !== '' ? mount : `${mount}${path}`;
  if (single) {
    if (!byMount) {
      byMount = new Map();
      patternsByRoute.set(route as object, byMount);
    }
    // Mounts are the code's (or their case variants): bounded, but capped all the same.
    if (byMount.size < MAX_ROUTES) {
      byMount.set(mount, pattern);
    }
  }
  return pattern;
}

/**
 * Makes `req.route` of every request on this request's prototype (express gives each app its
 * own) record the full pattern when express assigns it. An accessor on the prototype, once per
 * app: one defined on each request gave every request a hidden class of its own, which kept the
 * whole request alive through the young-generation collections (and made them slow).
 */
function trackRoutesOf(req: Request): void {
  const prototype = Object.getPrototypeOf(req) as object | null;
  if (prototype === null || trackedPrototypes.has(prototype)) {
    return;
  }
  Object.defineProperty(prototype, 'route', {
    configurable: true,
    enumerable: true,
    get(this: TrackedRequest) {
      return this[ROUTE];
    },
    set(this: Request & TrackedRequest, value: unknown) {
      this[ROUTE] = value;
      this[PATTERN] = patternOf(value, this);
    },
  });
  trackedPrototypes.add(prototype);
}

/** The route label of a request tracked by trackRoutePattern: its full pattern, or "unmatched". */
export function routeLabel(req: Request): string {
  const pattern = (req as TrackedRequest)[PATTERN];
  return pattern === undefined ? UNMATCHED : boundedRoute(pattern);
}

/**
 * Records the full route pattern (mount + route, "/fhir/:type/:id") on the request the moment
 * express matches a route. Read at that moment because express resets req.baseUrl when an error
 * leaves the router, while req.route stays. The mount is lower-cased: express matches it without
 * regard to case, and "/FHIR" must not become a label value of its own. Read it with routeLabel.
 */
export function trackRoutePattern(req: Request): void {
  trackRoutesOf(req);
}

export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : OTHER;
}

/** A destination as a label: a configured peer's name, every Subscription as one. */
export function destinationLabel(destination: string): string {
  if (destination.startsWith('subscription/')) {
    return SUBSCRIPTIONS;
  }
  return PEER_NAME.test(destination) ? destination : OTHER;
}

/** A peer's name as a label (poll status rows carry configured names). */
export function peerLabel(peer: string): string {
  return PEER_NAME.test(peer) ? peer : OTHER;
}

/** The type of an OperationOutcome's first error (or fatal) issue: a code from a fixed value set. */
export function issueLabel(issues: readonly OperationOutcomeIssue[] | undefined): string {
  const first = issues?.find((i) => i.severity === 'error' || i.severity === 'fatal') ?? issues?.[0];
  return typeof first?.code === 'string' && ISSUE_TYPES.has(first.code) ? first.code : OTHER;
}
