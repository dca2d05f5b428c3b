// Goals of the transition ("walk 100 m unaided by day 30"): Goal with a due date and, when the
// goal is measurable, what is measured and the target value.
import type { Goal } from '@medplum/fhirtypes';
import type { CareGoal, GoalMeasure } from '../model/transition-plan.ts';
import { SYSTEMS } from '../model/terminology.ts';
import { ref } from './bundle-builder.ts';
import { defined, fromCoding, toCoding } from './datatypes.ts';
import { planItemIdentifier, readPlanItem } from './identifiers.ts';
import type { ToFhirState } from './state.ts';

export function addGoals(state: ToFhirState): void {
  for (const goal of state.plan.goals ?? []) {
    const resource: Goal = {
      resourceType: 'Goal',
      identifier: [planItemIdentifier(state.key, 'goal', goal.id)],
      lifecycleStatus: 'active',
      description: { text: goal.description },
      subject: ref(state.patient),
      target: [
        defined({
          measure: goal.measure ? { coding: [toCoding(goal.measure.code)] } : undefined,
          detailQuantity: goal.measure
            ? defined({ value: goal.measure.value, comparator: goal.measure.comparator, unit: goal.measure.unit, system: SYSTEMS.ucum, code: goal.measure.unit })
            : undefined,
          dueDate: goal.targetDate,
        }),
      ],
    };
    state.goals.set(goal.id, state.builder.add(resource, 'conditional-update'));
  }
}

export function fromGoal(goal: Goal, index: number): CareGoal {
  const target = goal.target?.[0];
  const quantity = target?.detailQuantity;
  const measure: GoalMeasure | undefined =
    target?.measure && quantity
      ? defined({ code: fromCoding(target.measure.coding?.[0]), value: quantity.value ?? 0, unit: quantity.code ?? quantity.unit ?? '', comparator: quantity.comparator as GoalMeasure['comparator'] })
      : undefined;
  return defined<CareGoal>({
    id: readPlanItem(goal.identifier)?.localId ?? goal.id ?? `goal-${index + 1}`,
    description: goal.description.text ?? '',
    targetDate: target?.dueDate ?? '',
    measure,
  });
}
