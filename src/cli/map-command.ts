// carebridge map <plan.json>: prints the FHIR transaction Bundle a plan becomes.
import { OperationOutcomeError } from '@medplum/core';
import { defaultMappingContext, sequentialUuids } from '../mapping/context.ts';
import { toFhir } from '../mapping/to-fhir.ts';
import { validatePlan } from '../validation/plan.ts';
import { exitCodes } from './exit-codes.ts';
import { issueLines, outcome, type Io } from './output.ts';
import { readJsonFile } from './read-input.ts';

export const MAP_HELP = `Usage: carebridge map <plan.json> [--stable-ids]

Maps a transition plan to the FHIR R4 transaction Bundle carebridge stores, and prints it.
A plan that does not validate is not mapped: its OperationOutcome goes to stderr.

Options:
  --stable-ids   number the urn:uuid fullUrls 1, 2, 3... instead of random UUIDs (for diffs)
${exitCodes({ ok: 'mapped', failed: 'the plan is invalid or unreadable' })}`;

export function runMap(file: string, stableIds: boolean, io: Io): number {
  let value: unknown;
  try {
    value = readJsonFile(file);
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      io.err(JSON.stringify(err.outcome, null, 2));
      return 1;
    }
    throw err;
  }
  const { issues, plan } = validatePlan(value);
  if (!plan) {
    io.err(`${file} is not a valid transition plan:`);
    issueLines(issues).forEach((line) => io.err(line));
    io.err(JSON.stringify(outcome(issues)));
    return 1;
  }
  io.out(JSON.stringify(toFhir(plan, stableIds ? sequentialUuids() : defaultMappingContext()), null, 2));
  return 0;
}
