// Code systems carebridge uses, in one place: the standard ones (HL7, NUBC, PHIN SOPT, LOINC,
// SNOMED CT) and carebridge's own CodeSystems for concepts no standard system names the way a
// discharge planner does. Each carebridge CodeSystem is published in profiles/ (generated from
// this file by scripts/build-profiles.ts) so a receiver can look the codes up.
import type {
  CareTeamRole,
  CaregiverTaskKind,
  CoverageKind,
  DischargeDisposition,
  FamilyRelationship,
  FollowUpKind,
  HomeHealthService,
  MedicationChange,
  TcmComplexity,
} from './transition-plan.ts';

export const CAREBRIDGE_BASE = 'https://carebridge.example/fhir';
export const CODE_SYSTEM_BASE = `${CAREBRIDGE_BASE}/CodeSystem`;
export const PROFILE_BASE = `${CAREBRIDGE_BASE}/StructureDefinition`;

/** Identifier system of resources that belong to one plan (tasks, follow-ups, ...): see mapping/identifiers.ts. */
export const PLAN_ITEM_SYSTEM = `${CAREBRIDGE_BASE}/sid/plan-item`;

/**
 * Identifier system of the transition of one hospital stay: the value is a key of the hospital's
 * encounter identifier (mapping/identifiers.ts transitionIdentifier). A plan push and a discharge
 * notification about the same stay both give the CarePlan this identifier, which is how they meet.
 */
export const ENCOUNTER_TRANSITION_SYSTEM = `${CAREBRIDGE_BASE}/sid/encounter-transition`;

export const SYSTEMS = {
  snomed: 'http://snomed.info/sct',
  loinc: 'http://loinc.org',
  npi: 'http://hl7.org/fhir/sid/us-npi',
  observationCategory: 'http://terminology.hl7.org/CodeSystem/observation-category',
  ucum: 'http://unitsofmeasure.org',
  bcp47: 'urn:ietf:bcp:47',
  v2IdentifierType: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  v2AppointmentReason: 'http://terminology.hl7.org/CodeSystem/v2-0276',
  v3ActCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  v3RoleCode: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode',
  dischargeDisposition: 'http://terminology.hl7.org/CodeSystem/discharge-disposition',
  nubcDischargeStatus: 'https://www.nubc.org/CodeSystem/PatDischargeStatus',
  diagnosisRole: 'http://terminology.hl7.org/CodeSystem/diagnosis-role',
  conditionCategory: 'http://terminology.hl7.org/CodeSystem/condition-category',
  conditionClinical: 'http://terminology.hl7.org/CodeSystem/condition-clinical',
  conditionVerification: 'http://terminology.hl7.org/CodeSystem/condition-ver-status',
  taskCode: 'http://hl7.org/fhir/CodeSystem/task-code',
  medicationRequestCategory: 'http://terminology.hl7.org/CodeSystem/medicationrequest-category',
  subscriberRelationship: 'http://terminology.hl7.org/CodeSystem/subscriber-relationship',
  coverageClass: 'http://terminology.hl7.org/CodeSystem/coverage-class',
  sopt: 'urn:oid:2.16.840.1.113883.3.221.5',
  careTeamRole: `${CODE_SYSTEM_BASE}/care-team-role`,
  caregiverTask: `${CODE_SYSTEM_BASE}/caregiver-task`,
  taskInput: `${CODE_SYSTEM_BASE}/task-input`,
  followUpKind: `${CODE_SYSTEM_BASE}/follow-up-kind`,
  homeHealthService: `${CODE_SYSTEM_BASE}/home-health-service`,
  coverageKind: `${CODE_SYSTEM_BASE}/coverage-kind`,
  medicationChange: `${CODE_SYSTEM_BASE}/medication-change`,
  carePlanCategory: `${CODE_SYSTEM_BASE}/careplan-category`,
  tcmComplexity: `${CODE_SYSTEM_BASE}/tcm-complexity`,
  tcmDeadline: `${CODE_SYSTEM_BASE}/tcm-deadline`,
  dischargeKind: `${CODE_SYSTEM_BASE}/discharge-disposition`,
} as const;

/** A concept of a carebridge CodeSystem, with the standard code it corresponds to where one exists. */
export interface Concept {
  display: string;
  definition: string;
  standard?: { system: string; code: string; display: string };
}

export const CARE_TEAM_ROLES: Record<CareTeamRole, Concept> = {
  'care-coordinator': { display: 'Care coordinator', definition: 'Owns the whole care plan and the transitional-care deadlines; talks to every provider.', standard: { system: SYSTEMS.snomed, code: '768820003', display: 'Care coordinator (occupation)' } },
  'family-caregiver': { display: 'Family caregiver', definition: 'A family member or friend who gives hands-on daily help without pay.', standard: { system: SYSTEMS.snomed, code: '407542009', display: 'Informal caregiver (person)' } },
  'paid-caregiver': { display: 'Paid caregiver', definition: 'A paid aide (CNA, HHA) who gives hands-on daily help.', standard: { system: SYSTEMS.snomed, code: '768730001', display: 'Home health aide (occupation)' } },
  'case-manager': { display: 'Case manager', definition: 'Handles insurance, benefits, government programmes and referrals to other services.', standard: { system: SYSTEMS.snomed, code: '768832004', display: 'Case manager (occupation)' } },
  'primary-care-provider': { display: 'Primary care provider', definition: "The patient's primary care physician or practitioner.", standard: { system: SYSTEMS.snomed, code: '446050000', display: 'Primary care physician (occupation)' } },
  'home-health-nurse': { display: 'Home health nurse', definition: 'A nurse who visits the patient at home for a home health agency.', standard: { system: SYSTEMS.snomed, code: '224540001', display: 'Community nurse (occupation)' } },
  'physical-therapist': { display: 'Physical therapist', definition: 'A physical therapist (physiotherapist).', standard: { system: SYSTEMS.snomed, code: '36682004', display: 'Physiotherapist (occupation)' } },
  'occupational-therapist': { display: 'Occupational therapist', definition: 'An occupational therapist.', standard: { system: SYSTEMS.snomed, code: '80546007', display: 'Occupational therapist (occupation)' } },
  'speech-therapist': { display: 'Speech-language therapist', definition: 'A speech-language pathologist.', standard: { system: SYSTEMS.snomed, code: '159026005', display: 'Speech/language therapist (occupation)' } },
  specialist: { display: 'Specialist physician', definition: 'A specialist who follows the patient after discharge (cardiologist, neurologist, ...).', standard: { system: SYSTEMS.snomed, code: '69280009', display: 'Specialized physician (occupation)' } },
  'social-worker': { display: 'Social worker', definition: 'A medical social worker.', standard: { system: SYSTEMS.snomed, code: '106328005', display: 'Social worker (occupation)' } },
  'discharge-planner': { display: 'Discharge planner', definition: 'Prepares the patient to leave the hospital and writes the transition plan.' },
};

export const CAREGIVER_TASKS: Record<CaregiverTaskKind, Concept> = {
  bathing: { display: 'Bathing', definition: 'Help with bathing or showering.' },
  dressing: { display: 'Dressing', definition: 'Help with dressing and undressing.' },
  grooming: { display: 'Grooming', definition: 'Help with grooming and personal hygiene.' },
  meals: { display: 'Meals', definition: 'Preparing meals and help with eating.' },
  mobility: { display: 'Mobility', definition: 'Help with walking, transfers and moving safely.' },
  housekeeping: { display: 'Housekeeping', definition: 'Light housekeeping and laundry.' },
  'medication-reminder': { display: 'Medication reminder', definition: 'Reminding the patient to take medications as prescribed.' },
  'vital-signs-monitoring': { display: 'Vital signs monitoring', definition: 'Measuring vital signs and reporting readings outside the thresholds.', standard: { system: SYSTEMS.snomed, code: '61746007', display: 'Taking patient vital signs (procedure)' } },
  companionship: { display: 'Companionship', definition: 'Company and social contact.' },
};

export const TASK_INPUTS = {
  frequency: { display: 'Frequency', definition: 'How often the task is done (valueTiming).' },
  'report-threshold': { display: 'Report threshold', definition: 'The range of a reading (valueRange); outside it, report to the care coordinator. The input type also carries the LOINC code of what is measured.' },
  goal: { display: 'Goal', definition: 'A goal of the care plan the task serves (valueReference).' },
} as const satisfies Record<string, Concept>;

export const FOLLOW_UP_KINDS: Record<FollowUpKind, Concept> = {
  'primary-care': { display: 'Primary care follow-up', definition: 'A visit with the primary care provider.' },
  specialist: { display: 'Specialist follow-up', definition: 'A visit with a specialist.' },
  'home-health-visit': { display: 'Home health visit', definition: "A clinician's visit at the patient's home." },
  therapy: { display: 'Therapy session', definition: 'A physical, occupational or speech therapy session.' },
  lab: { display: 'Laboratory test', definition: 'A blood draw or other laboratory test.' },
  telehealth: { display: 'Telehealth visit', definition: 'A video or phone visit.' },
};

export const HOME_HEALTH_SERVICES: Record<HomeHealthService, Concept> = {
  'skilled-nursing': { display: 'Skilled nursing', definition: 'Skilled nursing visits (Medicare home health discipline SN).' },
  'physical-therapy': { display: 'Physical therapy', definition: 'Physical therapy (PT).', standard: { system: SYSTEMS.snomed, code: '91251008', display: 'Physical therapy procedure (regime/therapy)' } },
  'occupational-therapy': { display: 'Occupational therapy', definition: 'Occupational therapy (OT).', standard: { system: SYSTEMS.snomed, code: '84478008', display: 'Occupational therapy (regime/therapy)' } },
  'speech-language-pathology': { display: 'Speech-language pathology', definition: 'Speech-language pathology (SLP).', standard: { system: SYSTEMS.snomed, code: '5154007', display: 'Speech therapy (regime/therapy)' } },
  'home-health-aide': { display: 'Home health aide', definition: 'Home health aide services (HHA).' },
  'medical-social-services': { display: 'Medical social services', definition: 'Medical social services (MSS).', standard: { system: SYSTEMS.snomed, code: '410606002', display: 'Social service procedure (procedure)' } },
};

/** SOPT = PHIN VADS Source of Payment Typology, the value set US Core binds Coverage.type to. */
export const COVERAGE_KINDS: Record<CoverageKind, Concept> = {
  'medicare-part-a': { display: 'Medicare Part A', definition: 'Original Medicare Part A (hospital insurance; covers home health after a stay).', standard: { system: SYSTEMS.sopt, code: '121', display: 'Medicare FFS' } },
  'medicare-part-b': { display: 'Medicare Part B', definition: 'Original Medicare Part B (medical insurance).', standard: { system: SYSTEMS.sopt, code: '121', display: 'Medicare FFS' } },
  'medicare-advantage': { display: 'Medicare Advantage', definition: 'A Medicare Advantage (Part C) plan.', standard: { system: SYSTEMS.sopt, code: '11', display: 'Medicare (Managed Care)' } },
  medicaid: { display: 'Medicaid', definition: 'State Medicaid (fee for service).', standard: { system: SYSTEMS.sopt, code: '2', display: 'MEDICAID' } },
  'medicaid-waiver': { display: 'Medicaid waiver', definition: 'A Medicaid home- and community-based services (HCBS) waiver programme.', standard: { system: SYSTEMS.sopt, code: '2', display: 'MEDICAID' } },
  'medicaid-managed-care': { display: 'Medicaid managed care', definition: 'A Medicaid managed care plan.', standard: { system: SYSTEMS.sopt, code: '21', display: 'Medicaid (Managed Care)' } },
  commercial: { display: 'Commercial insurance', definition: 'Private (commercial) health insurance.', standard: { system: SYSTEMS.sopt, code: '5', display: 'PRIVATE HEALTH INSURANCE' } },
  veterans: { display: 'Veterans Affairs', definition: 'Veterans Affairs health care.', standard: { system: SYSTEMS.sopt, code: '32', display: 'Department of Veterans Affairs' } },
  'self-pay': { display: 'Self-pay', definition: 'The patient pays.', standard: { system: SYSTEMS.sopt, code: '81', display: 'Self-pay' } },
};

export const MEDICATION_CHANGES: Record<MedicationChange, Concept> = {
  new: { display: 'New', definition: 'Started during the stay or at discharge.' },
  changed: { display: 'Changed', definition: 'Taken before the stay, with a changed dose or schedule.' },
  unchanged: { display: 'Unchanged', definition: 'Taken before the stay and continued as it was.' },
  stopped: { display: 'Stopped', definition: 'Taken before the stay and stopped at discharge.' },
};

export const CAREPLAN_CATEGORIES = {
  'transition-of-care': { display: 'Transition of care plan', definition: 'The plan that carries a patient from a hospital stay to home.', standard: { system: SYSTEMS.snomed, code: '736372004', display: 'Discharge care plan (record artifact)' } },
} as const satisfies Record<string, Concept>;

export const TCM_COMPLEXITIES: Record<TcmComplexity, Concept> = {
  moderate: { display: 'Moderate complexity', definition: 'Transitional Care Management of moderate complexity (CPT 99495): face-to-face visit within 14 days.' },
  high: { display: 'High complexity', definition: 'Transitional Care Management of high complexity (CPT 99496): face-to-face visit within 7 days.' },
};

/**
 * The TCM deadlines carebridge tracks (workflow/tcm-clock.ts) and the evidence that meets them: a
 * deadline Task carries one of the first four as Task.code; a Communication (category) or a Task
 * (code) of the same code is evidence; "overdue" and "period-ended" are deadline businessStatus.
 */
export const TCM_DEADLINES = {
  'interactive-contact': { display: 'Interactive contact within 2 business days', definition: 'Interactive contact (phone, electronic or direct) with the patient or caregiver within 2 business days after discharge; two documented unsuccessful attempts also count.' },
  'face-to-face-visit': { display: 'Face-to-face visit', definition: 'Face-to-face visit within 7 (high complexity) or 14 (moderate complexity) calendar days after discharge.' },
  'medication-reconciliation': { display: 'Medication reconciliation', definition: 'Medication reconciliation, no later than the face-to-face visit.' },
  'tcm-period-end': { display: 'End of the 30-day TCM period', definition: 'The last day of the 30-day Transitional Care Management period: the discharge day + 29.' },
  overdue: { display: 'Overdue', definition: 'The deadline passed without the evidence that meets it (a deadline Task businessStatus).' },
  'period-ended': { display: 'Period ended', definition: 'The 30-day TCM period is over (a deadline Task businessStatus).' },
} as const satisfies Record<string, Concept>;

/** carebridge's disposition words, each with HL7 discharge-disposition and NUBC patient discharge status codes. */
export const DISCHARGE_DISPOSITIONS: Record<DischargeDisposition, Concept & { hl7: string; nubc: string; nubcDisplay: string }> = {
  home: { display: 'Home', definition: 'Discharged home or to self care.', hl7: 'home', nubc: '01', nubcDisplay: 'Discharged to home or self care (routine discharge)' },
  'home-with-home-health': { display: 'Home with home health', definition: 'Discharged home under the care of a home health agency.', hl7: 'home', nubc: '06', nubcDisplay: 'Discharged/transferred to home under care of organized home health service organization' },
  'home-hospice': { display: 'Hospice at home', definition: 'Discharged home with hospice care.', hl7: 'home', nubc: '50', nubcDisplay: 'Hospice - home' },
  'skilled-nursing-facility': { display: 'Skilled nursing facility', definition: 'Discharged to a skilled nursing facility.', hl7: 'snf', nubc: '03', nubcDisplay: 'Discharged/transferred to skilled nursing facility (SNF) with Medicare certification' },
  'inpatient-rehabilitation': { display: 'Inpatient rehabilitation', definition: 'Discharged to an inpatient rehabilitation facility.', hl7: 'rehab', nubc: '62', nubcDisplay: 'Discharged/transferred to an inpatient rehabilitation facility (IRF)' },
  'long-term-care-hospital': { display: 'Long-term care hospital', definition: 'Discharged to a long-term care hospital.', hl7: 'long', nubc: '63', nubcDisplay: 'Discharged/transferred to a Medicare certified long term care hospital (LTCH)' },
};

/** v3 RoleCode for each family relationship. */
export const FAMILY_RELATIONSHIPS: Record<FamilyRelationship, { code: string; display: string }> = {
  spouse: { code: 'SPS', display: 'spouse' },
  wife: { code: 'WIFE', display: 'wife' },
  husband: { code: 'HUSB', display: 'husband' },
  'domestic-partner': { code: 'DOMPART', display: 'domestic partner' },
  daughter: { code: 'DAUC', display: 'daughter' },
  son: { code: 'SONC', display: 'son' },
  child: { code: 'CHILD', display: 'child' },
  mother: { code: 'MTH', display: 'mother' },
  father: { code: 'FTH', display: 'father' },
  parent: { code: 'PRN', display: 'parent' },
  sister: { code: 'SIS', display: 'sister' },
  brother: { code: 'BRO', display: 'brother' },
  sibling: { code: 'SIB', display: 'sibling' },
  grandchild: { code: 'GRNDCHILD', display: 'grandchild' },
  'niece-nephew': { code: 'NIENEPH', display: 'niece/nephew' },
  'family-member': { code: 'FAMMEMB', display: 'family member' },
  friend: { code: 'FRND', display: 'unrelated friend' },
  neighbor: { code: 'NBOR', display: 'neighbor' },
};

/** The carebridge CodeSystems published in profiles/, by URL. */
export const CAREBRIDGE_CODE_SYSTEMS: { id: string; name: string; title: string; concepts: Record<string, Concept> }[] = [
  { id: 'care-team-role', name: 'CareTeamRole', title: 'carebridge care team roles', concepts: CARE_TEAM_ROLES },
  { id: 'caregiver-task', name: 'CaregiverTask', title: 'carebridge caregiver task kinds', concepts: CAREGIVER_TASKS },
  { id: 'task-input', name: 'TaskInput', title: 'carebridge Task input types', concepts: TASK_INPUTS },
  { id: 'follow-up-kind', name: 'FollowUpKind', title: 'carebridge follow-up kinds', concepts: FOLLOW_UP_KINDS },
  { id: 'home-health-service', name: 'HomeHealthService', title: 'carebridge home health services (the Medicare home health disciplines)', concepts: HOME_HEALTH_SERVICES },
  { id: 'coverage-kind', name: 'CoverageKind', title: 'carebridge coverage kinds', concepts: COVERAGE_KINDS },
  { id: 'medication-change', name: 'MedicationChange', title: 'carebridge medication changes at discharge', concepts: MEDICATION_CHANGES },
  { id: 'careplan-category', name: 'CarePlanCategory', title: 'carebridge care plan categories', concepts: CAREPLAN_CATEGORIES },
  { id: 'tcm-complexity', name: 'TcmComplexity', title: 'carebridge Transitional Care Management complexity', concepts: TCM_COMPLEXITIES },
  { id: 'tcm-deadline', name: 'TcmDeadline', title: 'carebridge Transitional Care Management deadlines and their evidence', concepts: TCM_DEADLINES },
  { id: 'discharge-disposition', name: 'DischargeDisposition', title: 'carebridge discharge dispositions', concepts: DISCHARGE_DISPOSITIONS },
];

/** Standard codes the mapping uses as they are. */
export const STANDARD_CODES = {
  referralToHomeHealth: { system: SYSTEMS.snomed, code: '417511005', display: 'Referral to home health care service (procedure)' },
  followUpEncounter: { system: SYSTEMS.snomed, code: '390906007', display: 'Follow-up encounter (procedure)' },
  followUpReason: { system: SYSTEMS.v2AppointmentReason, code: 'FOLLOWUP', display: 'A follow up visit from a previous appointment' },
  inpatient: { system: SYSTEMS.v3ActCode, code: 'IMP', display: 'inpatient encounter' },
  dischargeDiagnosis: { system: SYSTEMS.diagnosisRole, code: 'DD', display: 'Discharge diagnosis' },
  encounterDiagnosis: { system: SYSTEMS.conditionCategory, code: 'encounter-diagnosis', display: 'Encounter Diagnosis' },
  fulfill: { system: SYSTEMS.taskCode, code: 'fulfill', display: 'Fulfill the focal request' },
  dischargeMedication: { system: SYSTEMS.medicationRequestCategory, code: 'discharge', display: 'Discharge' },
  medicalRecordNumber: { system: SYSTEMS.v2IdentifierType, code: 'MR', display: 'Medical record number' },
  memberNumber: { system: SYSTEMS.v2IdentifierType, code: 'MB', display: 'Member Number' },
  planClass: { system: SYSTEMS.coverageClass, code: 'plan', display: 'Plan' },
} as const;
