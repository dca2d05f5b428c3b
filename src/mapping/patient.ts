// The patient: Patient ⇄ PlanPatient. The first identifier is the hospital MRN.
import type { Identifier, Patient } from '@medplum/fhirtypes';
import type { Gender, PlanPatient } from '../model/transition-plan.ts';
import { STANDARD_CODES, SYSTEMS } from '../model/terminology.ts';
import {
  defined,
  fromAddress,
  fromContactPoint,
  fromHumanName,
  fromIdentifier,
  mapOptional,
  toAddress,
  toContactPoint,
  toHumanName,
} from './datatypes.ts';

export function toPatient(patient: PlanPatient): Patient {
  const identifier: Identifier[] = patient.identifiers.map((id, i) =>
    i === 0 ? { type: { coding: [{ ...STANDARD_CODES.medicalRecordNumber }] }, system: id.system, value: id.value } : { system: id.system, value: id.value },
  );
  return defined<Patient>({
    resourceType: 'Patient',
    identifier,
    active: true,
    name: [toHumanName(patient.name)],
    telecom: mapOptional(patient.telecom, toContactPoint),
    gender: patient.gender,
    birthDate: patient.birthDate,
    address: mapOptional(patient.address, toAddress),
    communication: patient.preferredLanguage
      ? [{ language: { coding: [{ system: SYSTEMS.bcp47, code: patient.preferredLanguage }] }, preferred: true }]
      : undefined,
  });
}

export function fromPatient(patient: Patient): PlanPatient {
  const language = patient.communication?.find((c) => c.preferred) ?? patient.communication?.[0];
  return defined<PlanPatient>({
    identifiers: (patient.identifier ?? []).map(fromIdentifier),
    name: fromHumanName(patient.name?.find((n) => n.use === 'official') ?? patient.name?.[0]),
    birthDate: patient.birthDate ?? '',
    gender: (patient.gender ?? 'unknown') as Gender,
    address: mapOptional(patient.address, fromAddress),
    telecom: mapOptional(patient.telecom, fromContactPoint),
    preferredLanguage: language?.language.coding?.find((c) => c.system === SYSTEMS.bcp47)?.code,
  });
}
