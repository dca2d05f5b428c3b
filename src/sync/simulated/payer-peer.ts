// A simulated payer for tests, the bench and the demo: answers POST /fhir/CoverageEligibilityRequest
// with a CoverageEligibilityResponse made from the members it was seeded with, found by the member
// id of the request's contained Coverage (US Core: identifier of type MB, else subscriberId). It
// can fail the ways a payer fails: 503, never answering, an answer that is not FHIR.
import type { Coverage, CoverageEligibilityRequest, CoverageEligibilityResponse, CoverageEligibilityResponseInsuranceItem, Period } from '@medplum/fhirtypes';
import express from 'express';
import type { Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
import { HOME_HEALTH_CATEGORIES, memberIdOf } from '../../workflow/coverage-status.ts';
import { listenOnLoopback } from './loopback.ts';

export interface PayerMember {
  inforce: boolean;
  /** Home health in the answer: a benefit, excluded, or not mentioned at all. Default covered. */
  homeHealth?: 'covered' | 'excluded' | 'absent';
  authorizationRequired?: boolean;
  /** An authorization on file (CoverageEligibilityResponse.preAuthRef). */
  preAuthRef?: string;
  benefitPeriod?: Period;
}

export type PayerOutage = false | 'unavailable' | 'hang' | 'garbage';

export interface SimulatedPayer {
  /** http://127.0.0.1:PORT/fhir */
  baseUrl: string;
  /** Member id → what the payer knows; change it between requests. */
  members: Map<string, PayerMember>;
  /** Every eligibility request received, as sent. */
  received: CoverageEligibilityRequest[];
  setDown(mode: PayerOutage): void;
  close(): Promise<void>;
}

const HOME_HEALTH = HOME_HEALTH_CATEGORIES[0] as { system: string; code: string };

function answer(request: CoverageEligibilityRequest, member: PayerMember | undefined, created: Date): CoverageEligibilityResponse {
  const base: CoverageEligibilityResponse = {
    resourceType: 'CoverageEligibilityResponse',
    id: randomUUID(),
    identifier: [{ system: 'urn:simulated-payer:eligibility', value: randomUUID() }],
    status: 'active',
    purpose: request.purpose,
    patient: request.patient,
    created: created.toISOString(),
    request: { identifier: request.identifier?.[0] },
    outcome: member ? 'complete' : 'error',
    insurer: request.insurer,
  };
  if (!member) {
    return { ...base, disposition: 'Member not found', error: [{ code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/adjudication-error', code: 'a001' }], text: 'Member not found' } }] };
  }
  const item: CoverageEligibilityResponseInsuranceItem[] =
    member.homeHealth === 'absent' ? [] : [{ category: { coding: [{ ...HOME_HEALTH, display: 'Home Health Care' }] }, excluded: member.homeHealth === 'excluded', authorizationRequired: member.authorizationRequired ?? false, name: 'Home health' }];
  return {
    ...base,
    disposition: member.inforce ? 'Policy is in force' : 'Policy is not in force',
    ...(member.preAuthRef ? { preAuthRef: member.preAuthRef } : {}),
    insurance: (request.insurance ?? []).map((i) => ({ coverage: i.coverage, inforce: member.inforce, ...(member.benefitPeriod ? { benefitPeriod: member.benefitPeriod } : {}), ...(item.length > 0 ? { item } : {}) })),
  };
}

export async function startSimulatedPayer(options: { clock?: () => Date } = {}): Promise<SimulatedPayer> {
  const members = new Map<string, PayerMember>();
  const received: CoverageEligibilityRequest[] = [];
  let down: PayerOutage = false;
  const clock = options.clock ?? (() => new Date());
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ type: ['application/json', 'application/fhir+json'], limit: '1mb' }));
  app.post('/fhir/CoverageEligibilityRequest', (req: Request, res: Response) => {
    if (down === 'hang') {
      return;
    }
    if (down === 'unavailable') {
      res.status(503).set('Retry-After', '1').type('application/fhir+json').send(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient', details: { text: 'Simulated outage' } }] }));
      return;
    }
    if (down === 'garbage') {
      res.status(200).type('text/html').send('<html>maintenance</html>');
      return;
    }
    const request = req.body as CoverageEligibilityRequest;
    received.push(request);
    const coverage = request.contained?.find((r): r is Coverage => r.resourceType === 'Coverage');
    const memberId = coverage ? memberIdOf(coverage) : undefined;
    res.status(200).type('application/fhir+json').send(JSON.stringify(answer(request, memberId ? members.get(memberId) : undefined, clock())));
  });
  const loopback = await listenOnLoopback(app);
  return {
    baseUrl: `${loopback.origin}/fhir`,
    members,
    received,
    setDown(mode) {
      down = mode;
    },
    close: () => loopback.close(),
  };
}
