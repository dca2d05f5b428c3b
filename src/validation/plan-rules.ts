// Rules a JSON Schema cannot say: references between the items of a plan, the order of the
// dates of a transition, and what each role needs. Run only on a plan whose shape is right.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { OrganizationRef, TransitionPlan } from '../model/transition-plan.ts';
import { VITAL_SIGNS } from '../model/vital-signs.ts';
import { SYSTEMS } from '../model/terminology.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { issue, pointerToPath } from './outcome.ts';

type Report = (pointer: string, text: string, severity?: 'error' | 'warning', code?: OperationOutcomeIssue['code']) => void;

const CLINICIAN_ROLES = new Set([
  'care-coordinator',
  'primary-care-provider',
  'home-health-nurse',
  'physical-therapist',
  'occupational-therapist',
  'speech-therapist',
  'specialist',
  'social-worker',
  'case-manager',
]);

const CAREGIVER_ROLES = new Set(['family-caregiver', 'paid-caregiver', 'home-health-nurse']);

function instant(dateTime: string): number {
  return Date.parse(dateTime);
}

/** The calendar date a date-time falls on where it was written (its own offset). */
function localDate(dateTime: string): string {
  return dateTime.slice(0, 10);
}

function checkUniqueIds(plan: TransitionPlan, report: Report): void {
  const lists = ['careTeam', 'goals', 'caregiverTasks', 'medications', 'followUps', 'referrals', 'coverage'] as const;
  for (const list of lists) {
    const seen = new Map<string, number>();
    (plan[list] ?? []).forEach((item, i) => {
      const first = seen.get(item.id);
      if (first !== undefined) {
        report(`/${list}/${i}/id`, `id "${item.id}" is already used by /${list}/${first}`);
      } else {
        seen.set(item.id, i);
      }
    });
  }
}

function checkOrganizations(plan: TransitionPlan, report: Report): void {
  // One Organization resource per identifier: every mention must describe the same organization.
  const seen = new Map<string, { org: OrganizationRef; pointer: string }>();
  const visit = (org: OrganizationRef | undefined, pointer: string): void => {
    if (!org) {
      return;
    }
    const key = `${org.identifier.system}|${org.identifier.value}`;
    const first = seen.get(key);
    if (!first) {
      seen.set(key, { org, pointer });
    } else if (canonicalJson(first.org) !== canonicalJson(org)) {
      report(pointer, `organization with the same identifier as ${first.pointer} has a different name or telecom`);
    }
  };
  visit(plan.hospitalStay.dischargingOrganization, '/hospitalStay/dischargingOrganization');
  plan.careTeam.forEach((m, i) => visit(m.organization, `/careTeam/${i}/organization`));
  (plan.referrals ?? []).forEach((r, i) => visit(r.agency, `/referrals/${i}/agency`));
  (plan.coverage ?? []).forEach((c, i) => visit(c.payer, `/coverage/${i}/payer`));
}

const NPI_SYSTEM = SYSTEMS.npi;

/** The NPI check digit of nine digits: Luhn over "80840" + them (CMS). */
export function npiCheckDigit(nine: string): number {
  const digits = `80840${nine}`;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) {
        d -= 9;
      }
    }
    sum += d;
  }
  return (10 - (sum % 10)) % 10;
}

/** NPI: 10 digits, the last of which is the check digit of the first nine. */
export function isValidNpi(value: string): boolean {
  return /^\d{10}$/.test(value) && npiCheckDigit(value.slice(0, 9)) === Number(value[9]);
}

function checkNpis(plan: TransitionPlan, report: Report): void {
  const check = (id: { system: string; value: string } | undefined, pointer: string): void => {
    if (id?.system === NPI_SYSTEM && !isValidNpi(id.value)) {
      report(`${pointer}/value`, `"${id.value}" is not a valid NPI (10 digits with a correct check digit)`, 'error', 'value');
    }
  };
  check(plan.hospitalStay.dischargingOrganization.identifier, '/hospitalStay/dischargingOrganization/identifier');
  plan.careTeam.forEach((m, i) => {
    check(m.identifier, `/careTeam/${i}/identifier`);
    check(m.organization?.identifier, `/careTeam/${i}/organization/identifier`);
  });
  (plan.referrals ?? []).forEach((r, i) => check(r.agency.identifier, `/referrals/${i}/agency/identifier`));
  (plan.coverage ?? []).forEach((c, i) => check(c.payer.identifier, `/coverage/${i}/payer/identifier`));
}

function checkCareTeam(plan: TransitionPlan, report: Report): void {
  const identifiers = new Map<string, number>();
  plan.careTeam.forEach((member, i) => {
    if (member.role === 'family-caregiver' && !member.relationship) {
      report(`/careTeam/${i}/relationship`, 'a family caregiver needs their relationship to the patient', 'error', 'required');
    }
    if (member.role !== 'family-caregiver' && member.relationship) {
      report(`/careTeam/${i}/relationship`, `relationship is only for a family caregiver, not a ${member.role}`);
    }
    if (member.identifier) {
      const key = `${member.identifier.system}|${member.identifier.value}`;
      const first = identifiers.get(key);
      if (first !== undefined) {
        report(`/careTeam/${i}/identifier`, `the same person is already on the care team as /careTeam/${first}`);
      } else {
        identifiers.set(key, i);
      }
    }
  });
  const author = plan.careTeam.find((m) => m.id === plan.author);
  if (!author) {
    report('/author', `author "${plan.author}" is not a care team member id`);
  } else if (author.role !== 'discharge-planner') {
    report('/author', `the author must be the discharge planner, but "${plan.author}" is a ${author.role}`);
  }
  if (!plan.careTeam.some((m) => m.role === 'care-coordinator')) {
    report('/careTeam', 'no care coordinator on the care team: nobody owns the transitional-care deadlines', 'warning');
  }
}

function checkHospitalStay(plan: TransitionPlan, report: Report): void {
  const stay = plan.hospitalStay;
  if (instant(stay.dischargedAt) <= instant(stay.admittedAt)) {
    report('/hospitalStay/dischargedAt', 'discharge must be after admission');
  }
  if (plan.patient.birthDate > localDate(stay.admittedAt)) {
    report('/patient/birthDate', 'birth date is after the admission');
  }
  const codes = new Set<string>();
  [stay.principalDiagnosis, ...(stay.secondaryDiagnoses ?? [])].forEach((dx, i) => {
    const key = `${dx.system}|${dx.code}`;
    if (codes.has(key)) {
      report(i === 0 ? '/hospitalStay/principalDiagnosis' : `/hospitalStay/secondaryDiagnoses/${i - 1}`, 'diagnosis is listed twice');
    }
    codes.add(key);
  });
  if (stay.dischargeDisposition === 'home-with-home-health' && (plan.referrals ?? []).length === 0) {
    report('/referrals', 'discharged home with home health, but no agency is referred yet', 'warning');
  }
}

function checkTasks(plan: TransitionPlan, report: Report): void {
  const members = new Map(plan.careTeam.map((m) => [m.id, m]));
  const goals = new Set((plan.goals ?? []).map((g) => g.id));
  (plan.caregiverTasks ?? []).forEach((task, i) => {
    const performer = members.get(task.performer);
    if (!performer) {
      report(`/caregiverTasks/${i}/performer`, `performer "${task.performer}" is not a care team member id`);
    } else if (!CAREGIVER_ROLES.has(performer.role)) {
      report(`/caregiverTasks/${i}/performer`, `a ${performer.role} does not perform caregiver tasks`, 'warning');
    }
    (task.goals ?? []).forEach((goal, g) => {
      if (!goals.has(goal)) {
        report(`/caregiverTasks/${i}/goals/${g}`, `goal "${goal}" is not a goal id of this plan`);
      }
    });
    if (task.thresholds && task.kind !== 'vital-signs-monitoring') {
      report(`/caregiverTasks/${i}/thresholds`, 'report thresholds belong to a vital-signs-monitoring task');
    }
    (task.thresholds ?? []).forEach((t, k) => {
      const at = `/caregiverTasks/${i}/thresholds/${k}`;
      if (t.low === undefined && t.high === undefined) {
        report(at, 'a threshold needs low, high or both');
      }
      if (t.low !== undefined && t.high !== undefined && t.low >= t.high) {
        report(`${at}/low`, 'low must be below high');
      }
      const units = VITAL_SIGNS[t.vitalSign].units;
      if (!units.includes(t.unit)) {
        report(`${at}/unit`, `${t.vitalSign} is measured in ${units.join(' or ')}, not "${t.unit}"`);
      }
    });
  });
}

function checkDates(plan: TransitionPlan, report: Report): void {
  const discharged = instant(plan.hospitalStay.dischargedAt);
  const dischargeDay = localDate(plan.hospitalStay.dischargedAt);
  const members = new Map(plan.careTeam.map((m) => [m.id, m]));
  (plan.followUps ?? []).forEach((f, i) => {
    if (instant(f.start) < discharged) {
      report(`/followUps/${i}/start`, 'follow-up is before the discharge');
    }
    const clinician = members.get(f.with);
    if (!clinician) {
      report(`/followUps/${i}/with`, `"${f.with}" is not a care team member id`);
    } else if (!CLINICIAN_ROLES.has(clinician.role)) {
      report(`/followUps/${i}/with`, `a follow-up is with a clinician, not a ${clinician.role}`);
    }
    if (f.location && (f.kind === 'home-health-visit' || f.kind === 'telehealth')) {
      report(`/followUps/${i}/location`, `a ${f.kind} takes place at home: leave location out`);
    }
  });
  (plan.goals ?? []).forEach((g, i) => {
    if (g.targetDate < dischargeDay) {
      report(`/goals/${i}/targetDate`, 'goal target date is before the discharge');
    }
  });
  (plan.referrals ?? []).forEach((r, i) => {
    if (r.requestedStartOfCare < dischargeDay) {
      report(`/referrals/${i}/requestedStartOfCare`, 'start of care is before the discharge');
    }
  });
  (plan.coverage ?? []).forEach((c, i) => {
    if (c.period.end !== undefined && c.period.end < c.period.start) {
      report(`/coverage/${i}/period/end`, 'coverage ends before it starts');
    }
  });
}

function checkReferralsAndCoverage(plan: TransitionPlan, report: Report): void {
  const agencies = new Map<string, number>();
  (plan.referrals ?? []).forEach((r, i) => {
    const key = `${r.agency.identifier.system}|${r.agency.identifier.value}`;
    const first = agencies.get(key);
    if (first !== undefined) {
      report(`/referrals/${i}/agency`, `the same agency is already referred by /referrals/${first}`);
    }
    agencies.set(key, i);
  });
  const orders = new Map<number, number>();
  (plan.coverage ?? []).forEach((c, i) => {
    if (c.order === undefined) {
      return;
    }
    const first = orders.get(c.order);
    if (first !== undefined) {
      report(`/coverage/${i}/order`, `coverage order ${c.order} is already used by /coverage/${first}`);
    }
    orders.set(c.order, i);
  });
  const seen = new Set<string>();
  plan.patient.identifiers.forEach((id, i) => {
    const key = `${id.system}|${id.value}`;
    if (seen.has(key)) {
      report(`/patient/identifiers/${i}`, 'identifier is listed twice');
    }
    seen.add(key);
  });
}

/** Cross-item rules of a schema-valid plan. */
export function checkPlanRules(plan: TransitionPlan): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const report: Report = (pointer, text, severity = 'error', code = 'invariant') => {
    issues.push(issue(severity, code, `${pointer}: ${text}`, pointerToPath('TransitionPlan', pointer), pointer));
  };
  checkUniqueIds(plan, report);
  checkOrganizations(plan, report);
  checkCareTeam(plan, report);
  checkNpis(plan, report);
  checkHospitalStay(plan, report);
  checkTasks(plan, report);
  checkDates(plan, report);
  checkReferralsAndCoverage(plan, report);
  return issues;
}
