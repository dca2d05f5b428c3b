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
  if (!ROUTE_PATTERN.test(pattern)) {
    return UNMATCHED;
  }
  if (!seenRoutes.has(pattern)) {
    if (seenRoutes.size >= MAX_ROUTES) {
      return OTHER;
    }
    seenRoutes.add(pattern);
  }
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

/**
 * Records the full route pattern (mount + route, "/fhir/:type/:id") on the request the moment
 * express matches a route. Read at that moment because express resets req.baseUrl when an error
 * leaves the router, while req.route stays. The mount is lower-cased: express matches it without
 * regard to case, and "/FHIR" must not become a label value of its own.
 */
export function trackRoutePattern(req: Request): () => string {
  let route: unknown;
  let pattern: string | undefined;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set: (value: unknown) => {
      route = value;
      const path = pathOf(value, req.path);
      const mount = req.baseUrl.toLowerCase();
      // A router's own root ('/transitions' + '/') is named by its mount.
      pattern = path === undefined ? undefined : path === '/' && mount !== '' ? mount : `${mount}${path}`;
    },
  });
  return () => (pattern === undefined ? UNMATCHED : boundedRoute(pattern));
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
