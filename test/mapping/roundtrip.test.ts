import { describe, expect, it } from '@jest/globals';
import type { Bundle } from '@medplum/fhirtypes';
import { sequentialUuids } from '../../src/mapping/context.ts';
import { fromFhir } from '../../src/mapping/from-fhir.ts';
import { toFhir } from '../../src/mapping/to-fhir.ts';
import { validatePlan } from '../../src/validation/plan.ts';
import { readPlan, validPlanNames } from '../support/fixtures.ts';

describe('fromFhir(toFhir(plan))', () => {
  it.each(validPlanNames())('gives back %s unchanged', (name) => {
    const plan = readPlan(name);
    expect(validatePlan(plan).plan).toBeDefined();
    const bundle = toFhir(plan, sequentialUuids());
    expect(fromFhir(bundle)).toEqual(plan);
  });

  it.each(validPlanNames())('reads %s back from stored resources with Type/id references', (name) => {
    const plan = readPlan(name);
    const bundle = toFhir(plan, sequentialUuids());
    // What a store returns: server ids instead of urn:uuids, and a searchset instead of a transaction.
    const ids = new Map<string, string>();
    bundle.entry?.forEach((e, i) => ids.set(e.fullUrl as string, `${e.resource?.resourceType}/id-${i}`));
    const text = JSON.stringify(bundle).replace(/urn:uuid:[0-9a-f-]{36}/g, (u) => ids.get(u) as string);
    const stored = JSON.parse(text) as Bundle;
    stored.type = 'searchset';
    stored.entry?.forEach((e, i) => {
      delete e.request;
      e.fullUrl = `https://carebridge.test/fhir/${e.resource?.resourceType}/id-${i}`;
      if (e.resource) {
        e.resource.id = `id-${i}`;
      }
    });
    expect(fromFhir(stored)).toEqual(plan);
  });
});
