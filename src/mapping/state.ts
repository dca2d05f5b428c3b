// What the plan → FHIR mappers share while one Bundle is built: the builder, the plan key and
// the urn:uuid references of what was already added.
import type { TransitionPlan } from '../model/transition-plan.ts';
import type { BundleBuilder } from './bundle-builder.ts';

export interface ToFhirState {
  plan: TransitionPlan;
  builder: BundleBuilder;
  /** Hash of the plan identifier that namespaces plan-item identifiers. */
  key: string;
  patient: string;
  encounter: string;
  hospital: string;
  /** Care team member id → reference of the Practitioner or RelatedPerson. */
  members: Map<string, string>;
  goals: Map<string, string>;
  conditions: string[];
  /** Activities of the CarePlan, in plan order. */
  activities: string[];
}
