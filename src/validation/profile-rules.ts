// Rules of carebridge's profiles that a StructureDefinition cannot state for Medplum's validator:
// a pattern on a repeating element (CarePlan.category) rejects matching values there, so the
// "must carry this category" rules are checked here instead.
import type { CarePlan, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { PROFILES } from '../model/profiles.ts';
import { SYSTEMS } from '../model/terminology.ts';
import { issue } from './outcome.ts';

type Rule = (resource: Resource, path: string) => OperationOutcomeIssue[];

function hasCoding(concepts: { coding?: { system?: string; code?: string }[] }[] | undefined, system: string, code?: string): boolean {
  return (concepts ?? []).some((c) => (c.coding ?? []).some((x) => x.system === system && (code === undefined || x.code === code)));
}

const RULES: Record<string, Rule> = {
  [PROFILES.transitionCarePlan]: (resource, path) => {
    const carePlan = resource as CarePlan;
    const issues: OperationOutcomeIssue[] = [];
    if (!hasCoding(carePlan.category, SYSTEMS.carePlanCategory, 'transition-of-care')) {
      issues.push(issue('error', 'required', `${path}.category: a transition CarePlan needs the category ${SYSTEMS.carePlanCategory}|transition-of-care`, `${path}.category`));
    }
    if (!hasCoding(carePlan.category, SYSTEMS.tcmComplexity)) {
      issues.push(issue('error', 'required', `${path}.category: a transition CarePlan needs its TCM complexity (${SYSTEMS.tcmComplexity})`, `${path}.category`));
    }
    return issues;
  },
};

export function checkProfileRules(resource: Resource, profileUrl: string, path: string): OperationOutcomeIssue[] {
  return RULES[profileUrl]?.(resource, path) ?? [];
}
