// A FHIR HTTP exchange without HTTP: handlers take a FhirRequest and return a FhirResponse, so
// they are tested and reused (transaction entries) without express.
import { OperationOutcomeError, allOk, badRequest, getStatus } from '@medplum/core';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { Principal } from '../../auth/principal.ts';
import type { Logger } from '../../log/logger.ts';
import type { StoredVersion } from '../../store/fhir-store.ts';
import { PRECONDITION_REQUIRED_ID } from '../../workflow/write-rules.ts';

export interface FhirRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path below /fhir, without query: "Patient/123/_history/2". */
  path: string;
  /** Query parameters in order, repeated names kept. */
  query: [string, string][];
  /** Lower-cased header names. */
  headers: Record<string, string | undefined>;
  body?: unknown;
  /** Absolute URL of /fhir, for Location and links. */
  baseUrl: string;
  /** The authenticated caller (set by the bearer-token middleware as res.locals.principal). */
  principal?: Principal;
  /** The request's child logger (carries its requestId), when it came over HTTP. */
  logger?: Logger;
  /** Aborted when the handler timeout has answered 504: long work (a Bundle's entries) stops there. */
  signal?: AbortSignal;
  /** The same deadline as an instant (Date.now() ms), for work that keeps the timer from firing. */
  deadlineAt?: number;
}

export interface FhirResponse {
  status: number;
  body?: Resource;
  headers: Record<string, string>;
}

/** OperationOutcome ids of a peer carebridge waited on that failed (502) or did not answer in time (504): $check-eligibility. */
export const BAD_GATEWAY_ID = 'carebridge-bad-gateway';
export const GATEWAY_TIMEOUT_ID = 'carebridge-gateway-timeout';

/** Statuses unknown to @medplum/core's getStatus: 428 Precondition Required (RFC 6585; a referral's change of status without If-Match), 502, 504. */
function statusOf(outcome: OperationOutcome): number {
  switch (outcome.id) {
    case PRECONDITION_REQUIRED_ID:
      return 428;
    case BAD_GATEWAY_ID:
      return 502;
    case GATEWAY_TIMEOUT_ID:
      return 504;
    default:
      return getStatus(outcome);
  }
}

export function outcomeResponse(outcome: OperationOutcome, status = statusOf(outcome)): FhirResponse {
  return { status, body: outcome, headers: {} };
}

/**
 * What a client is told of a failure it did not cause. Not the error's message: a database's
 * names its tables and may quote values; the server's log has the error under the request id.
 */
export function internalError(): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'exception', details: { text: "The server could not complete the request: its log has the error under this request's X-Request-Id" } }],
  };
}

export function errorResponse(err: unknown): FhirResponse {
  if (err instanceof OperationOutcomeError) {
    return outcomeResponse(err.outcome);
  }
  return outcomeResponse(internalError(), 500);
}

export function badRequestError(message: string, expression?: string): OperationOutcomeError {
  return new OperationOutcomeError(badRequest(message, expression));
}

/** RFC 7232 weak validator from a versionId. */
export function etag(versionId: string): string {
  return `W/"${versionId}"`;
}

/** If-Match: W/"3" or "3" → 3; anything else is refused. */
export function parseIfMatch(value: string | undefined): string | undefined {
  if (value === undefined) {
    return undefined;
  }
  const match = /^(?:W\/)?"([0-9]{1,9})"$/.exec(value.trim());
  if (!match) {
    throw badRequestError(`If-Match must be an ETag like W/"3", not ${JSON.stringify(value.slice(0, 40))}`);
  }
  return match[1];
}

export function versionHeaders(version: StoredVersion, baseUrl: string): Record<string, string> {
  return {
    ETag: etag(version.versionId),
    'Last-Modified': new Date(version.lastUpdated).toUTCString(),
    'Content-Location': `${baseUrl}/${version.resourceType}/${version.id}/_history/${version.versionId}`,
  };
}

/** Prefer: return=minimal | representation | OperationOutcome (RFC 7240, FHIR http.html#ops). */
export function preferredReturn(headers: FhirRequest['headers']): 'minimal' | 'representation' | 'OperationOutcome' {
  const prefer = headers.prefer ?? '';
  const match = /return=(minimal|representation|OperationOutcome)/i.exec(prefer);
  const value = match?.[1]?.toLowerCase();
  return value === 'minimal' ? 'minimal' : value === 'operationoutcome' ? 'OperationOutcome' : 'representation';
}

export function preferStrict(headers: FhirRequest['headers']): boolean {
  return /handling=strict/i.test(headers.prefer ?? '');
}

/** The response to a write, shaped by Prefer. */
export function writeResponse(request: FhirRequest, status: number, version: StoredVersion, outcome: OperationOutcome = allOk): FhirResponse {
  const headers = { ...versionHeaders(version, request.baseUrl), Location: `${request.baseUrl}/${version.resourceType}/${version.id}/_history/${version.versionId}` };
  switch (preferredReturn(request.headers)) {
    case 'minimal':
      return { status, headers };
    case 'OperationOutcome':
      return { status, headers, body: outcome };
    default:
      return { status, headers, body: version.resource };
  }
}
