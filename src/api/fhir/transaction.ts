// POST /fhir with a transaction or batch Bundle. A transaction runs in one store transaction:
// ids are chosen first, urn:uuid and conditional references rewritten to them, then every entry
// is written; any failure rolls all of it back. A batch runs each entry on its own.
import { OperationOutcomeError, badRequest, getStatus } from '@medplum/core';
import type { Bundle, BundleEntry, BundleEntryResponse, Resource } from '@medplum/fhirtypes';
import type { FhirStore, StoreTransaction } from '../../store/fhir-store.ts';
import { RetryableConflict } from '../../store/sql/executor.ts';
import { UNPROCESSABLE_ID, checkType, conditionalUpdate, create, read, remove, update } from './handlers.ts';
import { validateFhirResource } from '../../validation/fhir-validator.ts';
import { hasErrors, toOutcome } from '../../validation/outcome.ts';
import { CONDITIONAL_REFERENCE, forEachReference, rewriteReferences } from './references.ts';
import { search } from './search.ts';
import { conditionSearch } from './search-params.ts';
import type { FhirRequest, FhirResponse } from './request.ts';
import { badRequestError, internalError } from './request.ts';
import { assignIds, likelyIds, parseConditions, prepareFirstAttempt, sameTargets } from './transaction-ids.ts';
import { BundleBudget } from './bundle-budget.ts';
import type { PlannedEntry } from './transaction-ids.ts';
import { multipleMatchesError } from '../../util/precondition-failed.ts';
import { hasScheme } from '../../util/untrusted-text.ts';

/** A transaction is one unit of work: at most this many entries. */
export const MAX_ENTRIES = 1000;

const METHOD_ORDER: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

const ENTRY_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * An entry's request.url: Type, Type/id or Type?query, relative or after this server's own base
 * URL. Another server's URL is refused (it was once read as ours), and so is a POST to anything
 * but a type (Patient/$validate, Patient/some-id, Patient?name=x once created a Patient).
 */
function parseUrl(url: string | undefined, index: number, method: string, baseUrl: string): { type: string; id?: string; query?: string } {
  const at = `Bundle.entry[${index}].request.url`;
  if (!url) {
    throw badRequestError(`${at} is required`, at);
  }
  const refuse = (why: string): never => {
    throw badRequestError(`${at} "${url.slice(0, 100)}" ${why}`, at);
  };
  const own = `${baseUrl.replace(/\/$/, '')}/`;
  if (hasScheme(url) && !url.startsWith(own)) {
    refuse(`is not on this server (${own})`);
  }
  const relative = url.startsWith(own) ? url.slice(own.length) : url.replace(/^\//, '');
  const question = relative.indexOf('?');
  const path = question >= 0 ? relative.slice(0, question) : relative;
  const query = question >= 0 ? relative.slice(question + 1) : undefined;
  const [type = '', id, ...rest] = path.split('/');
  // A read may carry parameters (Patient/1?_elements=name); a PUT or DELETE is by id or by query.
  if (!/^[A-Z][A-Za-z]+$/.test(type) || rest.length > 0 || (id !== undefined && !ENTRY_ID.test(id)) || (id !== undefined && query !== undefined && method !== 'GET')) {
    refuse('is not Type, Type/id or Type?query');
  }
  if (method === 'POST' && (id !== undefined || query !== undefined)) {
    refuse(`is not a resource type: a POST entry creates a ${type} at the url "${type}" (a conditional create says ifNoneExist)`);
  }
  return { type, ...(id !== undefined ? { id } : {}), ...(query !== undefined ? { query } : {}) };
}

function plan(bundle: Bundle, baseUrl: string): PlannedEntry[] {
  const entries = (bundle.entry ?? []) as unknown;
  if (!Array.isArray(entries)) {
    throw badRequestError('Bundle.entry must be an array');
  }
  entries.forEach((entry: unknown, index) => {
    const request = (entry as { request?: unknown } | null)?.request as { method?: unknown; url?: unknown; ifNoneExist?: unknown; ifMatch?: unknown } | undefined;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry) || request === null || typeof request !== 'object') {
      throw badRequestError(`Bundle.entry[${index}] must be an object with a request`);
    }
    for (const field of ['method', 'url', 'ifNoneExist', 'ifMatch'] as const) {
      if (request[field] !== undefined && typeof request[field] !== 'string') {
        throw badRequestError(`Bundle.entry[${index}].request.${field} must be a string`);
      }
    }
    const fullUrl = (entry as { fullUrl?: unknown }).fullUrl;
    if (fullUrl !== undefined && typeof fullUrl !== 'string') {
      throw badRequestError(`Bundle.entry[${index}].fullUrl must be a string`, `Bundle.entry[${index}].fullUrl`);
    }
  });
  return planEntries(bundle, entries as BundleEntry[], baseUrl);
}

function planEntries(bundle: Bundle, entries: BundleEntry[], baseUrl: string): PlannedEntry[] {
  if (entries.length > MAX_ENTRIES) {
    throw badRequestError(`A ${bundle.type} holds at most ${MAX_ENTRIES} entries`);
  }
  const fullUrls = new Set<string>();
  return entries.map((entry, index) => {
    const method = entry.request?.method;
    if (method !== 'GET' && method !== 'POST' && method !== 'PUT' && method !== 'DELETE') {
      throw badRequestError(`Bundle.entry[${index}].request.method must be GET, POST, PUT or DELETE`);
    }
    if (entry.fullUrl) {
      if (fullUrls.has(entry.fullUrl)) {
        throw badRequestError(`Bundle.entry[${index}].fullUrl ${entry.fullUrl} is used twice`);
      }
      fullUrls.add(entry.fullUrl);
    }
    const target = parseUrl(entry.request?.url, index, method, baseUrl);
    checkType(target.type);
    if ((method === 'POST' || method === 'PUT') && entry.resource?.resourceType !== target.type) {
      throw badRequestError(`Bundle.entry[${index}].resource is not a ${target.type}`);
    }
    return { index, entry, method, ...target };
  });
}

/** Type?query references inside resources: resolved to the one match, or the transaction fails. */
async function resolveConditionalReferences(tx: StoreTransaction, resources: Resource[], map: Map<string, string>): Promise<void> {
  const pending = new Set<string>();
  resources.forEach((r) =>
    forEachReference(r, (reference) => {
      if (CONDITIONAL_REFERENCE.test(reference) && !map.has(reference)) {
        pending.add(reference);
      }
    }),
  );
  for (const reference of pending) {
    const [refType = '', refQuery = ''] = reference.split('?', 2);
    const result = await tx.search(conditionSearch(refType, refQuery));
    if (result.resources.length !== 1 || result.ignored.length > 0) {
      throw new OperationOutcomeError(
        result.resources.length > 1 ? multipleMatchesError('A conditional reference').outcome : badRequest(`Conditional reference ${reference.slice(0, 120)} matches ${result.resources.length} resources`),
      );
    }
    const match = result.resources[0] as Resource;
    map.set(reference, `${match.resourceType}/${match.id}`);
  }
}

function entryRequest(base: FhirRequest, entry: BundleEntry, path: string, body?: Resource): FhirRequest {
  return {
    method: entry.request?.method as FhirRequest['method'],
    path,
    query: [],
    headers: {
      'if-none-exist': entry.request?.ifNoneExist,
      'if-match': entry.request?.ifMatch,
      prefer: base.headers.prefer,
    },
    body,
    baseUrl: base.baseUrl,
    principal: base.principal,
  };
}

function toEntryResponse(response: FhirResponse): BundleEntry {
  const result: BundleEntryResponse = { status: String(response.status) };
  if (response.headers.Location) {
    result.location = response.headers.Location;
  }
  if (response.headers.ETag) {
    result.etag = response.headers.ETag;
  }
  if (response.headers['Last-Modified']) {
    result.lastModified = new Date(response.headers['Last-Modified']).toISOString();
  }
  const body = response.body;
  if (body?.resourceType === 'OperationOutcome') {
    return { response: { ...result, outcome: body } };
  }
  return { ...(body ? { resource: body } : {}), response: result };
}

/** A GET entry reads inside the transaction, so it sees the entries written before it. */
function readEntry(tx: StoreTransaction, base: FhirRequest, p: PlannedEntry): Promise<FhirResponse> {
  const request: FhirRequest = { method: 'GET', path: p.entry.request?.url ?? '', query: [...new URLSearchParams(p.query ?? '')], headers: {}, baseUrl: base.baseUrl, principal: base.principal };
  return p.id ? read(tx, request, p.type, p.id) : search(tx, request, p.type);
}

/**
 * Only carebridge and admins choose a new resource's id (a conditional PUT with no match): for a
 * tenant, "that id is taken" would tell it that a resource it cannot see exists.
 */
export function mayChooseIds(request: FhirRequest): boolean {
  return !request.principal || request.principal.role === 'admin';
}

/**
 * `validated`: validateEntries checked the entry's resource (a transaction's, not a batch's).
 * `deletesRan`: the transaction's DELETE entries have run before this one.
 */
async function runEntry(tx: StoreTransaction, base: FhirRequest, p: PlannedEntry, validated: boolean, deletesRan = false): Promise<FhirResponse> {
  const resource = p.entry.resource;
  switch (p.method) {
    case 'POST': {
      if (p.existing) {
        // The match as assignIds found it in this transaction: only a DELETE entry (they run
        // before POSTs) can have changed it since, so only then is it read again.
        const version = deletesRan ? await tx.read(p.type, p.assignedId as string) : { resource: p.existing, versionId: p.existing.meta?.versionId };
        return { status: 200, body: version?.resource, headers: { Location: `${base.baseUrl}/${p.type}/${p.assignedId}/_history/${version?.versionId}`, ETag: `W/"${version?.versionId}"` } };
      }
      const response = await create(tx, entryRequest(base, p.entry, p.type, resource), p.type, { assignedId: p.assignedId, searchedAbsent: p.searchedAbsent === true, assignedIdMinted: p.minted === true, index: p.prepared, validated });
      if (p.assignedId !== undefined && !response.headers.Location?.includes(`/${p.type}/${p.assignedId}/`)) {
        // Another transaction created the same conditional resource after we looked: our
        // references point at the id we chose, so start over (the retry finds theirs).
        throw new RetryableConflict('conditional create raced');
      }
      return response;
    }
    case 'PUT': {
      if (p.query === undefined) {
        return update(tx, entryRequest(base, p.entry, `${p.type}/${p.id}`, resource), p.type, p.id as string, { index: p.prepared, validated });
      }
      const response = await conditionalUpdate(tx, entryRequest(base, p.entry, p.type, resource), p.type, p.query, { assignedId: p.assignedId, known: p.match, assignedIdMinted: p.minted === true, index: p.prepared, validated });
      if (p.assignedId !== undefined && !response.headers.Location?.includes(`/${p.type}/${p.assignedId}/`)) {
        // A match appeared after assignIds looked: references point at the id chosen then.
        throw new RetryableConflict('conditional update raced');
      }
      return response;
    }
    case 'DELETE':
      // The entry's request.ifMatch, not the headers of the POST that carried the Bundle.
      return remove(tx, entryRequest(base, p.entry, `${p.type}/${p.id}`), p.type, p.id as string);
    default:
      return readEntry(tx, base, p);
  }
}

export interface TransactionOptions {
  /**
   * The validation tier of an entry's resource (ResourceValidationOptions.tier), 'full' when not
   * given: 'mapped' is only for what carebridge's own mapper made from a validated plan.
   */
  tierOf?: (entry: BundleEntry) => 'full' | 'mapped';
}

/**
 * Validates every written resource before the store's write transaction begins: validation is
 * most of a transaction's CPU, and on SQLite the write lock is shared by all server processes.
 * urn:uuid references are checked against the types of the entries they name.
 */
function validateEntries(planned: PlannedEntry[], tierOf: TransactionOptions['tierOf']): void {
  const types = new Map(planned.filter((p) => p.entry.fullUrl && p.entry.resource).map((p) => [p.entry.fullUrl as string, p.type]));
  const issues = planned.flatMap((p) =>
    (p.method === 'POST' || p.method === 'PUT') && p.entry.resource
      ? validateFhirResource(p.entry.resource, { path: `Bundle.entry[${p.index}].resource`, typeOfFullUrl: (url) => types.get(url), tier: tierOf?.(p.entry) ?? 'full' })
      : [],
  );
  if (hasErrors(issues)) {
    throw new OperationOutcomeError({ ...toOutcome(issues.filter((i) => i.severity === 'error' || i.severity === 'fatal')), id: UNPROCESSABLE_ID });
  }
}

export async function transaction(store: FhirStore, request: FhirRequest, bundle: Bundle, options: TransactionOptions = {}): Promise<FhirResponse> {
  const planned = plan(bundle, request.baseUrl);
  validateEntries(planned, options.tierOf);
  const ordered = [...planned].sort((a, b) => (METHOD_ORDER[a.method] ?? 9) - (METHOD_ORDER[b.method] ?? 9) || a.index - b.index);
  const originals = planned.map((p) => p.entry);
  const copy = (entry: BundleEntry): BundleEntry => (entry.resource ? { ...entry, resource: structuredClone(entry.resource) } : entry);
  const parsed = parseConditions(ordered);
  const first = prepareFirstAttempt(ordered, parsed, originals.map(copy), await likelyIds(store, ordered, parsed, mayChooseIds(request), request.logger));
  const responses = await store.transaction(async (tx) => {
    // Every attempt (the store retries lost races) starts from the Bundle as posted: references
    // rewritten by an earlier attempt point at ids that attempt chose.
    // (A copy of `first`: clearing first.entries must not clear what this attempt uses.)
    const attempt = first.entries ? { ...first } : { entries: undefined, minted: new Map<PlannedEntry, string>(), tentative: new Map<string, string>(), prepared: [] };
    first.entries = undefined;
    const entries = attempt.entries ?? originals.map(copy);
    planned.forEach((p, i) => {
      p.entry = entries[i] as BundleEntry;
      p.prepared = attempt.prepared[i];
      p.assignedId = undefined;
      p.minted = undefined;
      p.existing = undefined;
      p.match = undefined;
      p.searchedAbsent = undefined;
    });
    const map = new Map<string, string>();
    await assignIds(tx, ordered, parsed, map, mayChooseIds(request), attempt.minted);
    if (attempt.entries && !sameTargets(map, attempt.tentative)) {
      // A condition matched other than guessed: references are rewritten from the Bundle as posted.
      // The prepared index rows stay: indexRowsOf uses them only for an entry whose content is the
      // same (one that refers to none of the entries whose id changed).
      planned.forEach((p, i) => {
        p.entry = copy(originals[i] as BundleEntry);
      });
    }
    await resolveConditionalReferences(tx, planned.map((p) => p.entry.resource).filter((r): r is Resource => r !== undefined), map);
    const unresolved = planned.flatMap((p) => rewriteReferences(p.entry.resource, map));
    if (unresolved.length > 0) {
      throw badRequestError(`References to no entry of the Bundle: ${[...new Set(unresolved)].slice(0, 5).join(', ')}`);
    }
    const out = new Map<number, FhirResponse>();
    const deletes = ordered.some((p) => p.method === 'DELETE');
    // Per attempt: a retried attempt answers its GET entries again.
    const budget = new BundleBudget(request);
    for (const p of ordered) {
      budget.checkDeadline(p.index);
      if (p.method === 'GET') {
        budget.checkRemaining(p.index);
      }
      let response: FhirResponse;
      try {
        // The entries' handlers need not validate again.
        response = await runEntry(tx, request, p, true, deletes);
      } catch (err) {
        if (err instanceof OperationOutcomeError) {
          // Name the entry that failed; the whole transaction rolls back.
          const outcome = err.outcome;
          const at = `Bundle.entry[${p.index}].resource`;
          const rooted = (e: string): string => (e === p.type || e.startsWith(`${p.type}.`) ? at + e.slice(p.type.length) : `${at}.${e}`);
          throw new OperationOutcomeError({ ...outcome, issue: (outcome.issue ?? []).map((i) => ({ ...i, expression: (i.expression ?? []).map(rooted), diagnostics: `Bundle.entry[${p.index}]` })) });
        }
        throw err;
      }
      out.set(p.index, p.method === 'GET' ? budget.charge(p.index, response) : response);
    }
    return planned.map((p) => out.get(p.index) as FhirResponse);
  });
  const body: Bundle = { resourceType: 'Bundle', type: 'transaction-response', entry: responses.map(toEntryResponse) };
  return { status: 200, body, headers: {} };
}

export async function batch(store: FhirStore, request: FhirRequest, bundle: Bundle): Promise<FhirResponse> {
  const entries = (bundle.entry ?? []) as unknown;
  if (!Array.isArray(entries)) {
    throw badRequestError('Bundle.entry must be an array');
  }
  if (entries.length > MAX_ENTRIES) {
    throw badRequestError(`A batch holds at most ${MAX_ENTRIES} entries`);
  }
  const out: BundleEntry[] = [];
  const budget = new BundleBudget(request);
  for (let index = 0; index < entries.length; index++) {
    // Past the deadline the batch stops whole: its 504 has been sent.
    budget.checkDeadline(index);
    try {
      const [p] = plan({ ...bundle, entry: [entries[index] as BundleEntry] }, request.baseUrl) as [PlannedEntry];
      p.index = index;
      if (p.method === 'GET') {
        budget.checkRemaining(index);
      }
      // Entries of a batch do not refer to each other: ids come from the store as they are written.
      const response = await store.transaction((tx) => runEntry(tx, request, p, false));
      out.push(toEntryResponse(p.method === 'GET' ? budget.charge(index, response) : response));
    } catch (err) {
      if (!(err instanceof OperationOutcomeError)) {
        request.logger?.error('batch entry failed', { index, error: err });
      }
      const outcome = err instanceof OperationOutcomeError ? err.outcome : internalError();
      out.push({ response: { status: String(err instanceof OperationOutcomeError ? getStatus(outcome) : 500), outcome } });
    }
  }
  return { status: 200, body: { resourceType: 'Bundle', type: 'batch-response', entry: out }, headers: {} };
}

