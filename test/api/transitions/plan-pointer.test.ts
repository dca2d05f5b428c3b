// The plan item each resource of the mapped Bundle came from, as a JSON pointer into the plan:
// for every resource toFhir makes of the fixtures that carries a plan item, the pointer resolves
// to an item of the plan with that item's id.
import { describe, expect, it } from '@jest/globals';
import { OperationOutcomeError } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { locatedInPlan, planPointerOf } from '../../../src/api/transitions/plan-pointer.ts';
import { sequentialUuids } from '../../../src/mapping/context.ts';
import { readPlanItem } from '../../../src/mapping/identifiers.ts';
import { toFhir } from '../../../src/mapping/to-fhir.ts';
import { readPlan } from '../../support/fixtures.ts';

/** The value a JSON pointer names. */
function at(document: unknown, pointer: string): unknown {
  return pointer === '/' ? document : pointer.split('/').slice(1).reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], document);
}

describe('planPointerOf', () => {
  for (const fixture of ['broadcast-three-agencies.json', 'heart-failure-home-health.json', 'post-stroke-follow-ups.json']) {
    it(`points every mapped resource of ${fixture} that has a plan item at that item`, () => {
      const plan = readPlan(fixture);
      const resources = (toFhir(plan, sequentialUuids()).entry ?? []).map((e) => e.resource as Resource);
      let located = 0;
      for (const resource of resources) {
        const pointer = planPointerOf(plan, resource);
        const item = readPlanItem((resource as { identifier?: [] }).identifier);
        if (pointer === undefined) {
          // Only resources shared across plans (organizations, practitioners by their own identifier) and deadlines have none.
          expect(item === undefined || item.kind === 'deadline' || item.kind === 'careplan').toBe(true);
          continue;
        }
        located++;
        const target = at(plan, pointer) as { id?: string } | undefined;
        expect(target).toBeDefined();
        if (item && ['member', 'goal', 'caregiver-task', 'medication', 'follow-up', 'referral', 'referral-task', 'coverage'].includes(item.kind)) {
          expect(target?.id).toBe(item.localId);
        }
      }
      expect(located).toBeGreaterThan(10);
    });
  }

  it('names the plan identifier for an error on the CarePlan identifier, and leaves issues about no entry alone', () => {
    const plan = readPlan('broadcast-three-agencies.json');
    const bundle = toFhir(plan, sequentialUuids());
    const carePlanAt = (bundle.entry ?? []).findIndex((e) => e.resource?.resourceType === 'CarePlan');
    const error = new OperationOutcomeError({
      resourceType: 'OperationOutcome',
      id: 'conflict',
      issue: [
        { severity: 'error', code: 'conflict', expression: [`Bundle.entry[${carePlanAt}].resource.identifier`] },
        { severity: 'error', code: 'processing', expression: ['Bundle.type'] },
      ],
    });
    const located = locatedInPlan(error, plan, bundle);
    expect(located.outcome.id).toBe('conflict');
    expect(located.outcome.issue?.map((i) => i.location)).toEqual([['/identifier'], undefined]);
  });
});
