// 412 Precondition Failed that says which precondition failed: @medplum/core's outcome says only
// "Precondition Failed", and a client cannot tell a stale If-Match from an ambiguous condition.
import { OperationOutcomeError, preconditionFailed } from '@medplum/core';

/** If-Match named a version that is not the current one; the current one is named, as 428 does. */
export function staleVersionError(resourceType: string, id: string, currentVersionId: string | undefined): OperationOutcomeError {
  const text = currentVersionId
    ? `${resourceType}/${id} is at version ${currentVersionId} (ETag W/"${currentVersionId}"), not the one If-Match names: read it again, then retry`
    : `${resourceType}/${id} does not exist, so no If-Match can match it`;
  return new OperationOutcomeError({ ...preconditionFailed, issue: [{ severity: 'error', code: 'conflict', details: { text } }] });
}

/** A conditional create, update or reference whose condition matches more than one resource. */
export function multipleMatchesError(what: string): OperationOutcomeError {
  return new OperationOutcomeError({ ...preconditionFailed, issue: [{ severity: 'error', code: 'multiple-matches', details: { text: `${what} matches more than one resource: make it more selective` } }] });
}
