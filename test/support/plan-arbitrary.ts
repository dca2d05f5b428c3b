// fast-check generator of valid transition plans: every reference resolves, dates follow the
// order of a discharge, organizations are described the same way wherever they appear.
import fc from 'fast-check';
import type {
  AgencyReferral,
  CareGoal,
  CareTeamMember,
  CareTeamRole,
  CaregiverTask,
  CoverageInfo,
  DischargeMedication,
  FollowUp,
  OrganizationContactPoint,
  OrganizationRef,
  PersonName,
  PlanCoding,
  PostalAddress,
  ContactPoint,
  TransitionPlan,
} from '../../src/model/transition-plan.ts';
import { VITAL_SIGNS } from '../../src/model/vital-signs.ts';
import { npiCheckDigit } from '../../src/validation/plan-rules.ts';

const DAY = 86_400_000;

/** A valid NPI from nine digits. */
export function npiFrom(nine: string): string {
  return `${nine}${npiCheckDigit(nine)}`;
}

const text = (max = 40): fc.Arbitrary<string> => fc.string({ unit: 'grapheme', minLength: 1, maxLength: max }).filter((s) => /\S/.test(s));
const token = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9-]{0,11}$/);
const localId = fc.stringMatching(/^[a-z][a-z0-9.-]{0,15}$/);
const system = fc.constantFrom('https://riverside.example/fhir/sid/mrn', 'urn:oid:2.16.840.1.113883.19.5', 'https://plans.example/id');
const offset = fc.constantFrom('Z', '-05:00', '+05:30', '-10:00', '+01:00');

function dateTime(ms: number, tz: string): string {
  const shift = tz === 'Z' ? 0 : (tz.startsWith('-') ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6)));
  return `${new Date(ms + shift * 60_000).toISOString().slice(0, 19)}${tz}`;
}

const name: fc.Arbitrary<PersonName> = fc.record(
  { family: text(20), given: fc.array(text(15), { minLength: 1, maxLength: 3 }), prefix: fc.array(fc.constantFrom('Dr.', 'Ms.', 'Mr.'), { minLength: 1, maxLength: 1 }), suffix: fc.array(fc.constantFrom('RN', 'MD', 'Jr.'), { minLength: 1, maxLength: 2 }) },
  { requiredKeys: ['family', 'given'] },
);

const address: fc.Arbitrary<PostalAddress> = fc.record(
  { use: fc.constantFrom('home', 'work'), line: fc.array(text(30), { minLength: 1, maxLength: 2 }), city: text(20), state: fc.constantFrom('OH', 'TX', 'CA'), postalCode: fc.stringMatching(/^\d{5}$/), country: fc.constant('US') },
  { requiredKeys: ['line', 'city'] },
);

const telecom: fc.Arbitrary<ContactPoint[]> = fc.array(
  fc.record({ system: fc.constantFrom('phone', 'email', 'sms'), value: token, use: fc.constantFrom('home', 'work', 'mobile') }, { requiredKeys: ['system', 'value'] }),
  { minLength: 1, maxLength: 2 },
);

const organizationTelecom: fc.Arbitrary<OrganizationContactPoint[]> = fc.array(
  fc.record({ system: fc.constantFrom('phone', 'fax', 'url'), value: token, use: fc.constantFrom('work', 'temp') }, { requiredKeys: ['system', 'value'] }),
  { minLength: 1, maxLength: 2 },
);

const coding: fc.Arbitrary<PlanCoding> = fc.record(
  { system: fc.constantFrom('http://hl7.org/fhir/sid/icd-10-cm', 'http://snomed.info/sct'), code: fc.stringMatching(/^[A-Z0-9][A-Z0-9.]{1,7}$/), display: text(30) },
  { requiredKeys: ['system', 'code'] },
);

/** A pool of organizations with distinct NPIs; every mention of one uses the same object. */
const organizations: fc.Arbitrary<OrganizationRef[]> = fc
  .uniqueArray(fc.stringMatching(/^\d{9}$/), { minLength: 6, maxLength: 6 })
  .chain((nines) =>
    fc.tuple(...nines.map((nine) => fc.record({ identifier: fc.constant({ system: 'http://hl7.org/fhir/sid/us-npi', value: npiFrom(nine) }), name: text(30), telecom: organizationTelecom }, { requiredKeys: ['identifier', 'name'] }))),
  );

const CLINICIANS: CareTeamRole[] = ['care-coordinator', 'primary-care-provider', 'home-health-nurse', 'physical-therapist', 'specialist', 'social-worker', 'case-manager'];

export const planArbitrary: fc.Arbitrary<TransitionPlan> = fc
  .record({
    orgs: organizations,
    admitted: fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2027, 0, 1) }),
    stayDays: fc.integer({ min: 1, max: 30 }),
    tz: offset,
    ids: fc.uniqueArray(localId, { minLength: 40, maxLength: 40 }),
    npis: fc.uniqueArray(fc.stringMatching(/^\d{9}$/), { minLength: 12, maxLength: 12 }),
    clinicianRoles: fc.array(fc.constantFrom(...CLINICIANS), { minLength: 1, maxLength: 5 }),
    caregivers: fc.array(fc.record({ paid: fc.boolean(), relationship: fc.constantFrom('daughter', 'son', 'spouse', 'friend', 'neighbor', 'niece-nephew') }), { minLength: 1, maxLength: 2 }),
    names: fc.array(name, { minLength: 10, maxLength: 10 }),
    telecoms: fc.array(fc.option(telecom, { nil: undefined }), { minLength: 10, maxLength: 10 }),
    patientName: name,
    patientIds: fc.uniqueArray(fc.record({ system, value: token }), { minLength: 1, maxLength: 3, selector: (i) => `${i.system}|${i.value}` }),
    birth: fc.integer({ min: Date.UTC(1920, 0, 1), max: Date.UTC(2000, 0, 1) }),
    gender: fc.constantFrom('male', 'female', 'other', 'unknown'),
    patientAddress: fc.option(fc.array(address, { minLength: 1, maxLength: 2 }), { nil: undefined }),
    patientTelecom: fc.option(telecom, { nil: undefined }),
    language: fc.option(fc.constantFrom('en-US', 'es', 'vi', 'zh-Hant'), { nil: undefined }),
    diagnoses: fc.uniqueArray(coding, { minLength: 1, maxLength: 4, selector: (c) => `${c.system}|${c.code}` }),
    disposition: fc.constantFrom('home', 'home-with-home-health', 'home-hospice'),
    complexity: fc.constantFrom('moderate', 'high'),
    status: fc.constantFrom('draft', 'active', 'on-hold', 'completed'),
    title: fc.option(text(60), { nil: undefined }),
    encounterId: fc.option(fc.record({ system, value: token }), { nil: undefined }),
    goalSpecs: fc.array(fc.record({ description: text(80), days: fc.integer({ min: 0, max: 60 }), measured: fc.boolean(), value: fc.integer({ min: 1, max: 500 }) }), { maxLength: 3 }),
    taskSpecs: fc.array(fc.record({ kind: fc.constantFrom('bathing', 'meals', 'mobility', 'medication-reminder', 'vital-signs-monitoring'), count: fc.integer({ min: 1, max: 4 }), period: fc.integer({ min: 1, max: 7 }), unit: fc.constantFrom('h', 'd', 'wk'), description: fc.option(text(60), { nil: undefined }), low: fc.integer({ min: 0, max: 50 }) }), { maxLength: 4 }),
    medSpecs: fc.array(fc.record({ code: fc.stringMatching(/^\d{4,7}$/), dosage: text(40), change: fc.constantFrom('new', 'changed', 'unchanged', 'stopped'), note: fc.option(text(40), { nil: undefined }) }), { maxLength: 4 }),
    followUpSpecs: fc.array(fc.record({ kind: fc.constantFrom('primary-care', 'specialist', 'lab', 'home-health-visit', 'telehealth'), hours: fc.integer({ min: 1, max: 24 * 30 }), minutes: fc.integer({ min: 5, max: 120 }), location: fc.option(fc.record({ name: text(30), address: fc.option(address, { nil: undefined }) }), { nil: undefined }) }), { maxLength: 4 }),
    referralSpecs: fc.array(fc.record({ services: fc.uniqueArray(fc.constantFrom('skilled-nursing', 'physical-therapy', 'home-health-aide', 'medical-social-services'), { minLength: 1, maxLength: 3 }), days: fc.integer({ min: 0, max: 5 }), note: fc.option(text(60), { nil: undefined }) }), { maxLength: 3 }),
    coverageSpecs: fc.array(fc.record({ kind: fc.constantFrom('medicare-part-a', 'medicaid-waiver', 'commercial', 'veterans'), relationship: fc.constantFrom('self', 'spouse', 'child'), memberId: token, subscriberId: fc.option(token, { nil: undefined }), endDays: fc.option(fc.integer({ min: 0, max: 400 }), { nil: undefined }) }), { maxLength: 2 }),
  })
  .map((g): TransitionPlan => {
    const ids = [...g.ids];
    const nextId = (): string => ids.shift() as string;
    const dischargedMs = g.admitted + g.stayDays * DAY;
    // The discharge day as the hospital wrote it (its own UTC offset), as the plan rules read it.
    const dischargeDay = dateTime(dischargedMs, g.tz).slice(0, 10);
    const day = (plus: number): string => new Date(Date.parse(`${dischargeDay}T00:00:00Z`) + plus * DAY).toISOString().slice(0, 10);
    const [hospital, agencyA, agencyB, agencyC, payer, practice] = g.orgs as [OrganizationRef, OrganizationRef, OrganizationRef, OrganizationRef, OrganizationRef, OrganizationRef];
    let person = 0;
    const member = (role: CareTeamRole, extra: Partial<CareTeamMember> = {}): CareTeamMember => {
      const i = person++;
      const telecomOf = g.telecoms[i % g.telecoms.length];
      return { id: nextId(), role, name: g.names[i % g.names.length] as PersonName, ...extra, ...(telecomOf ? { telecom: telecomOf } : {}) };
    };
    const npi = (): { system: string; value: string } => ({ system: 'http://hl7.org/fhir/sid/us-npi', value: npiFrom(g.npis[person] as string) });
    const planner = member('discharge-planner', { identifier: { system: 'https://riverside.example/staff', value: `staff-${person}` }, organization: hospital });
    const clinicians = ['care-coordinator' as const, ...g.clinicianRoles].map((role, i) => member(role, { identifier: npi(), ...(i % 2 === 0 ? { organization: practice } : {}) }));
    const caregivers = g.caregivers.map((c) => (c.paid ? member('paid-caregiver', { organization: agencyA }) : member('family-caregiver', { relationship: c.relationship as CareTeamMember['relationship'] })));
    const careTeam = [planner, ...clinicians, ...caregivers];

    const goals: CareGoal[] = g.goalSpecs.map((s) => ({
      id: nextId(),
      description: s.description,
      targetDate: day(s.days),
      ...(s.measured ? { measure: { code: { system: 'http://loinc.org', code: '29463-7' }, value: s.value, unit: 'kg', comparator: '<=' as const } } : {}),
    }));
    const caregiverTasks: CaregiverTask[] = g.taskSpecs.map((s, i) => ({
      id: nextId(),
      kind: s.kind,
      ...(s.description !== undefined ? { description: s.description } : {}),
      performer: (caregivers[i % caregivers.length] as CareTeamMember).id,
      frequency: { count: s.count, period: s.period, periodUnit: s.unit },
      ...(s.kind === 'vital-signs-monitoring' ? { thresholds: [{ vitalSign: 'heart-rate' as const, low: s.low + 40, high: s.low + 100, unit: VITAL_SIGNS['heart-rate'].units[0] as string }, { vitalSign: 'body-weight' as const, high: 120, unit: 'kg' }] } : {}),
      ...(goals.length > 0 ? { goals: [(goals[i % goals.length] as CareGoal).id] } : {}),
    }));
    const medications: DischargeMedication[] = g.medSpecs.map((s) => ({
      id: nextId(),
      medication: { system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: s.code },
      dosage: s.dosage,
      change: s.change,
      ...(s.note !== undefined ? { note: s.note } : {}),
    }));
    const followUps: FollowUp[] = g.followUpSpecs.map((s, i) => {
      const atHome = s.kind === 'home-health-visit' || s.kind === 'telehealth';
      const location = s.location && !atHome ? { name: s.location.name, ...(s.location.address ? { address: s.location.address } : {}) } : undefined;
      return {
        id: nextId(),
        kind: s.kind,
        with: (clinicians[i % clinicians.length] as CareTeamMember).id,
        ...(location ? { location } : {}),
        start: dateTime(dischargedMs + s.hours * 3_600_000, g.tz),
        minutesDuration: s.minutes,
      };
    });
    const agencies = [agencyA, agencyB, agencyC];
    const referrals: AgencyReferral[] = g.referralSpecs.map((s, i) => ({
      id: nextId(),
      agency: agencies[i] as OrganizationRef,
      services: s.services,
      requestedStartOfCare: day(s.days),
      ...(s.note !== undefined ? { note: s.note } : {}),
    }));
    const coverage: CoverageInfo[] = g.coverageSpecs.map((s, i) => ({
      id: nextId(),
      kind: s.kind,
      payer,
      planName: `Plan ${i + 1}`,
      memberId: s.memberId,
      ...(s.subscriberId !== undefined ? { subscriberId: s.subscriberId } : {}),
      relationship: s.relationship,
      period: { start: day(-365), ...(s.endDays !== undefined ? { end: day(s.endDays) } : {}) },
      order: i + 1,
    }));
    const plan: TransitionPlan = {
      identifier: { system: 'https://riverside.example/fhir/sid/transition-plan', value: nextId() },
      status: g.status,
      created: dateTime(dischargedMs - 3_600_000, g.tz),
      ...(g.title !== undefined ? { title: g.title } : {}),
      author: planner.id,
      patient: {
        identifiers: g.patientIds,
        name: g.patientName,
        birthDate: new Date(g.birth).toISOString().slice(0, 10),
        gender: g.gender,
        ...(g.patientAddress ? { address: g.patientAddress } : {}),
        ...(g.patientTelecom ? { telecom: g.patientTelecom } : {}),
        ...(g.language ? { preferredLanguage: g.language } : {}),
      },
      hospitalStay: {
        ...(g.encounterId ? { encounterIdentifier: g.encounterId } : {}),
        admittedAt: dateTime(g.admitted, g.tz),
        dischargedAt: dateTime(dischargedMs, g.tz),
        dischargingOrganization: hospital,
        dischargeDisposition: g.disposition === 'home-with-home-health' && referrals.length === 0 ? 'home' : g.disposition,
        principalDiagnosis: g.diagnoses[0] as PlanCoding,
        ...(g.diagnoses.length > 1 ? { secondaryDiagnoses: g.diagnoses.slice(1) } : {}),
      },
      tcmComplexity: g.complexity,
      careTeam,
    };
    if (goals.length > 0) plan.goals = goals;
    if (caregiverTasks.length > 0) plan.caregiverTasks = caregiverTasks;
    if (medications.length > 0) plan.medications = medications;
    if (followUps.length > 0) plan.followUps = followUps;
    if (referrals.length > 0) plan.referrals = referrals;
    if (coverage.length > 0) plan.coverage = coverage;
    return plan;
  });
