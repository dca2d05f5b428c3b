// carebridge validate <file...> [--json]: plan JSON or FHIR JSON, told apart by content.
import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { validateDocument } from '../validation/document.ts';
import { exitCodes } from './exit-codes.ts';
import { count, issueLines, outcome, summaryLine, type Io } from './output.ts';
import { readJsonFile } from './read-input.ts';

export const VALIDATE_HELP = `Usage: carebridge validate <file...> [--json]

Validates each file: a transition plan (the discharge planner's JSON, checked against
profiles/transition-plan.schema.json and the plan rules, then mapped to FHIR and checked
against carebridge's profiles) or FHIR R4 JSON (a resource or a Bundle, checked against base
R4, the carebridge profile in meta.profile and, in a Bundle, reference integrity).

Options:
  --json   print one JSON array: [{ file, kind, outcome }] with each OperationOutcome
${exitCodes({ ok: 'no file has an error (warnings allowed)', failed: 'some file has an error or cannot be read' })}`;

interface FileResult {
  file: string;
  kind: string;
  label: string;
  issues: OperationOutcomeIssue[];
}

function validateFile(file: string): FileResult {
  try {
    const result = validateDocument(readJsonFile(file));
    return { file, kind: result.kind, label: result.label, issues: result.issues };
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return { file, kind: 'unreadable', label: 'unreadable', issues: err.outcome.issue ?? [] };
    }
    throw err;
  }
}

export function runValidate(files: string[], json: boolean, io: Io): number {
  const results = files.map(validateFile);
  if (json) {
    io.out(JSON.stringify(results.map((r) => ({ file: r.file, kind: r.kind, outcome: outcome(r.issues) })), null, 2));
  } else {
    for (const r of results) {
      io.out(summaryLine(r.file, r.label, r.issues));
      issueLines(r.issues).forEach((line) => io.out(line));
    }
  }
  return results.some((r) => count(r.issues, 'error') > 0) ? 1 : 0;
}
