// The simulated peer's FHIR interactions: fhir-router's FhirRouter as it ships, with three routes
// changed where it falls short of the servers carebridge talks to (see each function).
import { OperationOutcomeError, allOk, badRequest, getSearchParameter, parseSearchRequest } from '@medplum/core';
import type { SearchRequest } from '@medplum/core';
import { BatchProcessor, FhirRouter } from '@medplum/fhir-router';
import type { BundlePreprocessInfo, FhirRepository, FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import type { Bundle, CapabilityStatement, Resource, ResourceType } from '@medplum/fhirtypes';
import { RESOURCE_TYPES } from '../../api/fhir/supported.ts';

/** Page size when a search names no _count, as on Medplum's server; the most one page holds. */
export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;

export interface PeerRouterOptions {
  /** Where the peer listens (http://127.0.0.1:PORT/fhir), for absolute paging links. */
  baseUrl: () => string;
  name: string;
  /** Whether the peer demands a bearer token (shown in the CapabilityStatement). */
  secured: boolean;
}

/**
 * fhir-router caps transactions with a conditional entry at 8 entries and 50 updates
 * (batch.ts `maxSerializableTransactionEntries`, `maxUpdates`): limits of Medplum's PostgreSQL
 * server, not of FHIR, and a discharge plan is a ~50-entry transaction of conditional PUTs. The
 * peer runs one request at a time and rolls a failed transaction back (peer-repository.ts), so
 * it lifts both caps by reporting the preprocessed bundle as needing neither. `preprocessBundle`
 * is private to BatchProcessor: if an upgrade renames it, the 48-entry transaction test fails.
 */
const batch: FhirRouteHandler = async (req, repo, router) => {
  const bundle = req.body as Bundle;
  if (bundle?.resourceType !== 'Bundle') {
    return [badRequest('Not a bundle')];
  }
  const processor = new BatchProcessor(router, repo, bundle, req);
  const scan = (processor['preprocessBundle'] as () => Promise<BundlePreprocessInfo>).bind(processor);
  processor['preprocessBundle'] = async (): Promise<BundlePreprocessInfo> => ({ ...(await scan()), requiresStrongTransaction: false, updates: 0 });
  return [allOk, await processor.run()];
};

/** A position in _lastUpdated order (ties broken by id): what a paging cursor names. */
interface SortKey {
  at: number;
  id: string;
}

function keyOf(resource: Resource): SortKey {
  return { at: Date.parse(resource.meta?.lastUpdated ?? ''), id: resource.id ?? '' };
}

function compareKeys(a: SortKey, b: SortKey): number {
  return a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function encodeCursor(key: SortKey): string {
  return `${key.at}.${key.id}`;
}

function decodeCursor(cursor: string): SortKey {
  const dot = cursor.indexOf('.');
  const at = Number(cursor.slice(0, dot));
  if (dot < 1 || !Number.isInteger(at)) {
    throw new OperationOutcomeError(badRequest('Invalid _cursor', '_cursor'));
  }
  return { at, id: cursor.slice(dot + 1) };
}

/**
 * fhir-router's MemoryRepository answers an unknown parameter with 0 matches, status 200: a poller
 * with a typo would silently see nothing. Medplum's server answers 400, and so does the peer.
 */
function checkParameters(search: SearchRequest): void {
  for (const { code } of search.filters ?? []) {
    const chained = code.includes('.') || code.startsWith('_has:');
    if (!chained && !getSearchParameter(search.resourceType, code)) {
      throw new OperationOutcomeError(badRequest(`Unknown search parameter: ${code}`, code));
    }
  }
  if (search.include || search.revInclude) {
    throw new OperationOutcomeError(badRequest('The simulated peer does not page _include or _revinclude', '_include'));
  }
  const sort = search.sortRules ?? [];
  if (sort.length > 1 || (sort[0] && sort[0].code !== '_lastUpdated')) {
    throw new OperationOutcomeError(badRequest('The simulated peer sorts by _lastUpdated only', '_sort'));
  }
}

/**
 * fhir-router's search answers no paging links, and MemoryRepository orders matches by creation,
 * breaking no ties. EHR polling needs `Task?_lastUpdated=gt…&_count=N` in _lastUpdated order with
 * `next` links, so the peer runs the repository search for all matches and pages them itself, by
 * keyset (`_cursor` = the last entry's lastUpdated and id), not offset: a resource updated
 * between two pages moves to the end instead of shifting another one out of the next page.
 */
function pagedSearch(baseUrl: () => string): FhirRouteHandler {
  return async (req, repo) => {
    const type = req.params.resourceType as ResourceType;
    const search = parseSearchRequest(type, req.query);
    checkParameters(search);
    const count = search.count ?? DEFAULT_COUNT;
    if (!Number.isInteger(count) || count < 0 || count > MAX_COUNT) {
      throw new OperationOutcomeError(badRequest(`_count must be an integer from 0 to ${MAX_COUNT}`, '_count'));
    }
    const descending = search.sortRules?.[0]?.descending === true;
    const direction = descending ? -1 : 1;
    const matches = await repo.searchResources({ ...search, count: undefined, offset: undefined, sortRules: undefined, cursor: undefined });
    matches.sort((a, b) => direction * compareKeys(keyOf(a), keyOf(b)));
    const after = search.cursor === undefined ? undefined : decodeCursor(search.cursor);
    const rest = after ? matches.filter((r) => direction * compareKeys(keyOf(r), after) > 0) : matches;
    const page = rest.slice(search.offset ?? 0).slice(0, count);

    const query = new URLSearchParams(Object.entries(req.query).flatMap(([k, v]) => (v === undefined ? [] : [v].flat().map((one): [string, string] => [k, one]))));
    const link: Bundle['link'] = [{ relation: 'self', url: `${baseUrl()}/${type}?${query.toString()}` }];
    const last = page[page.length - 1];
    if (last && rest.length > (search.offset ?? 0) + page.length) {
      query.delete('_offset');
      query.set('_cursor', encodeCursor(keyOf(last)));
      link.push({ relation: 'next', url: `${baseUrl()}/${type}?${query.toString()}` });
    }
    const entry = page.map((resource) => ({ fullUrl: `${baseUrl()}/${type}/${resource.id}`, resource, search: { mode: 'match' as const } }));
    return [allOk, { resourceType: 'Bundle', type: 'searchset', total: matches.length, link, entry }];
  };
}

/** fhir-router has no GET /metadata; this one is built from the router's own route table. */
function capabilityStatement(router: FhirRouter, options: PeerRouterOptions): CapabilityStatement {
  const interactions = new Set(router.router.routes.map((route) => route.data?.interaction));
  const system = (['transaction', 'batch', 'search-system'] as const).filter((code) => interactions.has(code === 'transaction' ? 'batch' : code));
  const type = (['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type'] as const).filter((code) => interactions.has(code));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: `${options.name} (simulated FHIR peer, @medplum/fhir-router)` },
    implementation: { description: options.name, url: options.baseUrl() },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        ...(options.secured ? { security: { service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'OAuth' }] }] } } : {}),
        interaction: system.map((code) => ({ code })),
        // The router serves any R4 type; these are the ones carebridge exchanges.
        resource: RESOURCE_TYPES.map((resourceType) => ({
          type: resourceType,
          interaction: type.map((code) => ({ code })),
          versioning: 'versioned',
          conditionalCreate: true,
          conditionalUpdate: true,
          searchParam: [{ name: '_lastUpdated', type: 'date', documentation: 'Results in _lastUpdated order, paged by next links' }],
        })),
      },
    ],
  };
}

export function createPeerRouter(options: PeerRouterOptions): FhirRouter {
  const router = new FhirRouter();
  const search = pagedSearch(options.baseUrl);
  for (const route of router.router.routes) {
    const path = route.path.map((segment) => segment.value).join('/');
    if (route.method === 'POST' && path === '') {
      route.handler = batch;
    } else if (route.method === 'GET' && path === 'resourceType') {
      route.handler = search;
    }
  }
  // A literal segment outranks GET :resourceType in the router's scoring.
  router.add('GET', 'metadata', async () => [allOk, capabilityStatement(router, options)]);
  return router;
}

/** Runs a request through the router with transactions on (off, a transaction is run as a batch). */
export function handleFhirRequest(router: FhirRouter, repo: FhirRepository, request: Omit<FhirRequest, 'pathname' | 'params' | 'query' | 'config'>): Promise<FhirResponse> {
  return router.handleRequest({ ...request, pathname: '', params: {}, query: {}, config: { transactions: true } }, repo);
}
