// The claim the push path's "mapped" validation tier rests on (api/transitions/push.ts): for any
// plan the plan validation accepts, full FHIR validation (Medplum against base R4 and the profiles
// in profiles/, plus carebridge's checks) of what the mapper makes of it finds nothing the mapped
// tier does not. Plans come from widePlanArbitrary: every enum value, edge strings, other
// spellings of date-times, extreme dates and numbers, optional properties dropped and added.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { sequentialUuids } from '../../src/mapping/context.ts';
import { toFhir } from '../../src/mapping/to-fhir.ts';
import { validateFhirBundle, validateMappedBundle } from '../../src/validation/fhir-validator.ts';
import { validatePlan } from '../../src/validation/plan.ts';
import { widePlanArbitrary } from '../support/wide-plan-arbitrary.ts';

const RUNS = 300;

function errors(issues: OperationOutcomeIssue[]): string[] {
  return [...new Set(issues.filter((i) => i.severity === 'error' || i.severity === 'fatal').map((i) => i.expression?.[0] ?? ''))].sort();
}

/**
 * The entry and the element an error is about. Medplum names a choice element by its definition
 * (target[0].detail[x].unit), carebridge's walk by the JSON (target[0].detailQuantity.unit).
 */
function place(path: string): { entry: string; element: string } {
  const entry = /^Bundle\.entry\[\d+\]/.exec(path)?.[0] ?? path;
  const element = (path.split('.').pop() ?? '').replace(/\[(\d+|x)\]$/, '');
  return { entry, element };
}

/** Errors of full validation at no element of the same entry the mapped tier reported. */
function missedByMapped(full: string[], mapped: string[]): string[] {
  const found = mapped.map(place);
  return full.filter((path) => {
    const { entry, element } = place(path);
    return !found.some((m) => m.entry === entry && m.element.startsWith(element));
  });
}

/** Runs `check` on the Bundles of the generated plans validatePlan accepts; how many it accepted. */
function forAcceptedPlans(fhirBreaking: boolean, check: (full: string[], mapped: string[]) => void): number {
  let accepted = 0;
  fc.assert(
    fc.property(widePlanArbitrary({ fhirBreaking }), (plan) => {
      const { plan: checked } = validatePlan(plan);
      if (!checked) {
        return;
      }
      accepted++;
      const bundle = toFhir(checked, sequentialUuids());
      check(errors(validateFhirBundle(bundle)), errors(validateMappedBundle(bundle)));
    }),
    // No shrinking: a plan is large, and the failing value with its seed is reported as found.
    { numRuns: RUNS, endOnFailure: true },
  );
  return accepted;
}

describe('mapper output of plans that pass plan validation', () => {
  it('passes full validation against base R4 and the profiles, and the mapped tier agrees', () => {
    const accepted = forAcceptedPlans(false, (full, mapped) => {
      expect(full).toEqual([]);
      expect(mapped).toEqual([]);
    });
    // Not vacuous: the rewrites break plan rules often, but many plans still pass.
    expect(accepted).toBeGreaterThan(RUNS / 4);
    // Seconds alone; a loaded two-core machine takes several times that.
  }, 120_000);

  it('holds nothing full validation refuses that the mapped tier lets through (other date-time spellings)', () => {
    const refused = new Set<string>();
    const accepted = forAcceptedPlans(true, (full, mapped) => {
      expect(missedByMapped(full, mapped)).toEqual([]);
      full.forEach((path) => refused.add(path.replace(/\[\d+\]/g, '[]')));
    });
    expect(accepted).toBeGreaterThan(RUNS / 4);
    // The FHIR-breaking values reached full validation (and were refused there, and by the mapped
    // tier), at several places: the spellings land on the plan's date-times (5–8 places in a run).
    expect(refused.size).toBeGreaterThanOrEqual(3);
  }, 120_000);
});
