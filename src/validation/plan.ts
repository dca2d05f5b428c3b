// A transition plan as it enters: its shape (JSON Schema), then the rules between its items.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { TransitionPlan } from '../model/transition-plan.ts';
import { checkPlanRules } from './plan-rules.ts';
import { checkPlanSchema } from './plan-schema.ts';

export interface PlanValidation {
  issues: OperationOutcomeIssue[];
  /** Set only when there is no error: the plan, typed. */
  plan?: TransitionPlan;
}

export function validatePlan(value: unknown): PlanValidation {
  const schemaIssues = checkPlanSchema(value);
  if (schemaIssues.length > 0) {
    return { issues: schemaIssues };
  }
  const plan = value as TransitionPlan;
  const issues = checkPlanRules(plan);
  return issues.some((i) => i.severity === 'error') ? { issues } : { issues, plan };
}
