// carebridge demo: what carebridge does with the bundled example plans, end to end as far as it
// goes today: validate each plan, map it to FHIR, validate the FHIR, map it back.
import { readdirSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { sequentialUuids } from '../mapping/context.ts';
import { fromFhir } from '../mapping/from-fhir.ts';
import { toFhir } from '../mapping/to-fhir.ts';
import { validateFhirBundle } from '../validation/fhir-validator.ts';
import { validatePlan } from '../validation/plan.ts';
import { count, issueLines, type Io } from './output.ts';
import { readJsonFile } from './read-input.ts';

export const DEMO_HELP = `Usage: carebridge demo

Runs the bundled example plans (fixtures/plans/) through carebridge: plan validation, mapping
to a FHIR R4 transaction Bundle, FHIR validation against carebridge's profiles, and mapping back.
Exit codes: 0 every plan went through, 1 otherwise.`;

export const DEMO_PLANS_DIR = new URL('../../fixtures/plans/', import.meta.url);

export function runDemo(io: Io): number {
  const files = readdirSync(DEMO_PLANS_DIR).filter((f) => f.endsWith('.json')).sort();
  let failed = 0;
  for (const file of files) {
    const { issues, plan } = validatePlan(readJsonFile(new URL(file, DEMO_PLANS_DIR).pathname));
    if (!plan) {
      failed++;
      io.out(`✖ ${file}: invalid plan`);
      issueLines(issues).forEach((l) => io.out(l));
      continue;
    }
    const bundle = toFhir(plan, sequentialUuids());
    const fhirIssues = validateFhirBundle(bundle);
    const back = fromFhir(bundle);
    const types = new Map<string, number>();
    bundle.entry?.forEach((e) => types.set(e.resource?.resourceType ?? '?', (types.get(e.resource?.resourceType ?? '?') ?? 0) + 1));
    const ok = count(fhirIssues, 'error') === 0 && isDeepStrictEqual(back, plan);
    failed += ok ? 0 : 1;
    io.out(`${ok ? '✔' : '✖'} ${file}: ${plan.careTeam.length} care team members, ${plan.referrals?.length ?? 0} agency referrals → ${bundle.entry?.length} FHIR resources`);
    io.out(`    ${[...types].map(([t, n]) => `${t}×${n}`).join(', ')}`);
    io.out(`    FHIR validation: ${count(fhirIssues, 'error')} errors, ${count(fhirIssues, 'warning')} warnings; mapped back to the same plan: ${isDeepStrictEqual(back, plan) ? 'yes' : 'NO'}`);
    issueLines(fhirIssues).forEach((l) => io.out(l));
  }
  io.out(failed === 0 ? `All ${files.length} example plans went through.` : `${failed} of ${files.length} example plans failed.`);
  return failed === 0 ? 0 : 1;
}
