// Which home-care agencies can take a patient, ranked, each with why it matched and what is missing.
// Pure: the caller reads the agencies (Organization + HealthcareService) and passes the clock.
//
// How an agency describes itself, one HealthcareService per service line (providedBy = the agency):
// - services offered: HealthcareService.type, coded with carebridge's home-health-service CodeSystem
//   (the Medicare home health disciplines: the codes the plan's referrals request), or the SNOMED CT
//   code that CodeSystem names as the standard equivalent (PT, OT, SLP, MSS);
// - service area: HealthcareService.coverageArea, Locations (contained, physicalType "area") whose
//   address.postalCode is a ZIP code served (ZIP+4 compares on its first five digits);
// - accepted payers: extension ACCEPTED_PAYER_URL, valueIdentifier = the payer Organization's
//   identifier, as the patient's Coverage.payor carries it;
// - capacity: HealthcareService.notAvailable with description and a `during` period that covers
//   now (no `during`: until further notice) = not accepting new referrals; `active: false` = closed.
import type { Coding, HealthcareService, Identifier, Location, Organization } from '@medplum/fhirtypes';
import type { HomeHealthService } from '../model/transition-plan.ts';
import { CAREBRIDGE_BASE, HOME_HEALTH_SERVICES, SYSTEMS } from '../model/terminology.ts';

export const ACCEPTED_PAYER_URL = `${CAREBRIDGE_BASE}/StructureDefinition/accepted-payer`;

/** Options answered at most: a county has a few dozen certified agencies. */
export const MAX_OPTIONS = 50;

export type Criterion = 'service' | 'service-area' | 'payer' | 'capacity';

export interface Reason {
  criterion: Criterion;
  /** The requested service this is about (per-service criteria). */
  service?: HomeHealthService;
  text: string;
  /** The HealthcareService that answers it, "HealthcareService/id". */
  healthcareService?: string;
}

export interface AgencyOption {
  rank: number;
  organization: string;
  identifier?: { system?: string; value?: string };
  name?: string;
  /** Every requested service offered in the patient's ZIP, for a payer of theirs, with capacity. */
  eligible: boolean;
  matched: Reason[];
  missing: Reason[];
}

export interface PayerIdentifier {
  system?: string;
  value?: string;
  /** The payer's name, for the reasons' text. */
  display?: string;
}

export interface MatchInput {
  services: readonly HomeHealthService[];
  /** The patient's home ZIP code; undefined when the plan has no address. */
  zip?: string;
  /** Identifiers of the payers of the patient's active coverage. */
  payers: readonly PayerIdentifier[];
  agencies: readonly { organization: Organization; services: readonly HealthcareService[] }[];
  now: Date;
}

/** carebridge code and standard (SNOMED CT) code → the home health service. */
const SERVICE_BY_CODING = new Map<string, HomeHealthService>(
  (Object.entries(HOME_HEALTH_SERVICES) as [HomeHealthService, (typeof HOME_HEALTH_SERVICES)[HomeHealthService]][]).flatMap(([code, concept]) => [
    [`${SYSTEMS.homeHealthService}|${code}`, code] as const,
    ...(concept.standard ? [[`${concept.standard.system}|${concept.standard.code}`, code] as const] : []),
  ]),
);

export function serviceOf(coding: Coding): HomeHealthService | undefined {
  return SERVICE_BY_CODING.get(`${coding.system ?? ''}|${coding.code ?? ''}`);
}

export function servicesOffered(service: HealthcareService): Set<HomeHealthService> {
  return new Set((service.type ?? []).flatMap((cc) => (cc.coding ?? []).map(serviceOf)).filter((s): s is HomeHealthService => s !== undefined));
}

export function zip5(postalCode: string | undefined): string | undefined {
  const match = /^\s*(\d{5})(?:-?\d{4})?\s*$/.exec(postalCode ?? '');
  return match?.[1];
}

/** ZIP codes of the service's coverage area (its contained Locations). */
export function zipsServed(service: HealthcareService): Set<string> {
  const contained = new Map((service.contained ?? []).filter((r): r is Location => r.resourceType === 'Location').map((l) => [`#${l.id ?? ''}`, l]));
  return new Set((service.coverageArea ?? []).map((ref) => zip5(contained.get(ref.reference ?? '')?.address?.postalCode)).filter((z): z is string => z !== undefined));
}

export function acceptedPayers(service: HealthcareService): Identifier[] {
  return (service.extension ?? []).filter((e) => e.url === ACCEPTED_PAYER_URL && e.valueIdentifier).map((e) => e.valueIdentifier as Identifier);
}

/** Why the service takes no new referrals now, or undefined when it does. */
export function capacityClosed(service: HealthcareService, now: Date): string | undefined {
  if (service.active === false) {
    return 'service inactive';
  }
  const at = now.getTime();
  const closed = (service.notAvailable ?? []).find((n) => {
    const start = n.during?.start ? Date.parse(n.during.start) : -Infinity;
    const end = n.during?.end ? Date.parse(n.during.end) : Infinity;
    return start <= at && at <= end;
  });
  return closed ? closed.description || 'not accepting new referrals' : undefined;
}

const sameIdentifier = (a: PayerIdentifier, b: Identifier): boolean => a.value !== undefined && a.system === b.system && a.value === b.value;

interface ServiceCheck {
  service: HomeHealthService;
  by?: HealthcareService;
  zip: boolean;
  payer?: PayerIdentifier;
  closed?: string;
}

/** The agency's best HealthcareService for one requested service: the one meeting most criteria. */
function checkService(requested: HomeHealthService, input: MatchInput, services: readonly HealthcareService[]): ServiceCheck {
  let best: ServiceCheck = { service: requested, zip: false };
  let bestScore = -1;
  for (const hs of services) {
    if (!servicesOffered(hs).has(requested)) {
      continue;
    }
    const zip = input.zip !== undefined && zipsServed(hs).has(input.zip);
    const accepted = acceptedPayers(hs);
    const payer = input.payers.find((p) => accepted.some((a) => sameIdentifier(p, a)));
    const closed = capacityClosed(hs, input.now);
    const score = Number(zip) + Number(payer !== undefined) + Number(closed === undefined);
    if (score > bestScore || (score === bestScore && (hs.id ?? '') < (best.by?.id ?? ''))) {
      best = { service: requested, by: hs, zip, payer, closed };
      bestScore = score;
    }
  }
  return best;
}

function reasonsOf(check: ServiceCheck, input: MatchInput): { matched: Reason[]; missing: Reason[] } {
  const display = HOME_HEALTH_SERVICES[check.service].display;
  const service = check.service;
  if (!check.by) {
    return { matched: [], missing: [{ criterion: 'service', service, text: `does not offer ${display}` }] };
  }
  const healthcareService = `HealthcareService/${check.by.id ?? ''}`;
  const matched: Reason[] = [{ criterion: 'service', service, text: `offers ${display}`, healthcareService }];
  const missing: Reason[] = [];
  if (check.zip) {
    matched.push({ criterion: 'service-area', service, text: `${display}: serves ZIP ${input.zip ?? ''}`, healthcareService });
  } else {
    missing.push({ criterion: 'service-area', service, text: input.zip === undefined ? `${display}: the patient's ZIP code is unknown` : `${display}: does not serve ZIP ${input.zip}`, healthcareService });
  }
  if (check.payer) {
    matched.push({ criterion: 'payer', service, text: `${display}: accepts ${check.payer.display ?? check.payer.value ?? 'the payer'}`, healthcareService });
  } else {
    missing.push({ criterion: 'payer', service, text: input.payers.length === 0 ? `${display}: the patient has no active coverage` : `${display}: accepts none of the patient's payers`, healthcareService });
  }
  if (check.closed === undefined) {
    matched.push({ criterion: 'capacity', service, text: `${display}: accepting new referrals`, healthcareService });
  } else {
    missing.push({ criterion: 'capacity', service, text: `${display}: ${check.closed}`, healthcareService });
  }
  return { matched, missing };
}

/**
 * Ranks every agency that offers at least one requested service: eligible ones first, then fewer
 * missing criteria, more matched ones, name, id. Agencies offering none of them are left out.
 */
export function matchAgencies(input: MatchInput): AgencyOption[] {
  const services = [...new Set(input.services)];
  const options: Omit<AgencyOption, 'rank'>[] = [];
  for (const { organization, services: offered } of input.agencies) {
    const checks = services.map((s) => checkService(s, input, offered));
    if (!checks.some((c) => c.by)) {
      continue;
    }
    const reasons = checks.map((c) => reasonsOf(c, input));
    const missing = reasons.flatMap((r) => r.missing);
    const identifier = organization.identifier?.[0];
    options.push({
      organization: `Organization/${organization.id ?? ''}`,
      ...(identifier ? { identifier: { system: identifier.system, value: identifier.value } } : {}),
      name: organization.name,
      eligible: missing.length === 0,
      matched: reasons.flatMap((r) => r.matched),
      missing,
    });
  }
  options.sort(
    (a, b) =>
      Number(b.eligible) - Number(a.eligible) ||
      a.missing.length - b.missing.length ||
      b.matched.length - a.matched.length ||
      (a.name ?? '').localeCompare(b.name ?? '') ||
      (a.organization < b.organization ? -1 : a.organization > b.organization ? 1 : 0),
  );
  return options.slice(0, MAX_OPTIONS).map((o, i) => ({ rank: i + 1, ...o }));
}
