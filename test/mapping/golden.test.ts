import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { GOLDEN_DIR, goldenBundle, goldenName, serialize } from '../../scripts/write-golden.ts';
import { validPlanNames } from '../support/fixtures.ts';

describe('golden Bundles (fixtures/golden, rewrite with npm run golden after an intended mapping change)', () => {
  it.each(validPlanNames())('%s maps to its golden Bundle', (name) => {
    const golden = readFileSync(new URL(goldenName(name), GOLDEN_DIR), 'utf8');
    expect(serialize(goldenBundle(name))).toBe(golden);
  });
});
