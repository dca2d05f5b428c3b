// Medications at discharge, for reconciliation: MedicationRequest (category "discharge") with what
// changed against the medications before the stay; a stopped medication is a stopped request.
import type { MedicationRequest } from '@medplum/fhirtypes';
import type { DischargeMedication, MedicationChange } from '../model/transition-plan.ts';
import { MEDICATION_CHANGES, STANDARD_CODES, SYSTEMS } from '../model/terminology.ts';
import { ref } from './bundle-builder.ts';
import { codeIn, defined, fromCoding, toCoding } from './datatypes.ts';
import { planItemIdentifier, readPlanItem } from './identifiers.ts';
import type { ToFhirState } from './state.ts';

export function addMedications(state: ToFhirState): void {
  for (const med of state.plan.medications ?? []) {
    const resource: MedicationRequest = defined({
      resourceType: 'MedicationRequest',
      identifier: [planItemIdentifier(state.key, 'medication', med.id)],
      status: med.change === 'stopped' ? 'stopped' : 'active',
      intent: 'plan',
      category: [
        { coding: [{ ...STANDARD_CODES.dischargeMedication }] },
        { coding: [{ system: SYSTEMS.medicationChange, code: med.change, display: MEDICATION_CHANGES[med.change].display }] },
      ],
      medicationCodeableConcept: { coding: [toCoding(med.medication)] },
      subject: ref(state.patient),
      encounter: ref(state.encounter),
      authoredOn: state.plan.created,
      requester: ref(state.members.get(state.plan.author) as string),
      dosageInstruction: [{ text: med.dosage }],
      note: med.note === undefined ? undefined : [{ text: med.note }],
    });
    state.activities.push(state.builder.add(resource, 'conditional-update'));
  }
}

export function fromMedicationRequest(request: MedicationRequest): DischargeMedication {
  const change = codeIn(request.category, SYSTEMS.medicationChange) ?? (request.status === 'stopped' ? 'stopped' : 'unchanged');
  return defined<DischargeMedication>({
    id: readPlanItem(request.identifier)?.localId ?? request.id ?? '',
    medication: fromCoding(request.medicationCodeableConcept?.coding?.[0]),
    dosage: request.dosageInstruction?.[0]?.text ?? '',
    change: change as MedicationChange,
    note: request.note?.[0]?.text,
  });
}
