// Search (GET /Type?… and POST /Type/_search): parse and check the parameters, run the store's
// search, and answer a searchset Bundle with stable paging links.
import { OperationOutcomeError } from '@medplum/core';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { StoreTransaction } from '../../store/fhir-store.ts';
import { issue } from '../../validation/outcome.ts';
import type { FhirRequest, FhirResponse } from './request.ts';
import { preferStrict } from './request.ts';
import { requirePermission } from '../../auth/access/policy.ts';
import { checkType } from './handlers.ts';
import { screenSearch } from './search-params.ts';

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

export async function search(store: StoreTransaction, request: FhirRequest, type: string): Promise<FhirResponse> {
  checkType(type);
  requirePermission(request.principal, type, 's');
  const screened = screenSearch(type, request.query);
  if (screened.ignored.length > 0 && preferStrict(request.headers)) {
    throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: screened.ignored.map((p) => issue('error', 'not-supported', `Unknown search parameter "${p}"`, p)) });
  }
  const searchRequest = screened.request;
  const cursor = request.query.find(([k]) => k === '_cursor')?.[1];
  const result = await store.search(searchRequest, { cursor });
  result.ignored = [...screened.ignored, ...result.ignored];
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
