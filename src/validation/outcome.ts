// Every problem carebridge reports is an OperationOutcome issue: severity, code, a plain-English
// sentence, and where it is (FHIRPath `expression`; for the plan JSON also its JSON pointer in `location`).
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

export type IssueSeverity = OperationOutcomeIssue['severity'];
export type IssueCode = OperationOutcomeIssue['code'];

export function issue(
  severity: IssueSeverity,
  code: IssueCode,
  text: string,
  expression?: string,
  location?: string,
): OperationOutcomeIssue {
  const result: OperationOutcomeIssue = { severity, code, details: { text } };
  if (expression !== undefined) {
    result.expression = [expression];
  }
  if (location !== undefined) {
    result.location = [location];
  }
  return result;
}

export function hasErrors(issues: readonly OperationOutcomeIssue[]): boolean {
  return issues.some((i) => i.severity === 'error' || i.severity === 'fatal');
}

export function toOutcome(issues: OperationOutcomeIssue[]): OperationOutcome {
  if (issues.length === 0) {
    return { resourceType: 'OperationOutcome', issue: [issue('information', 'informational', 'All OK')] };
  }
  return { resourceType: 'OperationOutcome', issue: issues };
}

/** JSON pointer (/careTeam/0/role) to a FHIRPath-style path (careTeam[0].role). */
export function pointerToPath(root: string, pointer: string): string {
  let path = root;
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    path += /^\d+$/.test(part) ? `[${part}]` : `.${part}`;
  }
  return path;
}
