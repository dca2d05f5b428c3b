// How the CLI prints: a readable summary for people, or JSON for scripts (--json).
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

export function count(issues: OperationOutcomeIssue[], severity: 'error' | 'warning'): number {
  return issues.filter((i) => i.severity === severity || (severity === 'error' && i.severity === 'fatal')).length;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function summaryLine(name: string, label: string, issues: OperationOutcomeIssue[]): string {
  const errors = count(issues, 'error');
  const warnings = count(issues, 'warning');
  const verdict = errors > 0 ? 'INVALID' : 'valid';
  return `${errors > 0 ? '✖' : '✔'} ${name} (${label}): ${verdict}, ${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
}

export function issueLines(issues: OperationOutcomeIssue[]): string[] {
  return issues
    .filter((i) => i.severity !== 'information')
    .map((i) => `    ${(i.severity ?? '').padEnd(7)} ${i.details?.text ?? i.diagnostics ?? i.code}`);
}

export function outcome(issues: OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues.length > 0 ? issues : [{ severity: 'information', code: 'informational', details: { text: 'All OK' } }] };
}
