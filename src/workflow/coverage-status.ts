// Coverage status for the case manager (pure): from the patient's Coverage resources, the freshest
// CoverageEligibilityResponse and the discharge day, what a case manager asks — covered on the
// discharge day and through the 30-day window, by which payer and plan, which coverage is primary,
// home health covered, prior authorization needed and on file — and what is missing, as findings
// of one line each. No I/O: the caller reads the resources and says what day it is.
//
// Days are calendar days as written (readmission.ts: the discharge day is day 1 of the window, its
// last day the discharge day + 29); period boundaries are inclusive, a missing start or end is open.
// Member identity follows US Core Coverage: identifier of type MB (v2-0203), else subscriberId.
import type { CodeableConcept, Coverage, CoverageEligibilityResponse, CoverageEligibilityResponseInsurance, Reference } from '@medplum/fhirtypes';
import { SYSTEMS } from '../model/terminology.ts';
import { READMISSION_WINDOW_DAYS, calendarDay } from './readmission.ts';

/**
 * Benefit categories that mean home health, in CoverageEligibilityResponse.insurance.item.category
 * (or productOrService): X12 service type codes 42 "Home Health Care" and 44 "Home Health Visits"
 * (code list 1365, as Da Vinci CRD and CARIN write them), also accepted in the R4 example
 * CodeSystem ex-benefitcategory, which takes its codes from the same X12 list.
 */
export const HOME_HEALTH_CATEGORIES: readonly { system: string; code: string }[] = [
  { system: 'https://codesystem.x12.org/005010/1365', code: '42' },
  { system: 'https://codesystem.x12.org/005010/1365', code: '44' },
  { system: 'http://terminology.hl7.org/CodeSystem/ex-benefitcategory', code: '42' },
  { system: 'http://terminology.hl7.org/CodeSystem/ex-benefitcategory', code: '44' },
];

/** An eligibility answer older than this is reported stale: payers change plans monthly, and a discharge is a moment to ask again. */
export const ELIGIBILITY_STALE_DAYS = 7;

export type FindingSeverity = 'information' | 'warning' | 'error';

export type FindingCode =
  | 'no-discharge-date'
  | 'no-active-coverage'
  | 'covered-on-discharge'
  | 'not-covered-on-discharge'
  | 'covered-through-window'
  | 'period-ends-in-window'
  | 'starts-in-window'
  | 'primary'
  | 'primary-unclear'
  | 'member-id-missing'
  | 'subscriber-relationship-missing'
  | 'eligibility-not-checked'
  | 'eligibility-age'
  | 'eligibility-stale'
  | 'eligibility-error'
  | 'not-inforce'
  | 'inforce'
  | 'home-health-covered'
  | 'home-health-not-covered'
  | 'home-health-unknown'
  | 'prior-auth-not-required'
  | 'prior-auth-on-file'
  | 'prior-auth-missing';

export interface Finding {
  code: FindingCode;
  severity: FindingSeverity;
  text: string;
  /** "Coverage/id" the finding is about, when it is about one. */
  coverage?: string;
}

export interface CoverageStatusInput {
  coverages: readonly Coverage[];
  /** Stored responses of the patient (any order); the freshest about the primary coverage counts. */
  eligibility: readonly CoverageEligibilityResponse[];
  /** The discharge date or dateTime (CarePlan.period.start); undefined: the window starts today. */
  dischargedAt?: string;
  /** Now (injected clock). */
  now: Date;
}

export interface CoverageSummary {
  reference: string;
  payer?: Reference;
  plan?: string;
  memberId?: string;
  order?: number;
  period: { start?: string; end?: string };
}

export interface CoverageStatus {
  windowStart: string;
  windowEnd: string;
  dischargeKnown: boolean;
  coveredOnDischarge: boolean;
  coveredThroughWindow: boolean;
  /** The coverage that pays first (lowest order among those active on the discharge day, or later in the window). */
  primary?: CoverageSummary;
  /** Whether `primary` is primary by its order (1, or the lowest order among several), not by being the only one. */
  primaryByOrder: boolean;
  coverages: CoverageSummary[];
  eligibility?: { reference: string; created?: string; ageDays?: number };
  homeHealthCovered?: boolean;
  priorAuthRequired?: boolean;
  priorAuthRef?: string;
  findings: Finding[];
}

const DAY_MS = 86_400_000;

function dayNumber(day: string): number {
  return Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8, 10))) / DAY_MS;
}

function dayOf(number: number): string {
  return new Date(number * DAY_MS).toISOString().slice(0, 10);
}

const refOf = (coverage: Coverage): string => `Coverage/${coverage.id ?? ''}`;

/** First and last day of a coverage period, as day numbers (open ends: ±Infinity). */
function spanOf(coverage: Coverage): { from: number; to: number } {
  const start = calendarDay(coverage.period?.start);
  const end = calendarDay(coverage.period?.end);
  return { from: start ? dayNumber(start) : -Infinity, to: end ? dayNumber(end) : Infinity };
}

export function memberIdOf(coverage: Coverage): string | undefined {
  const mb = coverage.identifier?.find((i) => i.type?.coding?.some((c) => c.system === SYSTEMS.v2IdentifierType && c.code === 'MB') && i.value);
  return mb?.value ?? (coverage.subscriberId || undefined);
}

function planOf(coverage: Coverage): string | undefined {
  const plan = coverage.class?.find((c) => c.type.coding?.some((t) => t.system === SYSTEMS.coverageClass && t.code === 'plan'));
  return plan ? (plan.name ?? plan.value) : undefined;
}

function payerName(coverage: Coverage): string {
  return coverage.payor[0]?.display ?? coverage.payor[0]?.reference ?? 'an unnamed payer';
}

function describe(coverage: Coverage): string {
  const plan = planOf(coverage);
  return `${payerName(coverage)}${plan ? `, plan ${plan}` : ''} (${refOf(coverage)})`;
}

function summaryOf(coverage: Coverage): CoverageSummary {
  return {
    reference: refOf(coverage),
    payer: coverage.payor[0],
    plan: planOf(coverage),
    memberId: memberIdOf(coverage),
    order: coverage.order,
    period: { start: coverage.period?.start, end: coverage.period?.end },
  };
}

function hasCode(concepts: readonly (CodeableConcept | undefined)[], codes: readonly { system: string; code: string }[]): boolean {
  return concepts.some((cc) => cc?.coding?.some((c) => codes.some((k) => k.system === c.system && k.code === c.code)));
}

/** The insurance entry of a response about `coverage`. */
function insuranceFor(response: CoverageEligibilityResponse, coverage: string): CoverageEligibilityResponseInsurance | undefined {
  return response.insurance?.find((i) => i.coverage.reference === coverage);
}

/** When the payer answered; carebridge's receipt (meta.lastUpdated) when its `created` is no instant. */
function answeredAt(response: CoverageEligibilityResponse): number {
  const created = Date.parse(response.created);
  return Number.isFinite(created) ? created : Date.parse(response.meta?.lastUpdated ?? '') || 0;
}

/** Among coverages, the primary: the lowest order (1 = primary); unclear when orders are missing or tied. */
function choosePrimary(candidates: readonly Coverage[]): { primary?: Coverage; byOrder: boolean; unclear: boolean } {
  if (candidates.length === 0) {
    return { byOrder: false, unclear: false };
  }
  const sorted = [...candidates].sort((a, b) => (a.order ?? Infinity) - (b.order ?? Infinity) || (refOf(a) < refOf(b) ? -1 : 1));
  const first = sorted[0] as Coverage;
  if (sorted.length === 1) {
    return { primary: first, byOrder: first.order === 1, unclear: false };
  }
  const second = sorted[1] as Coverage;
  const unclear = first.order === undefined || first.order === second.order;
  return { primary: first, byOrder: !unclear, unclear };
}

export function coverageStatus(input: CoverageStatusInput): CoverageStatus {
  const findings: Finding[] = [];
  const add = (severity: FindingSeverity, code: FindingCode, text: string, coverage?: Coverage): void => {
    findings.push({ code, severity, text, ...(coverage ? { coverage: refOf(coverage) } : {}) });
  };
  const today = input.now.toISOString().slice(0, 10);
  const discharge = calendarDay(input.dischargedAt);
  if (!discharge) {
    add('warning', 'no-discharge-date', `No discharge date is known for this patient: the 30-day window is counted from today, ${today}`);
  }
  const first = dayNumber(discharge ?? today);
  const last = first + READMISSION_WINDOW_DAYS - 1;
  const windowStart = dayOf(first);
  const windowEnd = dayOf(last);

  const active = input.coverages.filter((c) => c.status === 'active');
  const onDischarge = active.filter((c) => spanOf(c).from <= first && first <= spanOf(c).to);
  const inWindow = active.filter((c) => spanOf(c).from <= last && spanOf(c).to >= first);
  const status: CoverageStatus = {
    windowStart,
    windowEnd,
    dischargeKnown: discharge !== undefined,
    coveredOnDischarge: onDischarge.length > 0,
    coveredThroughWindow: false,
    primaryByOrder: false,
    coverages: inWindow.map(summaryOf),
    findings,
  };

  if (inWindow.length === 0) {
    add('error', 'no-active-coverage', `No active coverage on ${windowStart} or at any time in the 30-day window through ${windowEnd}`);
    return status;
  }
  // Primary is about which payer pays first, not whether the discharge day is covered (that is
  // not-covered-on-discharge): with none active that day, it is chosen among those starting later
  // in the window — the coverage eligibility is checked against. Unclear only when orders do not decide.
  const { primary, byOrder, unclear } = choosePrimary(onDischarge.length > 0 ? onDischarge : inWindow);
  status.primary = primary ? summaryOf(primary) : undefined;
  status.primaryByOrder = byOrder;

  // Covered on the discharge day, and every day of the window: the union of the active periods.
  if (onDischarge.length > 0 && primary) {
    add('information', 'covered-on-discharge', `Covered on ${windowStart}${discharge ? ' (discharge day)' : ' (today)'} by ${describe(primary)}`, primary);
  } else {
    add('error', 'not-covered-on-discharge', `No active coverage on ${windowStart}${discharge ? ', the discharge day' : ''}`);
  }
  let day = first;
  while (day <= last) {
    const through = inWindow.filter((c) => spanOf(c).from <= day && spanOf(c).to >= day).reduce((max, c) => Math.max(max, spanOf(c).to), -Infinity);
    if (through === -Infinity) {
      break;
    }
    day = through + 1;
  }
  status.coveredThroughWindow = day > last;
  if (status.coveredThroughWindow) {
    add('information', 'covered-through-window', `Covered through the whole 30-day window, ${windowStart} to ${windowEnd}`);
  }
  for (const coverage of inWindow) {
    const { from, to } = spanOf(coverage);
    if (to >= first && to < last) {
      const continued = status.coveredThroughWindow;
      add(continued ? 'warning' : 'error', 'period-ends-in-window', `${describe(coverage)} ends ${dayOf(to)}, day ${to - first + 1} of the 30-day window${continued ? '; other coverage continues' : `: not covered from ${dayOf(to + 1)}`}`, coverage);
    }
    if (from > first) {
      add('warning', 'starts-in-window', `${describe(coverage)} starts ${dayOf(from)}, day ${from - first + 1} of the 30-day window`, coverage);
    }
  }

  if (primary) {
    if (unclear) {
      add('warning', 'primary-unclear', `Several coverages apply and their order does not say which pays first; taken as primary: ${describe(primary)}`, primary);
    } else {
      add('information', 'primary', `Primary coverage: ${describe(primary)}${primary.order !== undefined ? `, order ${primary.order}` : ''}`, primary);
    }
  }
  for (const coverage of inWindow) {
    if (!memberIdOf(coverage)) {
      add('error', 'member-id-missing', `${describe(coverage)} has no member id (identifier of type MB, or subscriberId)`, coverage);
    }
    if (!coverage.relationship?.coding?.some((c) => c.code)) {
      add('warning', 'subscriber-relationship-missing', `${describe(coverage)} does not say the beneficiary's relationship to the subscriber`, coverage);
    }
  }
  if (primary) {
    eligibilityFindings(status, primary, input, add);
  }
  return status;
}

function eligibilityFindings(status: CoverageStatus, primary: Coverage, input: CoverageStatusInput, add: (severity: FindingSeverity, code: FindingCode, text: string, coverage?: Coverage) => void): void {
  const reference = refOf(primary);
  const response = input.eligibility.filter((r) => insuranceFor(r, reference) || r.insurance === undefined).sort((a, b) => answeredAt(b) - answeredAt(a) || (b.meta?.lastUpdated ?? '').localeCompare(a.meta?.lastUpdated ?? ''))[0];
  if (!response) {
    add('warning', 'eligibility-not-checked', `Eligibility of ${describe(primary)} has not been checked with the payer`, primary);
    return;
  }
  const at = answeredAt(response);
  const ageDays = Math.max(0, Math.floor((input.now.getTime() - at) / DAY_MS));
  const checkedOn = new Date(at).toISOString().slice(0, 10);
  status.eligibility = { reference: `CoverageEligibilityResponse/${response.id ?? ''}`, created: response.created, ageDays };
  if (ageDays > ELIGIBILITY_STALE_DAYS) {
    add('warning', 'eligibility-stale', `Eligibility was last checked ${ageDays} days ago (${checkedOn}), more than ${ELIGIBILITY_STALE_DAYS} days: check again`, primary);
  } else {
    add('information', 'eligibility-age', `Eligibility checked ${ageDays === 0 ? 'today' : ageDays === 1 ? '1 day ago' : `${ageDays} days ago`} (${checkedOn})`, primary);
  }
  const insurance = insuranceFor(response, reference);
  if (response.outcome === 'error' || response.error?.length) {
    const why = response.error?.[0]?.code.text ?? response.error?.[0]?.code.coding?.[0]?.display ?? response.disposition ?? 'no reason given';
    add('error', 'eligibility-error', `The payer could not answer the eligibility request: ${why}`, primary);
  }
  if (!insurance) {
    return;
  }
  if (insurance.inforce === false) {
    add('error', 'not-inforce', `The payer says ${describe(primary)} is not in force`, primary);
  } else if (insurance.inforce === true) {
    add('information', 'inforce', `The payer confirms ${describe(primary)} is in force`, primary);
  }
  const items = (insurance.item ?? []).filter((item) => hasCode([item.category, item.productOrService], HOME_HEALTH_CATEGORIES));
  if (items.length === 0) {
    add('warning', 'home-health-unknown', 'The payer\'s answer says nothing about home health (benefit category X12 42 or 44)', primary);
  } else if (items.every((item) => item.excluded === true)) {
    status.homeHealthCovered = false;
    add('error', 'home-health-not-covered', `Home health is excluded from ${describe(primary)}`, primary);
  } else {
    status.homeHealthCovered = true;
    add('information', 'home-health-covered', `Home health is a benefit of ${describe(primary)}`, primary);
  }
  const covered = items.filter((item) => item.excluded !== true);
  status.priorAuthRequired = covered.some((item) => item.authorizationRequired === true);
  status.priorAuthRef = response.preAuthRef || undefined;
  if (covered.length === 0) {
    status.priorAuthRequired = undefined;
  } else if (!status.priorAuthRequired) {
    add('information', 'prior-auth-not-required', 'Home health needs no prior authorization', primary);
  } else if (status.priorAuthRef) {
    add('information', 'prior-auth-on-file', `Home health needs prior authorization; authorization ${status.priorAuthRef} is on file`, primary);
  } else {
    add('error', 'prior-auth-missing', 'Home health needs prior authorization and none is on file', primary);
  }
}
