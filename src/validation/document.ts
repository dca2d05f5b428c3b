// One entry for "is this right?", whatever arrives: a discharge planner's plan JSON or FHIR
// (a resource or a Bundle), told apart by content. A plan is also mapped and the FHIR it becomes
// validated against the profiles, so a plan that passes here is a plan carebridge can store.
import type { Bundle, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { defaultMappingContext } from '../mapping/context.ts';
import { toFhir } from '../mapping/to-fhir.ts';
import type { TransitionPlan } from '../model/transition-plan.ts';
import { validateFhir, validateFhirBundle } from './fhir-validator.ts';
import { hasErrors } from './outcome.ts';
import { validatePlan } from './plan.ts';

export type DocumentKind = 'transition-plan' | 'fhir';

export interface DocumentValidation {
  kind: DocumentKind;
  /** e.g. "CarePlan", "Bundle (transaction)" or "TransitionPlan". */
  label: string;
  issues: OperationOutcomeIssue[];
  plan?: TransitionPlan;
  bundle?: Bundle;
}

export function isFhirJson(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && 'resourceType' in value;
}

export function validateDocument(value: unknown): DocumentValidation {
  if (isFhirJson(value)) {
    const resource = value as { resourceType: unknown; type?: unknown };
    const label = resource.resourceType === 'Bundle' ? `Bundle (${String(resource.type)})` : String(resource.resourceType);
    return { kind: 'fhir', label, issues: validateFhir(value) };
  }
  const { issues, plan } = validatePlan(value);
  if (!plan) {
    return { kind: 'transition-plan', label: 'TransitionPlan', issues };
  }
  const bundle = toFhir(plan, defaultMappingContext());
  const fhirIssues = validateFhirBundle(bundle);
  if (hasErrors(fhirIssues)) {
    // The plan passed its own checks but maps to FHIR that breaks a profile: a carebridge bug or
    // a gap in the plan rules. Report it as such, never store it.
    return { kind: 'transition-plan', label: 'TransitionPlan', issues: [...issues, ...fhirIssues] };
  }
  return { kind: 'transition-plan', label: 'TransitionPlan', issues: [...issues, ...fhirIssues], plan, bundle };
}
