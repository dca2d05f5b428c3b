// A transition plan as it enters: its shape (JSON Schema), then the rules between its items.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { TransitionPlan } from '../model/transition-plan.ts';
import { checkPlanRules } from './plan-rules.ts';
import { checkPlanSchema } from './plan-schema.ts';

export interface PlanValidation {
  issues: OperationOutcomeIssue[];
  /** Set only when there is no error: the plan, typed. */
  plan?: TransitionPlan;
  /** Set when the shape is wrong (the plan schema's issues, also in `issues`): not a plan at all. */
  shapeIssues?: OperationOutcomeIssue[];
}

const OPTIONAL_LISTS = ['goals', 'caregiverTasks', 'medications', 'followUps', 'referrals', 'coverage'] as const;

/** An empty optional list means the same as none: drop it, so every plan has one canonical form. */
function normalize(plan: TransitionPlan): TransitionPlan {
  const copy = { ...plan };
  for (const list of OPTIONAL_LISTS) {
    if (copy[list]?.length === 0) {
      delete copy[list];
    }
  }
  return copy;
}

export function validatePlan(value: unknown): PlanValidation {
  const schemaIssues = checkPlanSchema(value);
  if (schemaIssues.length > 0) {
    return { issues: schemaIssues, shapeIssues: schemaIssues };
  }
  const plan = normalize(value as TransitionPlan);
  const issues = checkPlanRules(plan);
  return issues.some((i) => i.severity === 'error') ? { issues } : { issues, plan };
}
