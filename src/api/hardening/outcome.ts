// Answers written by the hardening middleware: an OperationOutcome with its status, FHIR JSON.
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { Response } from 'express';

/** `outcome` may come serialized already: answers sent often (429) are built once. */
export function sendOutcome(res: Response, status: number, outcome: OperationOutcome | string): void {
  res.status(status).setHeader('Content-Type', 'application/fhir+json; charset=utf-8');
  res.end(typeof outcome === 'string' ? outcome : JSON.stringify(outcome));
}

export function issueOutcome(code: string, text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: code as 'invalid', details: { text } }] };
}
