// Red-flag thresholds on fixed reading times: the defaults, the plan's own thresholds, heart-failure
// weight gain over a day and a week, and unit conversion through UCUM.
import { describe, expect, it } from '@jest/globals';
import type { Observation } from '@medplum/fhirtypes';
import type { Reading } from '../../src/workflow/red-flags.ts';
import { convert, evaluateReading, isHeartFailure, readingsOf, rulesFor } from '../../src/workflow/red-flags.ts';

const T0 = Date.parse('2026-12-01T08:00:00Z');
const H = 3_600_000;
const weight = (lb: number, hoursAfter: number, unit = '[lb_av]'): Reading => ({ vitalSign: 'body-weight', value: unit === 'kg' ? lb * 0.45359237 : lb, unit, at: T0 + hoursAfter * H });
const kinds = (r: Reading, earlier: Reading[], heartFailure = true, thresholds = []): string[] => evaluateReading(r, earlier, rulesFor(thresholds, heartFailure)).map((f) => f.kind);

describe('red flags', () => {
  it('SpO2 below 90 % and systolic above 180 mm[Hg] by default; at the limit is no flag', () => {
    expect(kinds({ vitalSign: 'oxygen-saturation', value: 89, unit: '%', at: T0 }, [], false)).toEqual(['oxygen-saturation-low']);
    expect(kinds({ vitalSign: 'oxygen-saturation', value: 90, unit: '%', at: T0 }, [], false)).toEqual([]);
    expect(kinds({ vitalSign: 'systolic-blood-pressure', value: 181, unit: 'mm[Hg]', at: T0 }, [], false)).toEqual(['systolic-blood-pressure-high']);
    expect(kinds({ vitalSign: 'systolic-blood-pressure', value: 180, unit: 'mm[Hg]', at: T0 }, [], false)).toEqual([]);
  });

  it('heart failure: more than 2 lb in a day, or more than 5 lb in a week', () => {
    expect(kinds(weight(182.1, 24), [weight(180, 0)])).toEqual(['weight-gain-day']);
    expect(kinds(weight(182, 24), [weight(180, 0)])).toEqual([]);
    // 25 h later the day window has passed: the week rule alone, not crossed at +2.1 lb.
    expect(kinds(weight(182.1, 25), [weight(180, 0)])).toEqual([]);
    expect(kinds(weight(185.5, 6 * 24), [weight(180, 0), weight(181, 24), weight(183.8, 5 * 24), weight(184, 5.5 * 24)])).toEqual(['weight-gain-week']);
    expect(kinds(weight(185.5, 8 * 24), [weight(180, 0), weight(184, 7.5 * 24)])).toEqual([]);
    // Without heart failure no weight-gain rule applies.
    expect(kinds(weight(190, 24), [weight(180, 0)], false)).toEqual([]);
  });

  it('compares weights across kg and lb through UCUM', () => {
    const flags = evaluateReading(weight(183, 12, 'kg'), [weight(180, 0)], rulesFor([], true));
    expect(flags.map((f) => f.kind)).toEqual(['weight-gain-day']);
    expect(flags[0]?.text).toBe('Body weight up 3 [lb_av] in a day (more than 2 [lb_av])');
    expect(convert(100, '[degF]', 'Cel')).toBeCloseTo(37.78, 2);
    expect(convert(1, 'kg', '%')).toBeUndefined();
  });

  it("the plan's thresholds apply, and replace the default of the same vital sign and direction", () => {
    const plan = [{ vitalSign: 'systolic-blood-pressure' as const, low: 90, high: 160, unit: 'mm[Hg]' }, { vitalSign: 'body-weight' as const, high: 84, unit: 'kg' }];
    const rules = rulesFor(plan, true);
    expect(rules.filter((r) => r.kind === 'systolic-blood-pressure-high').map((r) => r.limit)).toEqual([160]);
    const at = (vitalSign: Reading['vitalSign'], value: number, unit: string) => evaluateReading({ vitalSign, value, unit, at: T0 }, [], rules).map((f) => f.kind);
    expect(at('systolic-blood-pressure', 165, 'mm[Hg]')).toEqual(['systolic-blood-pressure-high']);
    expect(at('systolic-blood-pressure', 85, 'mm[Hg]')).toEqual(['systolic-blood-pressure-low']);
    expect(at('body-weight', 186, '[lb_av]')).toEqual(['body-weight-high']);
    expect(at('oxygen-saturation', 88, '%')).toEqual(['oxygen-saturation-low']);
  });

  it('reads the value and the components of an Observation, by LOINC and UCUM', () => {
    const bp: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
      effectiveDateTime: '2026-12-01T08:00:00Z',
      component: [
        { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 190, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
        { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 95, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
      ],
    };
    expect(readingsOf(bp)).toEqual([
      { vitalSign: 'systolic-blood-pressure', value: 190, unit: 'mm[Hg]', at: T0 },
      { vitalSign: 'diastolic-blood-pressure', value: 95, unit: 'mm[Hg]', at: T0 },
    ]);
    expect(readingsOf({ ...bp, status: 'cancelled' })).toEqual([]);
  });

  it('knows heart failure by ICD-10-CM I50.* and SNOMED CT', () => {
    expect(isHeartFailure({ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'I50.23' })).toBe(true);
    expect(isHeartFailure({ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'I48.91' })).toBe(false);
    expect(isHeartFailure({ system: 'http://snomed.info/sct', code: '84114007' })).toBe(true);
  });
});
