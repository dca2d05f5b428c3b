// Search (GET /Type?… and POST /Type/_search): parse and check the parameters, run the store's
// search, and answer a searchset Bundle with stable paging links.
import { OperationOutcomeError, parseSearchRequest } from '@medplum/core';
import type { SearchRequest } from '@medplum/core';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { FhirStore } from '../../store/fhir-store.ts';
import { MAX_COUNT } from '../../store/sql/search-sql.ts';
import { issue } from '../../validation/outcome.ts';
import type { FhirRequest, FhirResponse } from './request.ts';
import { badRequestError, preferStrict } from './request.ts';
import { checkType } from './handlers.ts';

const SUMMARY = new Set(['count', 'false']);
const TOTAL = new Set(['none', 'estimate', 'accurate']);
/** Longest accepted parameter value: a page of ids fits, a 1 MB payload does not. */
const MAX_VALUE_LENGTH = 4096;
const MAX_PARAMETERS = 100;

function checkControls(query: [string, string][]): void {
  if (query.length > MAX_PARAMETERS) {
    throw badRequestError(`At most ${MAX_PARAMETERS} search parameters`);
  }
  for (const [name, value] of query) {
    if (value.length > MAX_VALUE_LENGTH || name.length > 200) {
      throw badRequestError(`Search parameter ${name.slice(0, 40)} is too long`);
    }
    if (name === '_count' && (!/^\d{1,5}$/.test(value) || Number(value) > MAX_COUNT)) {
      throw badRequestError(`_count must be an integer from 0 to ${MAX_COUNT}`, '_count');
    }
    if (name === '_summary' && !SUMMARY.has(value)) {
      throw badRequestError('_summary supports count and false', '_summary');
    }
    if (name === '_total' && !TOTAL.has(value)) {
      throw badRequestError('_total must be none, estimate or accurate', '_total');
    }
    if ((name === '_include' || name === '_revinclude') && !/^[A-Z][A-Za-z]+:[a-z][a-z0-9-]*(:[A-Z][A-Za-z]+)?$/.test(value)) {
      throw badRequestError(`${name} must look like Type:parameter (or Type:parameter:TargetType)`, name);
    }
  }
}

export function toSearchRequest(type: string, query: [string, string][]): SearchRequest {
  checkControls(query);
  const criteria = new URLSearchParams(query.filter(([k]) => k !== '_cursor' && k !== '_pretty' && k !== '_format'));
  let request: SearchRequest;
  try {
    request = parseSearchRequest(`${type}?${criteria.toString()}`);
  } catch (err) {
    throw badRequestError(`Invalid search: ${(err as Error).message}`);
  }
  if (query.some(([k, v]) => k === '_summary' && v === 'count')) {
    request.count = 0;
    request.total = 'accurate';
  }
  return request;
}

function elementsOf(resource: Resource, fields: string[]): Resource {
  const kept: Record<string, unknown> = { resourceType: resource.resourceType, id: resource.id };
  for (const field of fields) {
    const value = (resource as unknown as Record<string, unknown>)[field];
    if (value !== undefined) {
      kept[field] = value;
    }
  }
  const meta = resource.meta ?? {};
  kept.meta = { ...meta, tag: [...(meta.tag ?? []), { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' }] };
  return kept as unknown as Resource;
}

export async function search(store: FhirStore, request: FhirRequest, type: string): Promise<FhirResponse> {
  checkType(type);
  const searchRequest = toSearchRequest(type, request.query);
  const cursor = request.query.find(([k]) => k === '_cursor')?.[1];
  const result = await store.search(searchRequest, { cursor });
  if (result.ignored.length > 0 && preferStrict(request.headers)) {
    throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: result.ignored.map((p) => issue('error', 'not-supported', `Unknown search parameter "${p}"`, p)) });
  }
  const fields = searchRequest.fields;
  const shape = (r: Resource): Resource => (fields?.length ? elementsOf(r, fields) : r);
  const entry: BundleEntry[] = [
    ...result.resources.map((r) => ({ fullUrl: `${request.baseUrl}/${r.resourceType}/${r.id}`, resource: shape(r), search: { mode: 'match' as const } })),
    ...result.included.map((r) => ({ fullUrl: `${request.baseUrl}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'include' as const } })),
  ];
  if (result.ignored.length > 0) {
    const outcome: OperationOutcome = { resourceType: 'OperationOutcome', issue: result.ignored.map((p) => issue('warning', 'not-supported', `Unknown search parameter "${p}" was ignored`, p)) };
    entry.push({ resource: outcome, search: { mode: 'outcome' } });
  }
  const selfQuery = new URLSearchParams(request.query.filter(([k]) => k !== '_cursor'));
  const self = `${request.baseUrl}/${type}${selfQuery.size ? `?${selfQuery.toString()}` : ''}`;
  const link: Bundle['link'] = [{ relation: 'self', url: cursor ? `${self}${selfQuery.size ? '&' : '?'}_cursor=${encodeURIComponent(cursor)}` : self }];
  for (const [relation, target] of [['next', result.next], ['previous', result.previous]] as const) {
    if (target) {
      link.push({ relation, url: `${self}${selfQuery.size ? '&' : '?'}_cursor=${encodeURIComponent(target)}` });
    }
  }
  const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', ...(result.total !== undefined ? { total: result.total } : {}), link, entry };
  return { status: 200, body: bundle, headers: {} };
}
