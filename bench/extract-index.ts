// Search index extraction rate: extractIndexRows over every resource of every mapped fixture
// Bundle, in resources per second. Prints figures only; asserts nothing.
// Run alone: node bench/extract-index.ts (about 3 s), or call benchExtractIndex() from bench/run.ts.
import type { Resource } from '@medplum/fhirtypes';
import { readFileSync, readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { sequentialUuids } from '../src/mapping/context.ts';
import { toFhir } from '../src/mapping/to-fhir.ts';
import type { TransitionPlan } from '../src/model/transition-plan.ts';
import { extractIndexRows } from '../src/search/extract-index.ts';
import { loadDefinitions } from '../src/validation/definitions.ts';

const FIXTURES_DIR = new URL('../fixtures/plans/', import.meta.url);
/** Long enough for the rate to settle (it varies by a few percent between runs at 2 s). */
const SECONDS = 2;

function mappedResources(): Resource[] {
  return readdirSync(FIXTURES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((f) => {
      const plan = JSON.parse(readFileSync(new URL(f, FIXTURES_DIR), 'utf8')) as TransitionPlan;
      return (toFhir(plan, sequentialUuids()).entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
    });
}

export function benchExtractIndex(): { resourcesPerSecond: number; rowsPerResource: number } {
  loadDefinitions();
  const resources = mappedResources();
  let rows = 0;
  const pass = (): void => {
    for (const resource of resources) {
      const r = extractIndexRows(resource);
      rows += r.token.length + r.string.length + r.reference.length + r.date.length + r.number.length + r.uri.length;
    }
  };
  // Warm-up: builds the per-type parameter lists and lets the JIT settle.
  for (let i = 0; i < 20; i++) {
    pass();
  }
  rows = 0;
  let count = 0;
  const start = performance.now();
  let now = start;
  while (now - start < SECONDS * 1000) {
    pass();
    count += resources.length;
    now = performance.now();
  }
  return { resourcesPerSecond: (count * 1000) / (now - start), rowsPerResource: rows / count };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { resourcesPerSecond, rowsPerResource } = benchExtractIndex();
  const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 1 });
  console.log(`search index extraction: ${fmt(resourcesPerSecond)} resources/s (${fmt(rowsPerResource)} rows per resource, mapped fixture Bundles)`);
}
