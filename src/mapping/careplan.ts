// The transition CarePlan: the plan's own identifier, the patient, the stay it follows, the care
// team, the goals and the activities (caregiver tasks, medications, follow-ups, referrals).
import type { CarePlan, CodeableConcept } from '@medplum/fhirtypes';
import type { PlanStatus, TcmComplexity } from '../model/transition-plan.ts';
import { PROFILES } from '../model/profiles.ts';
import { CAREPLAN_CATEGORIES, SYSTEMS, TCM_COMPLEXITIES } from '../model/terminology.ts';
import { ref } from './bundle-builder.ts';
import { codeIn, defined, toIdentifier } from './datatypes.ts';
import { transitionIdentifier } from './identifiers.ts';
import type { ToFhirState } from './state.ts';

export const TRANSITION_CATEGORY = 'transition-of-care';

/**
 * Adds the CarePlan with what is known so far and returns it with its reference; the caller
 * fills `activity` once the activities exist (they point back at the plan through basedOn).
 */
export function addCarePlan(state: ToFhirState, careTeam: string): { carePlan: CarePlan; reference: string } {
  const { plan } = state;
  const complexity = TCM_COMPLEXITIES[plan.tcmComplexity];
  const carePlan: CarePlan = defined({
    resourceType: 'CarePlan',
    meta: { profile: [PROFILES.transitionCarePlan] },
    // The plan's own identifier, and the transition identifier of its hospital stay: a CarePlan a
    // discharge notification opened for the stay is the one this plan fills in (matched by either).
    identifier: [{ use: 'official', ...toIdentifier(plan.identifier) }, ...(plan.hospitalStay.encounterIdentifier ? [transitionIdentifier(plan.hospitalStay.encounterIdentifier)] : [])],
    status: plan.status,
    intent: 'plan',
    category: [
      transitionCategory(),
      { coding: [{ system: SYSTEMS.tcmComplexity, code: plan.tcmComplexity, display: complexity.display }], text: complexity.display },
    ],
    title: plan.title,
    subject: ref(state.patient),
    encounter: ref(state.encounter),
    period: { start: plan.hospitalStay.dischargedAt },
    created: plan.created,
    author: ref(state.members.get(plan.author) as string),
    careTeam: [ref(careTeam)],
    addresses: state.conditions.map((c) => ref(c)),
    goal: [...state.goals.values()].map((g) => ref(g)),
    activity: [],
  });
  const reference = state.builder.add(carePlan, 'conditional-update', carePlan.identifier);
  return { carePlan, reference };
}

export function finishCarePlan(carePlan: CarePlan, state: ToFhirState): void {
  carePlan.activity = state.activities.map((a) => ({ reference: ref(a) }));
  if (carePlan.goal?.length === 0) {
    delete carePlan.goal;
  }
  if (carePlan.activity.length === 0) {
    delete carePlan.activity;
  }
}

/** The category every transition CarePlan carries (carebridge's code and the SNOMED CT one). */
export function transitionCategory(): CodeableConcept {
  const category = CAREPLAN_CATEGORIES[TRANSITION_CATEGORY];
  return { coding: [{ system: SYSTEMS.carePlanCategory, code: TRANSITION_CATEGORY, display: category.display }, { ...category.standard }], text: category.display };
}

export function isTransitionCarePlan(carePlan: CarePlan): boolean {
  return codeIn(carePlan.category, SYSTEMS.carePlanCategory) === TRANSITION_CATEGORY;
}

export function fromCarePlanStatus(carePlan: CarePlan): { status: PlanStatus; tcmComplexity: TcmComplexity } {
  return {
    status: carePlan.status as PlanStatus,
    tcmComplexity: (codeIn(carePlan.category, SYSTEMS.tcmComplexity) ?? 'moderate') as TcmComplexity,
  };
}
