// Eligibility with a payer (pure): the CoverageEligibilityRequest carebridge sends for one Coverage
// (purpose validation + benefits, asking about home health), and the payer's answer made into the
// CoverageEligibilityResponse carebridge stores, linked to the stored request. No I/O.
//
// A payer cannot resolve carebridge's references, so the request it receives carries the Patient
// and the Coverage as contained resources (member id, subscriber, period) and names the insurer by
// identifier; the request carebridge stores points at its own Patient and Coverage instead.
import type { Coverage, CoverageEligibilityRequest, CoverageEligibilityResponse, Identifier, Patient, Reference } from '@medplum/fhirtypes';
import { HOME_HEALTH_CATEGORIES } from './coverage-status.ts';

/** Identifies each eligibility request carebridge sends (its value a UUID): the payer echoes it, the response is matched by it. */
export const ELIGIBILITY_REQUEST_SYSTEM = 'urn:carebridge:eligibility-request';

const HOME_HEALTH = HOME_HEALTH_CATEGORIES[0] as { system: string; code: string };

export interface EligibilityRequestInput {
  patient: Patient;
  coverage: Coverage;
  /** The payer, as its peer config identifies it. */
  insurer: { identifier: Identifier; display?: string };
  /** The request's business identifier value (a UUID). */
  requestId: string;
  now: Date;
}

export interface EligibilityRequestPair {
  /** What carebridge stores: references to its own resources. */
  stored: CoverageEligibilityRequest;
  /** What the payer receives: the Patient and Coverage contained. */
  sent: CoverageEligibilityRequest;
}

export function eligibilityRequest(input: EligibilityRequestInput): EligibilityRequestPair {
  const base: CoverageEligibilityRequest = {
    resourceType: 'CoverageEligibilityRequest',
    identifier: [{ system: ELIGIBILITY_REQUEST_SYSTEM, value: input.requestId }],
    status: 'active',
    purpose: ['validation', 'benefits'],
    patient: { reference: `Patient/${input.patient.id ?? ''}` },
    created: input.now.toISOString(),
    insurer: { identifier: input.insurer.identifier, ...(input.insurer.display ? { display: input.insurer.display } : {}) },
    insurance: [{ focal: true, coverage: { reference: `Coverage/${input.coverage.id ?? ''}` } }],
    item: [{ category: { coding: [{ ...HOME_HEALTH, display: 'Home Health Care' }] } }],
  };
  const { id: _pid, meta: _pmeta, ...patient } = input.patient;
  const { id: _cid, meta: _cmeta, ...coverage } = input.coverage;
  // The subscriber, when it is the patient, becomes the contained Patient; another party is left out.
  const { subscriber, ...coverageRest } = coverage;
  const self = subscriber?.reference === `Patient/${input.patient.id ?? ''}`;
  const sent: CoverageEligibilityRequest = {
    ...base,
    contained: [
      { ...patient, id: 'patient' },
      { ...coverageRest, id: 'coverage', beneficiary: { reference: '#patient' }, ...(self ? { subscriber: { reference: '#patient' } } : {}), payor: [base.insurer] },
    ],
    patient: { reference: '#patient' },
    insurance: [{ focal: true, coverage: { reference: '#coverage' } }],
  };
  return { stored: base, sent };
}

/** The payer's answer, or undefined when it holds no CoverageEligibilityResponse (a bare resource or one in a Bundle). */
export function responseIn(body: unknown): CoverageEligibilityResponse | undefined {
  if (body === null || typeof body !== 'object') {
    return undefined;
  }
  const resource = body as { resourceType?: unknown; entry?: { resource?: { resourceType?: unknown } }[] };
  if (resource.resourceType === 'CoverageEligibilityResponse') {
    return resource as CoverageEligibilityResponse;
  }
  if (resource.resourceType === 'Bundle' && Array.isArray(resource.entry)) {
    return resource.entry.map((e) => e.resource).find((r) => r?.resourceType === 'CoverageEligibilityResponse') as CoverageEligibilityResponse | undefined;
  }
  return undefined;
}

/**
 * The payer's answer as carebridge stores it: about carebridge's Patient and Coverage (the request
 * had one insurance entry: every entry of the answer is about that Coverage), linked to the stored
 * request, the insurer as configured; the payer's own ids, meta and contained resources dropped.
 */
export function storedResponse(answer: CoverageEligibilityResponse, request: CoverageEligibilityRequest, requestRef: string): CoverageEligibilityResponse {
  const { id: _id, meta: _meta, contained: _contained, text: _text, ...rest } = answer;
  const coverage = request.insurance?.[0]?.coverage as Reference<Coverage>;
  return {
    ...rest,
    identifier: [...(answer.identifier ?? []), ...(request.identifier ?? [])],
    patient: request.patient,
    request: { reference: requestRef },
    insurer: request.insurer,
    ...(answer.insurance ? { insurance: answer.insurance.map((i) => ({ ...i, coverage })) } : {}),
  };
}
