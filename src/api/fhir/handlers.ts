// The instance and type interactions: read, vread, create, update, delete, history, $validate.
import { OperationOutcomeError, allOk, businessRule, conflict, created, gone, notFound } from '@medplum/core';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { requirePermission } from '../../auth/access/policy.ts';
import type { PreparedIndex } from '../../search/extract-index.ts';
import type { FhirStore, StoreTransaction, StoredVersion } from '../../store/fhir-store.ts';
import { validateFhirResource } from '../../validation/fhir-validator.ts';
import { hasErrors, toOutcome } from '../../validation/outcome.ts';
import { ID_PATTERN } from '../../validation/structure-checks.ts';
import type { FhirRequest, FhirResponse } from './request.ts';
import { badRequestError, parseIfMatch, versionHeaders, writeResponse } from './request.ts';
import { forEachReference, needsTransaction, referenceLocalizer } from './references.ts';
import { conditionSearch } from './search-params.ts';
import { isSupportedType } from './supported.ts';
import { multipleMatchesError } from '../../util/precondition-failed.ts';

/** The outcome id @medplum/core's getStatus answers 422 for (see businessRule()). */
export const UNPROCESSABLE_ID = businessRule('', '').id as string;

/** History pages hold at most this many versions. */
export const MAX_HISTORY_COUNT = 1000;

export function checkType(type: string): void {
  if (!isSupportedType(type)) {
    throw new OperationOutcomeError(notFound);
  }
}

export function checkId(id: string): void {
  if (!ID_PATTERN.test(id)) {
    throw badRequestError(`"${id.slice(0, 80)}" is not a valid id`);
  }
}

/**
 * Outside a transaction a reference must point at something that exists without the request:
 * urn:uuid targets and conditional (Type?query) references only resolve inside a transaction.
 * With `baseUrl` (this server's), references to it are made relative in the same walk.
 */
function localReferenceIssue(resource: Resource, baseUrl: string | undefined): string | undefined {
  const localize = baseUrl !== undefined ? referenceLocalizer(baseUrl) : undefined;
  let found: string | undefined;
  forEachReference(resource, (reference, holder) => {
    localize?.(reference, holder);
    found ??= needsTransaction(reference) ? `The reference "${reference.slice(0, 80)}" only resolves inside a transaction Bundle` : undefined;
  });
  return found;
}

/**
 * The body of a create or update: a resource of the URL's type, valid against R4 and its profile.
 * With `baseUrl` (this server's), references to it are made relative first (localizeReferences).
 */
export function checkBody(type: string, body: unknown, validated = false, baseUrl?: string): Resource {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequestError('The body must be a FHIR resource (a JSON object)');
  }
  const resource = body as Resource;
  if (resource.resourceType !== type) {
    throw badRequestError(`The body is a ${String(resource.resourceType)}, the URL names ${type}`, 'resourceType');
  }
  const local = localReferenceIssue(resource, baseUrl);
  if (local) {
    throw badRequestError(local);
  }
  const issues = validated ? [] : validateFhirResource(resource);
  if (hasErrors(issues)) {
    // A well-formed resource that fails R4 or its profile is 422 (http.html#update); @medplum/core's
    // getStatus maps the business-rule outcome id to 422. Malformed requests stay 400.
    throw new OperationOutcomeError({ ...toOutcome(issues), id: UNPROCESSABLE_ID });
  }
  return resource;
}

function found(version: StoredVersion | undefined): StoredVersion {
  if (!version) {
    throw new OperationOutcomeError(notFound);
  }
  if (version.deleted) {
    throw new OperationOutcomeError(gone);
  }
  return version;
}

export async function read(store: StoreTransaction, request: FhirRequest, type: string, id: string): Promise<FhirResponse> {
  checkType(type);
  requirePermission(request.principal, type, 'r');
  checkId(id);
  const version = found(await store.read(type, id));
  return { status: 200, body: version.resource, headers: versionHeaders(version, request.baseUrl) };
}

export async function vread(store: FhirStore, request: FhirRequest, type: string, id: string, versionId: string): Promise<FhirResponse> {
  checkType(type);
  requirePermission(request.principal, type, 'r');
  checkId(id);
  const version = found(await store.vread(type, id, versionId));
  return { status: 200, body: version.resource, headers: versionHeaders(version, request.baseUrl) };
}

/** What a transaction Bundle already decided about an entry before writing it. */
export interface EntryPlan {
  /** The id its references were rewritten to. */
  assignedId?: string;
  /** assignedId is one newResourceId() just minted, which no resource can have. */
  assignedIdMinted?: boolean;
  /** The If-None-Exist condition was searched in this transaction and matched nothing. */
  searchedAbsent?: boolean;
  /** Its index rows, extracted before the store's write transaction began. */
  index?: PreparedIndex;
  /** Its resource was validated with the Bundle's others, before the write lock was taken. */
  validated?: boolean;
}

/** POST /Type (If-None-Exist makes it conditional). */
export async function create(tx: StoreTransaction, request: FhirRequest, type: string, plan: EntryPlan = {}): Promise<FhirResponse> {
  checkType(type);
  // The type-level permission first: the answer must not depend on what exists.
  requirePermission(request.principal, type, 'c');
  const resource = checkBody(type, request.body, plan.validated, request.baseUrl);
  const ifNoneExist = request.headers['if-none-exist'];
  if (ifNoneExist !== undefined) {
    conditionSearch(type, ifNoneExist);
  }
  const { assignedId, searchedAbsent, assignedIdMinted, index } = plan;
  const { outcome, version } = await tx.create({ ...resource, id: undefined } as Resource, { ifNoneExist, assignedId, searchedAbsent, assignedIdMinted, index });
  return outcome === 'existing' ? writeResponse(request, 200, version, allOk) : writeResponse(request, 201, version, created);
}

/** PUT /Type/id: update, or create with that id. */
export async function update(tx: StoreTransaction, request: FhirRequest, type: string, id: string, plan: Pick<EntryPlan, 'index' | 'validated'> = {}): Promise<FhirResponse> {
  checkType(type);
  requirePermission(request.principal, type, 'u');
  checkId(id);
  const resource = checkBody(type, request.body, plan.validated, request.baseUrl);
  if (resource.id !== undefined && resource.id !== id) {
    throw badRequestError(`The body's id "${resource.id}" differs from the URL's "${id}"`, `${type}.id`);
  }
  const { outcome, version } = await tx.update({ ...resource, id }, { ifMatch: parseIfMatch(request.headers['if-match']), index: plan.index });
  return writeResponse(request, outcome === 'created' ? 201 : 200, version, outcome === 'created' ? created : allOk);
}

/**
 * PUT /Type?query: update the one match, create when none, 412 when several. A transaction passes
 * the id it already rewrote references to (`assignedId`), so a created resource gets exactly that id.
 */
export async function conditionalUpdate(tx: StoreTransaction, request: FhirRequest, type: string, query: string, plan: Omit<EntryPlan, 'searchedAbsent'> & { known?: { id: string | undefined } } = {}): Promise<FhirResponse> {
  const { assignedId, known, assignedIdMinted, index, validated } = plan;
  checkType(type);
  requirePermission(request.principal, type, 'u');
  const resource = checkBody(type, request.body, validated, request.baseUrl);
  const ifMatch = parseIfMatch(request.headers['if-match']);
  // A transaction that already searched this condition in the same database transaction passes
  // what it found (`known`): the condition is not searched a second time.
  let match: Resource | undefined;
  if (known) {
    match = known.id ? ({ resourceType: type, id: known.id } as Resource) : undefined;
  } else {
    // Only what this caller may change matches: another tenant's directory entry with the same
    // identifier is not its to update (SearchOptions.writable).
    const matches = await tx.search(conditionSearch(type, query), { writable: true });
    if (matches.resources.length > 1) {
      throw multipleMatchesError(`The condition of PUT ${type}?…`);
    }
    match = matches.resources[0];
  }
  if (!match) {
    // Create under the conditional-create key of the query: concurrent conditional updates of a
    // resource that does not exist yet (two processes on PostgreSQL) then agree on one resource.
    // A tenant does not choose ids: "that id is taken" would reveal a resource it cannot see.
    const id = assignedId ?? (!request.principal || request.principal.role === 'admin' ? resource.id : undefined);
    const minted = assignedIdMinted && id === assignedId;
    if (id !== undefined && !minted && (await tx.read(type, id))) {
      throw new OperationOutcomeError(conflict(`${type}/${id} exists but does not match the condition`));
    }
    const { outcome, version } = await tx.create({ ...resource }, { ifNoneExist: query, assignedId: id, searchedAbsent: known !== undefined, assignedIdMinted: minted, matchWritable: true, index });
    if (outcome !== 'existing') {
      return writeResponse(request, 201, version, created);
    }
    match = version.resource as Resource;
  }
  if (resource.id !== undefined && resource.id !== match.id) {
    throw badRequestError(`The body's id "${resource.id}" differs from the matching resource's`, `${type}.id`);
  }
  const { outcome, version } = await tx.update({ ...resource, id: match.id }, { ifMatch, index });
  return writeResponse(request, outcome === 'created' ? 201 : 200, version);
}

/** DELETE /Type/id; with If-Match only that version is deleted (412 otherwise), as PUT. */
export async function remove(tx: StoreTransaction, request: FhirRequest, type: string, id: string): Promise<FhirResponse> {
  checkType(type);
  requirePermission(request.principal, type, 'd');
  checkId(id);
  const ifMatch = parseIfMatch(request.headers['if-match']);
  const result = await tx.delete(type, id, { ifMatch });
  if (!result) {
    throw new OperationOutcomeError(notFound);
  }
  return { status: 200, body: allOk, headers: { ETag: `W/"${result.version.versionId}"` } };
}

function historyEntry(version: StoredVersion, baseUrl: string): BundleEntry {
  const url = `${baseUrl}/${version.resourceType}/${version.id}`;
  return {
    fullUrl: url,
    ...(version.resource ? { resource: version.resource } : {}),
    request: { method: version.deleted ? 'DELETE' : version.versionId === '1' ? 'POST' : 'PUT', url: version.versionId === '1' && !version.deleted ? version.resourceType : `${version.resourceType}/${version.id}` },
    response: { status: version.deleted ? '204' : version.versionId === '1' ? '201' : '200', etag: `W/"${version.versionId}"`, lastModified: version.lastUpdated },
  };
}

/** _history on an instance, a type or the whole system; newest first, paged by _cursor. */
export async function history(store: FhirStore, request: FhirRequest, type?: string, id?: string): Promise<FhirResponse> {
  if (type) {
    checkType(type);
    requirePermission(request.principal, type, id ? 'r' : 's');
  }
  if (id) {
    checkId(id);
  }
  const params = new Map(request.query);
  const count = params.has('_count') ? Number(params.get('_count')) : 100;
  if (!Number.isInteger(count) || count < 1 || count > MAX_HISTORY_COUNT) {
    throw badRequestError(`_count must be an integer from 1 to ${MAX_HISTORY_COUNT}`, '_count');
  }
  const sinceParam = params.get('_since');
  const sinceMs = sinceParam === undefined ? undefined : Date.parse(sinceParam);
  if (sinceMs !== undefined && (Number.isNaN(sinceMs) || !/^\d{4}-\d{2}-\d{2}/.test(sinceParam as string))) {
    throw badRequestError('_since must be an instant (e.g. 2026-11-20T00:00:00Z)', '_since');
  }
  // Stored lastUpdated is ISO in UTC: compare like with like, whatever zone the client wrote.
  const since = sinceMs === undefined ? undefined : new Date(sinceMs).toISOString();
  const cursor = params.get('_cursor');
  const beforeSeq = cursor === undefined ? undefined : Number(cursor);
  if (beforeSeq !== undefined && !Number.isInteger(beforeSeq)) {
    throw badRequestError('Invalid _cursor', '_cursor');
  }
  const versions = await store.history(type, id, { count: count + 1, since, beforeSeq });
  if (id && versions.length === 0 && !(await store.read(type as string, id))) {
    throw new OperationOutcomeError(notFound);
  }
  const page = versions.slice(0, count);
  const self = `${request.baseUrl}/${[type, id, '_history'].filter(Boolean).join('/')}`;
  const selfQuery = new URLSearchParams(request.query).toString();
  const link = [{ relation: 'self', url: selfQuery ? `${self}?${selfQuery}` : self }];
  const last = page[page.length - 1];
  if (versions.length > count && last) {
    const next = new URLSearchParams([...request.query.filter(([k]) => k !== '_cursor'), ['_cursor', String(last.seq)]]);
    link.push({ relation: 'next', url: `${self}?${next.toString()}` });
  }
  const bundle: Bundle = { resourceType: 'Bundle', type: 'history', link, entry: page.map((v) => historyEntry(v, request.baseUrl)) };
  return { status: 200, body: bundle, headers: {} };
}

/** $validate: always 200 with the OperationOutcome (the result is the outcome). */
export function validateOperation(request: FhirRequest, type: string): FhirResponse {
  checkType(type);
  let resource = request.body as Resource | undefined;
  if (resource?.resourceType === 'Parameters') {
    resource = (resource as { parameter?: { name: string; resource?: Resource }[] }).parameter?.find((p) => p.name === 'resource')?.resource;
  }
  if (!resource || typeof resource !== 'object') {
    throw badRequestError('$validate needs a resource, or Parameters with a "resource" parameter');
  }
  if (resource.resourceType !== type) {
    throw badRequestError(`The resource is a ${String(resource.resourceType)}, the URL names ${type}`);
  }
  const outcome: OperationOutcome = toOutcome(validateFhirResource(resource));
  return { status: 200, body: outcome, headers: {} };
}
