// The discharge planner's own JSON: one hospital-to-home transition, in the words of the people
// who make it (see ../shared/domain/README.md). Its JSON Schema is profiles/transition-plan.schema.json;
// the two are kept in step by test/model/transition-plan-schema.test.ts.
//
// Items inside a plan (care team members, goals, tasks, follow-ups, referrals, medications,
// coverages) carry a plan-local `id` chosen by the hospital: other items point at them with it,
// and it is how a plan pushed again finds the same FHIR resources.

/** A business identifier as the issuing system knows it. */
export interface PlanIdentifier {
  system: string;
  value: string;
}

/** A code from a real code system (SNOMED CT, ICD-10-CM, RxNorm, LOINC, ...). */
export interface PlanCoding {
  system: string;
  code: string;
  display?: string;
}

export interface PersonName {
  family: string;
  given: string[];
  prefix?: string[];
  suffix?: string[];
}

export interface PostalAddress {
  use?: 'home' | 'work' | 'temp' | 'old';
  line: string[];
  city: string;
  state?: string;
  postalCode?: string;
  country?: string;
}

export interface ContactPoint {
  system: 'phone' | 'email' | 'sms' | 'fax' | 'url';
  value: string;
  use?: 'home' | 'work' | 'mobile' | 'temp';
}

/** An organization's contact point: never "home" (FHIR invariant org-3). */
export interface OrganizationContactPoint extends ContactPoint {
  use?: 'work' | 'temp' | 'mobile';
}

export interface OrganizationRef {
  /** NPI, CCN or another registry identifier: organizations are shared across plans by it. */
  identifier: PlanIdentifier;
  name: string;
  telecom?: OrganizationContactPoint[];
}

export type PlanStatus = 'draft' | 'active' | 'on-hold' | 'revoked' | 'completed' | 'entered-in-error';

export type Gender = 'male' | 'female' | 'other' | 'unknown';

export interface PlanPatient {
  /** At least one; the first is the hospital MRN that identifies the patient across pushes. */
  identifiers: PlanIdentifier[];
  name: PersonName;
  birthDate: string;
  gender: Gender;
  address?: PostalAddress[];
  telecom?: ContactPoint[];
  /** BCP-47 language tag, e.g. "en-US", "es". */
  preferredLanguage?: string;
}

export type DischargeDisposition =
  | 'home'
  | 'home-with-home-health'
  | 'home-hospice'
  | 'skilled-nursing-facility'
  | 'inpatient-rehabilitation'
  | 'long-term-care-hospital';

export interface HospitalStay {
  /** The hospital's visit/encounter number; optional because some planners do not have it. */
  encounterIdentifier?: PlanIdentifier;
  admittedAt: string;
  dischargedAt: string;
  dischargingOrganization: OrganizationRef;
  dischargeDisposition: DischargeDisposition;
  principalDiagnosis: PlanCoding;
  secondaryDiagnoses?: PlanCoding[];
}

/** Transitional Care Management complexity: 7-day (high, CPT 99496) or 14-day (moderate, 99495) visit. */
export type TcmComplexity = 'moderate' | 'high';

export type CareTeamRole =
  | 'care-coordinator'
  | 'family-caregiver'
  | 'paid-caregiver'
  | 'case-manager'
  | 'primary-care-provider'
  | 'home-health-nurse'
  | 'physical-therapist'
  | 'occupational-therapist'
  | 'speech-therapist'
  | 'specialist'
  | 'social-worker'
  | 'discharge-planner';

export type FamilyRelationship =
  | 'spouse'
  | 'wife'
  | 'husband'
  | 'domestic-partner'
  | 'daughter'
  | 'son'
  | 'child'
  | 'mother'
  | 'father'
  | 'parent'
  | 'sister'
  | 'brother'
  | 'sibling'
  | 'grandchild'
  | 'niece-nephew'
  | 'family-member'
  | 'friend'
  | 'neighbor';

export interface CareTeamMember {
  id: string;
  role: CareTeamRole;
  name: PersonName;
  /** NPI or staff number; people without one (family caregivers) are known by plan and id. */
  identifier?: PlanIdentifier;
  organization?: OrganizationRef;
  telecom?: ContactPoint[];
  /** Required for a family caregiver: how they are related to the patient. */
  relationship?: FamilyRelationship;
}

export interface GoalMeasure {
  /** What is measured (LOINC where one exists). */
  code: PlanCoding;
  value: number;
  unit: string;
  comparator?: '<' | '<=' | '>=' | '>';
}

export interface CareGoal {
  id: string;
  description: string;
  targetDate: string;
  measure?: GoalMeasure;
}

export type CaregiverTaskKind =
  | 'bathing'
  | 'dressing'
  | 'grooming'
  | 'meals'
  | 'mobility'
  | 'housekeeping'
  | 'medication-reminder'
  | 'vital-signs-monitoring'
  | 'companionship';

export interface TaskFrequency {
  /** `count` times every `period` `periodUnit`: 2 per 1 d = twice a day. */
  count: number;
  period: number;
  periodUnit: 'h' | 'd' | 'wk';
}

export type VitalSign =
  | 'body-weight'
  | 'heart-rate'
  | 'systolic-blood-pressure'
  | 'diastolic-blood-pressure'
  | 'oxygen-saturation'
  | 'body-temperature'
  | 'respiratory-rate'
  | 'blood-glucose';

/** Report to the care coordinator when a reading falls outside [low, high]. */
export interface ReportThreshold {
  vitalSign: VitalSign;
  low?: number;
  high?: number;
  /** UCUM unit of low/high, e.g. "kg", "/min", "mm[Hg]", "%". */
  unit: string;
}

export interface CaregiverTask {
  id: string;
  kind: CaregiverTaskKind;
  description?: string;
  /** Care team member id of whoever does it (a family caregiver or a paid aide, usually). */
  performer: string;
  frequency: TaskFrequency;
  thresholds?: ReportThreshold[];
  /** Goal ids this task serves. */
  goals?: string[];
}

export type MedicationChange = 'new' | 'changed' | 'unchanged' | 'stopped';

export interface DischargeMedication {
  id: string;
  /** RxNorm where possible. */
  medication: PlanCoding;
  dosage: string;
  change: MedicationChange;
  note?: string;
}

export type FollowUpKind = 'primary-care' | 'specialist' | 'home-health-visit' | 'therapy' | 'lab' | 'telehealth';

export interface FollowUpLocation {
  name: string;
  address?: PostalAddress;
}

export interface FollowUp {
  id: string;
  kind: FollowUpKind;
  description?: string;
  /** Care team member id of the clinician the patient sees. */
  with: string;
  /** Absent for visits at the patient's home and telehealth. */
  location?: FollowUpLocation;
  start: string;
  minutesDuration: number;
}

export type HomeHealthService =
  | 'skilled-nursing'
  | 'physical-therapy'
  | 'occupational-therapy'
  | 'speech-language-pathology'
  | 'home-health-aide'
  | 'medical-social-services';

export interface AgencyReferral {
  id: string;
  agency: OrganizationRef;
  services: HomeHealthService[];
  /** The date care should start at home. */
  requestedStartOfCare: string;
  note?: string;
}

export type CoverageKind =
  | 'medicare-part-a'
  | 'medicare-part-b'
  | 'medicare-advantage'
  | 'medicaid'
  | 'medicaid-waiver'
  | 'medicaid-managed-care'
  | 'commercial'
  | 'veterans'
  | 'self-pay';

export type SubscriberRelationship = 'self' | 'spouse' | 'child' | 'parent' | 'common' | 'other';

export interface CoveragePeriod {
  start: string;
  end?: string;
}

export interface CoverageInfo {
  id: string;
  kind: CoverageKind;
  payer: OrganizationRef;
  planName: string;
  memberId: string;
  subscriberId?: string;
  relationship: SubscriberRelationship;
  period: CoveragePeriod;
  /** 1 = primary. */
  order?: number;
}

export interface TransitionPlan {
  identifier: PlanIdentifier;
  status: PlanStatus;
  /** When the discharge planner finished the plan; the referrals' authoredOn. */
  created: string;
  title?: string;
  /** Care team member id of the discharge planner who wrote the plan. */
  author: string;
  patient: PlanPatient;
  hospitalStay: HospitalStay;
  tcmComplexity: TcmComplexity;
  careTeam: CareTeamMember[];
  goals?: CareGoal[];
  caregiverTasks?: CaregiverTask[];
  medications?: DischargeMedication[];
  followUps?: FollowUp[];
  referrals?: AgencyReferral[];
  coverage?: CoverageInfo[];
}
