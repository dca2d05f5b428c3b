// FHIR R4 Bundle → TransitionPlan: the inverse of toFhir, for a transaction Bundle as toFhir
// makes it or for the same resources read back from a store (Type/id references).
import { OperationOutcomeError, badRequest } from '@medplum/core';
import type { Appointment, Bundle, CarePlan, CareTeam, Coverage, Encounter, Goal, MedicationRequest, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { TransitionPlan } from '../model/transition-plan.ts';
import { BundleReader } from './bundle-reader.ts';
import { fromCareTeam } from './care-team.ts';
import { fromCaregiverTask } from './caregiver-tasks.ts';
import { fromCarePlanStatus, isTransitionCarePlan } from './careplan.ts';
import { fromCoverage } from './coverage.ts';
import { defined, fromIdentifier } from './datatypes.ts';
import { fromAppointment } from './follow-ups.ts';
import { fromGoal } from './goals.ts';
import { fromHospitalStay } from './hospital-stay.ts';
import { fromMedicationRequest } from './medications.ts';
import { fromPatient } from './patient.ts';
import { fromServiceRequest } from './referrals.ts';

function nonEmpty<T>(items: T[]): T[] | undefined {
  return items.length > 0 ? items : undefined;
}

export function fromFhir(bundle: Bundle): TransitionPlan {
  const reader = new BundleReader(bundle);
  const carePlans = reader.ofType<CarePlan>('CarePlan').filter(isTransitionCarePlan);
  if (carePlans.length !== 1) {
    throw new OperationOutcomeError(badRequest(`Expected one transition CarePlan in the Bundle, found ${carePlans.length}`, 'Bundle.entry'));
  }
  const carePlan = carePlans[0] as CarePlan;
  const patient = reader.require<Patient>(carePlan.subject, 'Patient', 'CarePlan.subject');
  const encounter = reader.require<Encounter>(carePlan.encounter, 'Encounter', 'CarePlan.encounter');
  const careTeam = reader.require<CareTeam>(carePlan.careTeam?.[0], 'CareTeam', 'CarePlan.careTeam[0]');
  const { members, memberIds } = fromCareTeam(careTeam, reader);

  const goalResources = (carePlan.goal ?? []).map((g, i) => reader.require<Goal>(g, 'Goal', `CarePlan.goal[${i}]`));
  const goals = goalResources.map(fromGoal);
  const goalIds = new Map<object, string>(goalResources.map((g, i) => [g, (goals[i] as { id: string }).id]));

  const activities = (carePlan.activity ?? []).map((a, i) => {
    const found = reader.lookup(a.reference);
    if (!found) {
      throw new OperationOutcomeError(badRequest(`CarePlan.activity[${i}].reference does not resolve in the Bundle`, `CarePlan.activity[${i}].reference`));
    }
    return found;
  });
  const caregiverTasks = activities.filter((r): r is Task => r.resourceType === 'Task').map((t) => fromCaregiverTask(t, reader, memberIds, goalIds));
  const medications = activities.filter((r): r is MedicationRequest => r.resourceType === 'MedicationRequest').map(fromMedicationRequest);
  const followUps = activities.filter((r): r is Appointment => r.resourceType === 'Appointment').map((a) => fromAppointment(a, reader, memberIds));
  const referrals = activities.filter((r): r is ServiceRequest => r.resourceType === 'ServiceRequest').map((s) => fromServiceRequest(s, reader));
  const coverage = reader.ofType<Coverage>('Coverage').map((c) => fromCoverage(c, reader));
  const author = reader.lookup(carePlan.author);
  const { status, tcmComplexity } = fromCarePlanStatus(carePlan);

  const officialId = carePlan.identifier?.find((id) => id.use === 'official') ?? carePlan.identifier?.[0];
  return defined<TransitionPlan>({
    identifier: fromIdentifier(officialId ?? {}),
    status,
    created: carePlan.created ?? '',
    title: carePlan.title,
    author: (author && memberIds.get(author)) ?? '',
    patient: fromPatient(patient),
    hospitalStay: fromHospitalStay(encounter, reader),
    tcmComplexity,
    careTeam: members,
    goals: nonEmpty(goals),
    caregiverTasks: nonEmpty(caregiverTasks),
    medications: nonEmpty(medications),
    followUps: nonEmpty(followUps),
    referrals: nonEmpty(referrals),
    coverage: nonEmpty(coverage),
  });
}
