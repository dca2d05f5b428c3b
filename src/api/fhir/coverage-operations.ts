// The case manager's coverage operations on a Patient:
// - GET Patient/{id}/$coverage-status: is the patient covered on the discharge day and through the
//   30-day window, by whom, what is missing — as a Parameters resource, one `finding` per line
//   (workflow/coverage-status.ts decides the findings);
// - POST Patient/{id}/$check-eligibility[?coverage={id}]: asks the payer of the patient's primary
//   (or the named) Coverage with a CoverageEligibilityRequest (validation + benefits) and stores the
//   request and the answer, linked, in one transaction; answers the stored CoverageEligibilityResponse.
// Both read as the caller sees the store: a patient the caller cannot see is 404. Payer failures are
// OperationOutcomes: 504 when the payer did not answer in time, 502 for anything else it did.
import { OperationOutcomeError, businessRule, notFound, parseSearchRequest } from '@medplum/core';
import type { CarePlan, Coverage, CoverageEligibilityResponse, Identifier, Organization, Parameters, ParametersParameter, Patient, Resource } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import { forbiddenError, permitted, requirePermission } from '../../auth/access/policy.ts';
import { provenanceFor } from '../../audit/provenance.ts';
import type { FhirStore, StoreTransaction } from '../../store/fhir-store.ts';
import type { PayerDirectory } from '../../sync/connectors/payers.ts';
import { PeerError } from '../../sync/connectors/peer-client.ts';
import { hasErrors } from '../../validation/outcome.ts';
import { validateFhirResource } from '../../validation/fhir-validator.ts';
import type { CoverageStatus } from '../../workflow/coverage-status.ts';
import { coverageStatus } from '../../workflow/coverage-status.ts';
import { calendarDay } from '../../workflow/readmission.ts';
import { eligibilityRequest, responseIn, storedResponse } from '../../workflow/eligibility.ts';
import { checkId } from './handlers.ts';
import type { FhirRequest, FhirResponse } from './request.ts';
import { BAD_GATEWAY_ID, GATEWAY_TIMEOUT_ID, badRequestError } from './request.ts';

/** Coverages and CarePlans of one patient read at most (a patient has a handful). */
const MAX_READ = 100;
/** Eligibility answers looked at, newest first: the freshest about the primary coverage is among them. */
const MAX_ELIGIBILITY = 20;

export interface CoverageOperationsOptions {
  /** Writes as carebridge itself: the eligibility exchange is carebridge's, whoever asked for it. */
  systemStore: FhirStore;
  payers: PayerDirectory;
  clock: () => Date;
}

interface PatientCoverage {
  patient: Patient;
  coverages: Coverage[];
  eligibility: CoverageEligibilityResponse[];
  dischargedAt?: string;
  carePlan?: string;
}

async function searchAs<T extends Resource>(store: StoreTransaction, query: string): Promise<T[]> {
  return (await store.search(parseSearchRequest(query))).resources as T[];
}

/** The patient, its coverages, eligibility answers and the discharge of its latest transition (or of ?carePlan=), as the caller may see them. */
async function readPatientCoverage(store: StoreTransaction, request: FhirRequest, patientId: string): Promise<PatientCoverage> {
  requirePermission(request.principal, 'Coverage', 'r');
  checkId(patientId);
  const stored = await store.read('Patient', patientId);
  if (!stored || stored.deleted || !stored.resource) {
    throw new OperationOutcomeError(notFound);
  }
  const subject = `Patient/${patientId}`;
  const coverages = await searchAs<Coverage>(store, `Coverage?beneficiary=${subject}&_count=${MAX_READ}`);
  const mayReadEligibility = !request.principal || permitted(request.principal, 'CoverageEligibilityResponse', 's');
  const eligibility = mayReadEligibility ? await searchAs<CoverageEligibilityResponse>(store, `CoverageEligibilityResponse?patient=${subject}&_sort=-created&_count=${MAX_ELIGIBILITY}`) : [];
  const carePlanId = request.query.find(([k]) => k === 'carePlan')?.[1];
  let carePlans: CarePlan[];
  if (carePlanId !== undefined) {
    checkId(carePlanId);
    const plan = (await store.read('CarePlan', carePlanId))?.resource as CarePlan | undefined;
    if (plan?.subject.reference !== subject) {
      throw badRequestError(`CarePlan/${carePlanId} is not a transition of ${subject}`, 'carePlan');
    }
    carePlans = [plan];
  } else {
    carePlans = await searchAs<CarePlan>(store, `CarePlan?subject=${subject}&_count=${MAX_READ}`);
  }
  // The latest discharge: CarePlan.period.start is the discharge (mapping/careplan.ts, notifications.ts).
  const latest = carePlans.filter((p) => calendarDay(p.period?.start)).sort((a, b) => ((calendarDay(b.period?.start) as string) < (calendarDay(a.period?.start) as string) ? -1 : 1))[0];
  return { patient: stored.resource as Patient, coverages, eligibility, dischargedAt: latest?.period?.start, carePlan: latest ? `CarePlan/${latest.id ?? ''}` : undefined };
}

function coverageParts(status: CoverageStatus): ParametersParameter[] {
  const primary = status.primary;
  if (!primary) {
    return [];
  }
  return [
    { name: 'coverage', valueReference: { reference: primary.reference } },
    ...(primary.payer ? [{ name: 'payer', valueReference: primary.payer }] : []),
    ...(primary.plan ? [{ name: 'plan', valueString: primary.plan }] : []),
    ...(primary.memberId ? [{ name: 'member-id', valueString: primary.memberId }] : []),
    { name: 'primary', valueBoolean: status.primaryByOrder },
  ];
}

/** The status as a Parameters resource: the answers first, then one `finding` per line. */
export function coverageStatusParameters(status: CoverageStatus, patientRef: string, carePlan: string | undefined): Parameters {
  const eligibility = status.eligibility;
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'patient', valueReference: { reference: patientRef } },
      ...(carePlan ? [{ name: 'transition', valueReference: { reference: carePlan } }] : []),
      ...(status.dischargeKnown ? [{ name: 'discharge-date', valueDate: status.windowStart }] : []),
      { name: 'window', valuePeriod: { start: status.windowStart, end: status.windowEnd } },
      { name: 'covered-on-discharge', valueBoolean: status.coveredOnDischarge },
      { name: 'covered-through-window', valueBoolean: status.coveredThroughWindow },
      ...coverageParts(status),
      ...(status.homeHealthCovered !== undefined ? [{ name: 'home-health-covered', valueBoolean: status.homeHealthCovered }] : []),
      ...(status.priorAuthRequired !== undefined ? [{ name: 'prior-authorization-required', valueBoolean: status.priorAuthRequired }] : []),
      ...(status.priorAuthRef ? [{ name: 'prior-authorization', valueString: status.priorAuthRef }] : []),
      ...(eligibility
        ? [
            { name: 'eligibility', valueReference: { reference: eligibility.reference } },
            ...(eligibility.ageDays !== undefined ? [{ name: 'eligibility-age', valueDuration: { value: eligibility.ageDays, unit: 'days', system: 'http://unitsofmeasure.org', code: 'd' } }] : []),
          ]
        : []),
      ...status.findings.map(
        (f): ParametersParameter => ({
          name: 'finding',
          part: [
            { name: 'code', valueCode: f.code },
            { name: 'severity', valueCode: f.severity },
            { name: 'text', valueString: f.text },
            ...(f.coverage ? [{ name: 'coverage', valueReference: { reference: f.coverage } }] : []),
          ],
        }),
      ),
    ],
  };
}

/** GET Patient/{id}/$coverage-status */
export async function coverageStatusOperation(store: StoreTransaction, request: FhirRequest, patientId: string, now: Date): Promise<FhirResponse> {
  const facts = await readPatientCoverage(store, request, patientId);
  const status = coverageStatus({ coverages: facts.coverages, eligibility: facts.eligibility, dischargedAt: facts.dischargedAt, now });
  return { status: 200, body: coverageStatusParameters(status, `Patient/${patientId}`, facts.carePlan), headers: {} };
}

/** 422: the request is fine, the patient's data does not allow it. */
function unprocessable(text: string, expression?: string): OperationOutcomeError {
  const outcome = businessRule('check-eligibility', text);
  return new OperationOutcomeError({ ...outcome, issue: (outcome.issue ?? []).map((i) => ({ ...i, ...(expression ? { expression: [expression] } : {}) })) });
}

function gatewayError(id: string, text: string): OperationOutcomeError {
  return new OperationOutcomeError({ resourceType: 'OperationOutcome', id, issue: [{ severity: 'error', code: id === GATEWAY_TIMEOUT_ID ? 'timeout' : 'transient', details: { text } }] });
}

/** The identifiers of the Coverage's payer: on the reference, or on the Organization it points at. */
async function payerIdentifiers(store: StoreTransaction, coverage: Coverage): Promise<{ identifiers: Identifier[]; display?: string }> {
  const payor = coverage.payor[0];
  const identifiers: Identifier[] = payor?.identifier ? [payor.identifier] : [];
  const id = /^Organization\/([^/]+)$/.exec(payor?.reference ?? '')?.[1];
  const organization = id ? ((await store.read('Organization', id))?.resource as Organization | undefined) : undefined;
  return { identifiers: [...identifiers, ...(organization?.identifier ?? [])], display: payor?.display ?? organization?.name };
}

/** POST Patient/{id}/$check-eligibility */
export async function checkEligibilityOperation(store: StoreTransaction, request: FhirRequest, patientId: string, options: CoverageOperationsOptions): Promise<FhirResponse> {
  const principal = request.principal;
  if (principal && principal.role !== 'case-management' && principal.role !== 'hospital' && principal.role !== 'admin') {
    throw forbiddenError('Only a case manager, a hospital or an admin asks payers about eligibility');
  }
  const now = options.clock();
  const facts = await readPatientCoverage(store, request, patientId);
  const coverageId = request.query.find(([k]) => k === 'coverage')?.[1];
  let coverage: Coverage | undefined;
  if (coverageId !== undefined) {
    coverage = facts.coverages.find((c) => c.id === coverageId);
    if (!coverage) {
      throw badRequestError(`Coverage/${coverageId.slice(0, 64)} is not a coverage of Patient/${patientId}`, 'coverage');
    }
  } else {
    const primary = coverageStatus({ coverages: facts.coverages, eligibility: [], dischargedAt: facts.dischargedAt, now }).primary;
    coverage = facts.coverages.find((c) => `Coverage/${c.id ?? ''}` === primary?.reference);
  }
  if (!coverage) {
    throw unprocessable(`Patient/${patientId} has no active coverage in the 30-day window to check`);
  }
  const payer = await payerIdentifiers(store, coverage);
  const peer = options.payers.find(payer.identifiers);
  if (!peer) {
    throw unprocessable(`No payer peer is configured for the payer of Coverage/${coverage.id ?? ''} (${payer.display ?? 'no name'})`, 'Coverage.payor');
  }
  const pair = eligibilityRequest({ patient: facts.patient, coverage, insurer: { identifier: { system: peer.organization.system, value: peer.organization.value }, display: payer.display }, requestId: randomUUID(), now });

  let body: unknown;
  try {
    body = (await options.payers.clientFor(peer).request('POST', { path: 'CoverageEligibilityRequest', body: pair.sent })).body;
  } catch (err) {
    if (err instanceof PeerError) {
      // In carebridge's words (status, failure kind), never the payer's: its error text is a third
      // party's and may carry anything, a member's details included.
      throw gatewayError(err.timedOut ? GATEWAY_TIMEOUT_ID : BAD_GATEWAY_ID, `The payer ${peer.name} ${err.timedOut ? 'did not answer in time' : `failed (${err.status !== undefined ? `HTTP ${err.status}` : err.failure === 'retry' ? 'unreachable' : 'refused the request'})`}`);
    }
    throw err;
  }
  const answer = responseIn(body);
  if (!answer) {
    throw gatewayError(BAD_GATEWAY_ID, `The payer ${peer.name} answered without a CoverageEligibilityResponse`);
  }
  const issues = validateFhirResource(storedResponse(answer, pair.stored, 'CoverageEligibilityRequest/pending'));
  if (hasErrors(issues)) {
    throw gatewayError(BAD_GATEWAY_ID, `The payer ${peer.name} answered an invalid CoverageEligibilityResponse: ${issues.find((i) => i.severity === 'error')?.details?.text ?? ''}`.slice(0, 500));
  }
  const written = await options.systemStore.transaction(async (tx) => {
    const requestVersion = (await tx.create(pair.stored)).version;
    const responseVersion = (await tx.create(storedResponse(answer, pair.stored, `CoverageEligibilityRequest/${requestVersion.id}`))).version;
    if (principal) {
      const targets = [requestVersion, responseVersion].map((v) => `${v.resourceType}/${v.id}/_history/${v.versionId}`);
      await tx.create(provenanceFor({ principal, targets, activity: 'CREATE', recorded: now, sourceSystem: peer.fhirBaseUrl as string }), { deferIndex: true });
    }
    return responseVersion;
  });
  return { status: 200, body: written.resource as CoverageEligibilityResponse, headers: {} };
}
