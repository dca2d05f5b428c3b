// The hospital stay being ended: Encounter (with its discharge disposition) and one Condition per
// discharge diagnosis, ranked: rank 1 is the principal diagnosis.
import type { Condition, Encounter, Organization } from '@medplum/fhirtypes';
import type { DischargeDisposition, HospitalStay } from '../model/transition-plan.ts';
import { DISCHARGE_DISPOSITIONS, PLAN_ITEM_SYSTEM, STANDARD_CODES, SYSTEMS } from '../model/terminology.ts';
import { ref } from './bundle-builder.ts';
import type { BundleReader } from './bundle-reader.ts';
import { codeIn, defined, fromCoding, fromIdentifier, fromOrganization, organizationKey, toCoding, toIdentifier, toOrganization } from './datatypes.ts';
import { planItemIdentifier } from './identifiers.ts';
import type { ToFhirState } from './state.ts';

/** Adds the hospital, the Encounter and the diagnoses; sets state.hospital, encounter, conditions. */
export function addHospitalStay(state: ToFhirState): void {
  const { builder, key, plan } = state;
  const stay = plan.hospitalStay;
  state.hospital = builder.addShared(organizationKey(stay.dischargingOrganization), () => toOrganization(stay.dischargingOrganization));

  const disposition = DISCHARGE_DISPOSITIONS[stay.dischargeDisposition];
  // Matched by the plan-item identifier or the hospital's own: the Encounter a discharge
  // notification recorded for this stay (api/fhir/process-message.ts) is the one the plan updates.
  const identifier = [planItemIdentifier(key, 'encounter', 'stay'), ...(stay.encounterIdentifier ? [toIdentifier(stay.encounterIdentifier)] : [])];
  const encounter: Encounter = {
    resourceType: 'Encounter',
    identifier,
    status: 'finished',
    class: { ...STANDARD_CODES.inpatient },
    subject: ref(state.patient),
    period: { start: stay.admittedAt, end: stay.dischargedAt },
    serviceProvider: ref(state.hospital),
    hospitalization: {
      dischargeDisposition: {
        coding: [
          { system: SYSTEMS.dischargeDisposition, code: disposition.hl7 },
          { system: SYSTEMS.nubcDischargeStatus, code: disposition.nubc, display: disposition.nubcDisplay },
          { system: SYSTEMS.dischargeKind, code: stay.dischargeDisposition, display: disposition.display },
        ],
        text: disposition.display,
      },
    },
  };
  state.encounter = builder.add(encounter, 'conditional-update', identifier);

  const diagnoses = [stay.principalDiagnosis, ...(stay.secondaryDiagnoses ?? [])];
  state.conditions = diagnoses.map((dx, i) =>
    builder.add(
      {
        resourceType: 'Condition',
        identifier: [planItemIdentifier(key, 'diagnosis', String(i + 1))],
        clinicalStatus: { coding: [{ system: SYSTEMS.conditionClinical, code: 'active' }] },
        verificationStatus: { coding: [{ system: SYSTEMS.conditionVerification, code: 'confirmed' }] },
        category: [{ coding: [{ ...STANDARD_CODES.encounterDiagnosis }] }],
        code: { coding: [toCoding(dx)] },
        subject: ref(state.patient),
        encounter: ref(state.encounter),
      } satisfies Condition,
      'conditional-update',
    ),
  );
  encounter.diagnosis = state.conditions.map((condition, i) => ({
    condition: ref(condition),
    use: { coding: [{ ...STANDARD_CODES.dischargeDiagnosis }] },
    rank: i + 1,
  }));
}

export function fromHospitalStay(encounter: Encounter, reader: BundleReader): HospitalStay {
  const dischargingOrganization = reader.require<Organization>(encounter.serviceProvider, 'Organization', 'Encounter.serviceProvider');
  const ranked = [...(encounter.diagnosis ?? [])].sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity));
  const diagnoses = ranked.map((d, i) => fromCoding(reader.require<Condition>(d.condition, 'Condition', `Encounter.diagnosis[${i}].condition`).code?.coding?.[0]));
  const encounterIdentifier = encounter.identifier?.find((id) => id.system !== PLAN_ITEM_SYSTEM);
  return defined<HospitalStay>({
    encounterIdentifier: encounterIdentifier ? fromIdentifier(encounterIdentifier) : undefined,
    admittedAt: encounter.period?.start ?? '',
    dischargedAt: encounter.period?.end ?? '',
    dischargingOrganization: fromOrganization(dischargingOrganization),
    dischargeDisposition: dispositionOf(encounter),
    principalDiagnosis: diagnoses[0] ?? { system: '', code: '' },
    secondaryDiagnoses: diagnoses.length > 1 ? diagnoses.slice(1) : undefined,
  });
}

/** carebridge's own code if present, else the NUBC code (the finer of the two standard ones). */
function dispositionOf(encounter: Encounter): DischargeDisposition {
  const cc = encounter.hospitalization?.dischargeDisposition;
  const own = codeIn(cc, SYSTEMS.dischargeKind);
  if (own && own in DISCHARGE_DISPOSITIONS) {
    return own as DischargeDisposition;
  }
  const nubc = codeIn(cc, SYSTEMS.nubcDischargeStatus);
  const byNubc = Object.entries(DISCHARGE_DISPOSITIONS).find(([, d]) => d.nubc === nubc);
  if (byNubc) {
    return byNubc[0] as DischargeDisposition;
  }
  const hl7 = codeIn(cc, SYSTEMS.dischargeDisposition);
  const byHl7 = Object.entries(DISCHARGE_DISPOSITIONS).find(([, d]) => d.hl7 === hl7);
  return (byHl7?.[0] ?? 'home') as DischargeDisposition;
}
