// Writes fixtures/golden/<plan>.bundle.json: the Bundle each example plan maps to, with stable
// urn:uuids, so a change to the mapping shows up as a readable diff. Run: npm run golden.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { Bundle } from '@medplum/fhirtypes';
import { sequentialUuids } from '../src/mapping/context.ts';
import { toFhir } from '../src/mapping/to-fhir.ts';
import type { TransitionPlan } from '../src/model/transition-plan.ts';

export const PLANS_DIR = new URL('../fixtures/plans/', import.meta.url);
export const GOLDEN_DIR = new URL('../fixtures/golden/', import.meta.url);

export function goldenName(planFile: string): string {
  return planFile.replace(/\.json$/, '.bundle.json');
}

export function goldenBundle(planFile: string): Bundle {
  const plan = JSON.parse(readFileSync(new URL(planFile, PLANS_DIR), 'utf8')) as TransitionPlan;
  return toFhir(plan, sequentialUuids());
}

export function serialize(bundle: Bundle): string {
  return `${JSON.stringify(bundle, null, 2)}\n`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const file of readdirSync(PLANS_DIR).filter((f) => f.endsWith('.json'))) {
    writeFileSync(new URL(goldenName(file), GOLDEN_DIR), serialize(goldenBundle(file)));
    process.stdout.write(`wrote fixtures/golden/${goldenName(file)}\n`);
  }
}
