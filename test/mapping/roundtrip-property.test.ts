import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { sequentialUuids } from '../../src/mapping/context.ts';
import { fromFhir } from '../../src/mapping/from-fhir.ts';
import { toFhir } from '../../src/mapping/to-fhir.ts';
import { validateFhirBundle, validateMappedBundle } from '../../src/validation/fhir-validator.ts';
import { validatePlan } from '../../src/validation/plan.ts';
import { planArbitrary } from '../support/plan-arbitrary.ts';

describe('generated transition plans', () => {
  it('are valid plans (the generator respects the plan rules)', () => {
    fc.assert(
      fc.property(planArbitrary, (plan) => {
        expect(validatePlan(plan).issues).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('map back to themselves: fromFhir(toFhir(plan)) equals plan', () => {
    fc.assert(
      fc.property(planArbitrary, (plan) => {
        expect(fromFhir(toFhir(plan, sequentialUuids()))).toEqual(plan);
      }),
      { numRuns: 300 },
    );
  });

  it('map to Bundles that pass full FHIR validation against the profiles, and the mapped tier agrees', () => {
    // The push path validates mapper output with the mapped tier only; this is the evidence that
    // full validation would find nothing more there.
    fc.assert(
      fc.property(planArbitrary, (plan) => {
        const bundle = toFhir(plan, sequentialUuids());
        expect(validateFhirBundle(bundle).map((i) => i.details?.text)).toEqual([]);
        expect(validateMappedBundle(bundle).map((i) => i.details?.text)).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });
});
