// GET /transitions/{id}/agency-options: the agencies that can take the patient, ranked
// (workflow/agency-matching.ts), from the transition's referrals (requested services), the
// patient's home ZIP and active Coverage, and every active HealthcareService in the directory.
// POST /transitions/{id}/agency-choice: the discharge planner's choice, recorded as a Provenance
// (target: the CarePlan; who, when; every option shown, in the order shown; the chosen agency),
// so that patient choice is auditable. Provenance is carebridge's own record: nobody writes it
// through /fhir, only admins read it there, it never leaves carebridge (outbox), and
// GET /transitions/{id}/agency-choice reads a transition's choices back to who may see the transition.
import { OperationOutcomeError, badRequest } from '@medplum/core';
import type { CarePlan, Coverage, HealthcareService, Organization, Patient, Provenance, Reference, Resource, ServiceRequest } from '@medplum/fhirtypes';
import { forbiddenError } from '../../auth/access/policy.ts';
import type { Principal } from '../../auth/principal.ts';
import { CAREBRIDGE_BASE, CODE_SYSTEM_BASE, HOME_HEALTH_SERVICES, SYSTEMS } from '../../model/terminology.ts';
import type { HomeHealthService } from '../../model/transition-plan.ts';
import type { StoreTransaction } from '../../store/fhir-store.ts';
import type { AgencyOption, PayerIdentifier } from '../../workflow/agency-matching.ts';
import { matchAgencies, zip5 } from '../../workflow/agency-matching.ts';
import { validateFhirResource } from '../../validation/fhir-validator.ts';
import { toOutcome } from '../../validation/outcome.ts';
import { UNPROCESSABLE_ID } from '../fhir/handlers.ts';
import type { TransitionResources } from './collect.ts';
import { readReferences, searchAll } from './collect.ts';
import { hasControlCharacter } from '../../util/untrusted-text.ts';

/** HealthcareServices read per listing: one page of the directory (a region has a few hundred service lines). */
const MAX_SERVICES = 1000;
/** Options a choice may say it showed: MAX_OPTIONS of agency-matching.ts, with room for a manual addition. */
const MAX_SHOWN = 60;

export const AGENCY_CHOICE_ACTIVITY = { system: `${CODE_SYSTEM_BASE}/provenance-activity`, code: 'agency-choice', display: 'Home-care agency chosen for the patient' } as const;
/** Provenance extension: the agency the patient (through the discharge planner) chose. */
export const CHOSEN_AGENCY_URL = `${CAREBRIDGE_BASE}/StructureDefinition/chosen-agency`;

/** Only the hospital that sent the transition (and admins) look for and choose an agency. */
export function requirePlanner(principal: Principal): void {
  if (principal.role !== 'hospital' && principal.role !== 'admin') {
    throw forbiddenError('Only the discharging hospital (or an admin) lists agency options and records the choice');
  }
}

const refOf = (r: Resource): string => `${r.resourceType}/${r.id}`;

export interface AgencyOptions {
  transition: string;
  /** The clock the capacity and coverage were judged at. */
  at: string;
  criteria: { services: HomeHealthService[]; zip?: string; payers: PayerIdentifier[] };
  options: AgencyOption[];
}

function isActive(coverage: Coverage, now: Date): boolean {
  const at = now.getTime();
  const start = coverage.period?.start ? Date.parse(coverage.period.start) : -Infinity;
  // A date-only end covers the whole day.
  const endText = coverage.period?.end;
  const end = endText ? Date.parse(endText.length === 10 ? `${endText}T23:59:59.999Z` : endText) : Infinity;
  return coverage.status === 'active' && start <= at && at <= end;
}

function homeZip(patient: Patient | undefined): string | undefined {
  const addresses = patient?.address ?? [];
  const home = addresses.find((a) => a.use === 'home' && a.postalCode) ?? addresses.find((a) => a.postalCode && a.use !== 'old');
  return zip5(home?.postalCode);
}

function requestedServices(transition: TransitionResources): HomeHealthService[] {
  const requests = transition.resources.filter((r): r is ServiceRequest => r.resourceType === 'ServiceRequest');
  const codes = requests.flatMap((r) => (r.orderDetail ?? []).flatMap((cc) => (cc.coding ?? []).filter((c) => c.system === SYSTEMS.homeHealthService).map((c) => c.code)));
  return [...new Set(codes.filter((c): c is HomeHealthService => c !== undefined && c in HOME_HEALTH_SERVICES))];
}

/** `service=a,b` overrides the referrals' services (a plan pushed before any referral was written). */
function servicesParam(query: [string, string][]): HomeHealthService[] | undefined {
  const values = query.filter(([k]) => k === 'service').flatMap(([, v]) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  if (values.length === 0) {
    return undefined;
  }
  const unknown = values.filter((v) => !(v in HOME_HEALTH_SERVICES));
  if (unknown.length > 0) {
    // At most a few echoed back, each cut short: the query string is the caller's, of any length.
    const named = unknown.slice(0, 3).map((v) => (v.length > 40 ? `${v.slice(0, 40)}…` : v));
    throw new OperationOutcomeError(badRequest(`Unknown service ${named.join(', ')}${unknown.length > 3 ? ` and ${unknown.length - 3} more` : ''}: one of ${Object.keys(HOME_HEALTH_SERVICES).join(', ')}`, 'service'));
  }
  return [...new Set(values as HomeHealthService[])];
}

export async function agencyOptions(store: StoreTransaction, transition: TransitionResources, query: [string, string][], now: Date): Promise<{ body: AgencyOptions; disclosed: Resource[] }> {
  const byRef = new Map(transition.resources.map((r) => [refOf(r), r]));
  const patient = byRef.get(transition.carePlan.subject?.reference ?? '') as Patient | undefined;
  const coverages = transition.resources.filter((r): r is Coverage => r.resourceType === 'Coverage' && isActive(r, now));
  const payers: PayerIdentifier[] = coverages.flatMap((c) =>
    (c.payor ?? []).flatMap((p) => {
      const org = byRef.get(p.reference ?? '') as Organization | undefined;
      return (org?.identifier ?? []).map((i) => ({ system: i.system, value: i.value, display: org?.name ?? p.display }));
    }),
  );
  const services = servicesParam(query) ?? requestedServices(transition);
  const healthcareServices = (await searchAll(store, 'HealthcareService', [['active', 'true'], ['_count', String(MAX_SERVICES)]])).resources as HealthcareService[];
  const providers = (await readReferences(store, new Set(healthcareServices.map((s) => s.providedBy?.reference ?? '')))) as Organization[];
  const agencies = providers.map((organization) => ({ organization, services: healthcareServices.filter((s) => s.providedBy?.reference === refOf(organization)) }));
  const zip = homeZip(patient);
  const options = matchAgencies({ services, zip, payers, agencies, now });
  const shown = new Set(options.map((o) => o.organization));
  const disclosed = [...transition.resources, ...providers.filter((o) => shown.has(refOf(o))), ...healthcareServices.filter((s) => shown.has(s.providedBy?.reference ?? ''))];
  return { body: { transition: transition.carePlan.id as string, at: now.toISOString(), criteria: { services, ...(zip ? { zip } : {}), payers }, options }, disclosed };
}

export interface AgencyChoiceInput {
  /** "Organization/id" of the agency chosen. */
  chosen: string;
  /** "Organization/id" of every option shown to the patient, in the order shown. */
  shown: string[];
  /** Why (e.g. "patient preference: agency used before"). */
  reason?: string;
}

const ORG_REF = /^Organization\/[A-Za-z0-9\-.]{1,64}$/;

/** What a FHIR string may hold (Provenance.reason.text): something visible, and no control character. */
function isFhirText(text: string): boolean {
  return text.trim() !== '' && !hasControlCharacter(text);
}

export function parseChoice(body: unknown): AgencyChoiceInput {
  const value = body as Partial<AgencyChoiceInput> | undefined;
  if (!value || typeof value !== 'object' || typeof value.chosen !== 'string' || !ORG_REF.test(value.chosen)) {
    throw new OperationOutcomeError(badRequest('chosen: the "Organization/{id}" of the agency chosen', 'chosen'));
  }
  if (!Array.isArray(value.shown) || value.shown.length === 0 || value.shown.length > MAX_SHOWN || !value.shown.every((s) => typeof s === 'string' && ORG_REF.test(s))) {
    throw new OperationOutcomeError(badRequest(`shown: the "Organization/{id}" of every option shown, 1 to ${MAX_SHOWN}`, 'shown'));
  }
  if (new Set(value.shown).size !== value.shown.length) {
    throw new OperationOutcomeError(badRequest('shown: each option once', 'shown'));
  }
  if (!value.shown.includes(value.chosen)) {
    throw new OperationOutcomeError(badRequest('chosen: must be one of the options shown', 'chosen'));
  }
  if (value.reason !== undefined && (typeof value.reason !== 'string' || value.reason.length > 1000 || !isFhirText(value.reason))) {
    throw new OperationOutcomeError(badRequest('reason: text, at most 1000 characters, not blank and without control characters', 'reason'));
  }
  return { chosen: value.chosen, shown: value.shown, ...(value.reason ? { reason: value.reason } : {}) };
}

/** The Provenance a choice is recorded as; the agencies must be ones the caller can see. */
export async function choiceProvenance(store: StoreTransaction, carePlan: CarePlan, choice: AgencyChoiceInput, principal: Principal, now: Date): Promise<Provenance> {
  const organizations = new Map(((await readReferences(store, choice.shown)) as Organization[]).map((o) => [refOf(o), o]));
  const unknown = choice.shown.filter((s) => !organizations.has(s));
  if (unknown.length > 0) {
    throw new OperationOutcomeError(badRequest(`shown: no such Organization ${unknown.join(', ')}`, 'shown'));
  }
  // The options agency-options ranks are the providers of the directory's active service lines
  // (whatever services were asked for): the hospital itself or a payer is no agency to choose.
  const lines = await searchAll(store, 'HealthcareService', [['active', 'true'], ['organization', choice.chosen], ['_count', '1']]);
  if (lines.resources.length === 0) {
    throw new OperationOutcomeError(badRequest(`chosen: ${choice.chosen} is not a home-care agency of the directory (no active HealthcareService)`, 'chosen'));
  }
  const named = (reference: string): Reference => ({ reference, display: organizations.get(reference)?.name });
  const hospital = { identifier: { system: principal.organization.system, value: principal.organization.value } };
  const provenance: Provenance = {
    resourceType: 'Provenance',
    target: [{ reference: refOf(carePlan) }],
    recorded: now.toISOString(),
    activity: { coding: [{ ...AGENCY_CHOICE_ACTIVITY }], text: AGENCY_CHOICE_ACTIVITY.display },
    ...(choice.reason ? { reason: [{ text: choice.reason }] } : {}),
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author', display: 'Author' }] },
        // The discharge planner who wrote the plan, acting for the hospital; the client that called is the second agent.
        who: carePlan.author?.reference ? { reference: carePlan.author.reference, display: carePlan.author.display } : { ...hospital, display: principal.clientName },
        onBehalfOf: hospital,
      },
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'enterer', display: 'Enterer' }] },
        who: { identifier: { system: `${CAREBRIDGE_BASE}/sid/client`, value: principal.clientId }, display: principal.clientName },
      },
    ],
    // Every option shown, in the order shown (entity.role "source": what the choice was made from).
    entity: choice.shown.map((s) => ({ role: 'source', what: named(s) })),
    extension: [{ url: CHOSEN_AGENCY_URL, valueReference: named(choice.chosen) }],
  };
  // Written as carebridge, past the checks of /fhir: what it stores must pass its own $validate.
  const errors = validateFhirResource(provenance).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (errors.length > 0) {
    throw new OperationOutcomeError({ ...toOutcome(errors), id: UNPROCESSABLE_ID });
  }
  return provenance;
}

export interface AgencyChoice {
  provenance: string;
  recorded: string;
  chosen?: Reference;
  shown: Reference[];
  reason?: string;
  by: Reference[];
}

export function choiceOf(provenance: Provenance): AgencyChoice {
  return {
    provenance: refOf(provenance),
    recorded: provenance.recorded,
    chosen: provenance.extension?.find((e) => e.url === CHOSEN_AGENCY_URL)?.valueReference,
    shown: (provenance.entity ?? []).map((e) => e.what),
    ...(provenance.reason?.[0]?.text ? { reason: provenance.reason[0].text } : {}),
    by: provenance.agent.map((a) => a.who),
  };
}

/** A transition's recorded choices, newest first (read as carebridge: the caller's right to the transition is checked first). */
export async function readChoices(system: StoreTransaction, carePlan: CarePlan): Promise<Provenance[]> {
  const found = (await searchAll(system, 'Provenance', [['target', refOf(carePlan)], ['_count', '1000']])).resources as Provenance[];
  return found.filter((p) => p.activity?.coding?.some((c) => c.system === AGENCY_CHOICE_ACTIVITY.system && c.code === AGENCY_CHOICE_ACTIVITY.code)).sort((a, b) => (a.recorded < b.recorded ? 1 : a.recorded > b.recorded ? -1 : 0));
}
