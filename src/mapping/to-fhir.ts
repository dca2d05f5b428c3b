// TransitionPlan → FHIR R4 transaction Bundle. Pure: ids come from ctx; the same plan gives the
// same Bundle but for its urn:uuids.
import type { Bundle } from '@medplum/fhirtypes';
import type { TransitionPlan } from '../model/transition-plan.ts';
import { BundleBuilder } from './bundle-builder.ts';
import { addCareTeam } from './care-team.ts';
import { addCaregiverTasks } from './caregiver-tasks.ts';
import { addCarePlan, finishCarePlan } from './careplan.ts';
import type { MappingContext } from './context.ts';
import { addCoverage } from './coverage.ts';
import { addFollowUps } from './follow-ups.ts';
import { addGoals } from './goals.ts';
import { addHospitalStay } from './hospital-stay.ts';
import { planKey } from './identifiers.ts';
import { toPatient } from './patient.ts';
import { addMedications } from './medications.ts';
import { addReferrals } from './referrals.ts';
import type { ToFhirState } from './state.ts';

/** Maps a plan that passed validatePlan; an unchecked plan may break references. */
export function toFhir(plan: TransitionPlan, ctx: MappingContext): Bundle {
  const builder = new BundleBuilder(ctx);
  const state: ToFhirState = {
    plan,
    builder,
    key: planKey(plan.identifier),
    patient: builder.add(toPatient(plan.patient), 'create-if-none-exist'),
    encounter: '',
    hospital: '',
    members: new Map(),
    goals: new Map(),
    conditions: [],
    activities: [],
  };
  addHospitalStay(state);
  const careTeam = addCareTeam(state);
  addGoals(state);
  const { carePlan, reference } = addCarePlan(state, careTeam);
  addCaregiverTasks(state, reference);
  addMedications(state);
  addFollowUps(state);
  addReferrals(state, reference);
  addCoverage(state);
  finishCarePlan(carePlan, state);
  return builder.build();
}
