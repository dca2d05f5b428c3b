import { describe, expect, it } from '@jest/globals';
import type { Coverage, CoverageEligibilityResponse } from '@medplum/fhirtypes';
import type { CoverageStatusInput, FindingCode } from '../../src/workflow/coverage-status.ts';
import { coverageStatus, memberIdOf } from '../../src/workflow/coverage-status.ts';

const X12 = 'https://codesystem.x12.org/005010/1365';
const DISCHARGED = '2026-11-30T16:20:00-05:00';
const NOW = new Date('2026-12-02T15:00:00Z');

function coverage(id: string, overrides: Partial<Coverage> = {}): Coverage {
  return {
    resourceType: 'Coverage',
    id,
    status: 'active',
    identifier: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MB' }] }, value: `M-${id}` }],
    beneficiary: { reference: 'Patient/p1' },
    relationship: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/subscriber-relationship', code: 'self' }] },
    period: { start: '2026-01-01', end: '2026-12-31' },
    payor: [{ reference: 'Organization/payer', display: 'Chesapeake Community Health Plan' }],
    class: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/coverage-class', code: 'plan' }] }, value: 'HC', name: 'HealthChoice' }],
    order: 1,
    ...overrides,
  };
}

function response(overrides: Partial<CoverageEligibilityResponse> = {}, item: Record<string, unknown> = {}): CoverageEligibilityResponse {
  return {
    resourceType: 'CoverageEligibilityResponse',
    id: 'r1',
    status: 'active',
    purpose: ['validation', 'benefits'],
    patient: { reference: 'Patient/p1' },
    created: '2026-12-01T10:00:00Z',
    request: { reference: 'CoverageEligibilityRequest/q1' },
    outcome: 'complete',
    insurer: { reference: 'Organization/payer' },
    insurance: [{ coverage: { reference: 'Coverage/c1' }, inforce: true, item: [{ category: { coding: [{ system: X12, code: '42' }] }, authorizationRequired: false, ...item }] }],
    ...overrides,
  };
}

const run = (input: Partial<CoverageStatusInput>) => coverageStatus({ coverages: [coverage('c1')], eligibility: [response()], dischargedAt: DISCHARGED, now: NOW, ...input });
const codes = (input: Partial<CoverageStatusInput>): FindingCode[] => run(input).findings.map((f) => f.code);

describe('coverage status', () => {
  it('a covered patient: covered on the discharge day and through the window, primary, eligibility 1 day old, home health without prior auth', () => {
    const status = run({});
    expect(status).toMatchObject({ windowStart: '2026-11-30', windowEnd: '2026-12-29', coveredOnDischarge: true, coveredThroughWindow: true, primaryByOrder: true, homeHealthCovered: true, priorAuthRequired: false, eligibility: { reference: 'CoverageEligibilityResponse/r1', ageDays: 1 } });
    expect(status.findings.map((f) => [f.code, f.severity])).toEqual([
      ['covered-on-discharge', 'information'],
      ['covered-through-window', 'information'],
      ['primary', 'information'],
      ['eligibility-age', 'information'],
      ['inforce', 'information'],
      ['home-health-covered', 'information'],
      ['prior-auth-not-required', 'information'],
    ]);
    expect(status.findings[0]?.text).toBe('Covered on 2026-11-30 (discharge day) by Chesapeake Community Health Plan, plan HealthChoice (Coverage/c1)');
  });

  it('the discharge day is the calendar day as written, whatever the UTC day', () => {
    expect(run({ dischargedAt: '2026-11-30T23:30:00-05:00' }).windowStart).toBe('2026-11-30');
  });

  it('no coverage, or none active, or none in the window: no-active-coverage', () => {
    expect(codes({ coverages: [] })).toEqual(['no-active-coverage']);
    expect(codes({ coverages: [coverage('c1', { status: 'cancelled' })] })).toEqual(['no-active-coverage']);
    expect(codes({ coverages: [coverage('c1', { period: { start: '2025-01-01', end: '2026-11-29' } })] })).toEqual(['no-active-coverage']);
    expect(codes({ coverages: [coverage('c1', { period: { start: '2026-12-30' } })] })).toEqual(['no-active-coverage']);
  });

  it('period boundaries are inclusive: ending on the discharge day covers it, ending on the window\'s last day covers the window', () => {
    const endsOnDischarge = run({ coverages: [coverage('c1', { period: { start: '2026-01-01', end: '2026-11-30' } })] });
    expect(endsOnDischarge.coveredOnDischarge).toBe(true);
    expect(endsOnDischarge.findings.find((f) => f.code === 'period-ends-in-window')).toMatchObject({ severity: 'error', text: expect.stringContaining('ends 2026-11-30, day 1 of the 30-day window: not covered from 2026-12-01') });
    expect(codes({ coverages: [coverage('c1', { period: { start: '2026-11-30', end: '2026-12-29' } })] })).toContain('covered-through-window');
    expect(codes({ coverages: [coverage('c1', { period: { start: '2026-11-30', end: '2026-12-28' } })] })).toContain('period-ends-in-window');
    expect(codes({ coverages: [coverage('c1', { period: {} })] })).toContain('covered-through-window');
  });

  it('a coverage that ends inside the window followed by another is a warning, and the window is covered', () => {
    const status = run({ coverages: [coverage('c1', { period: { start: '2026-01-01', end: '2026-12-15' } }), coverage('c2', { period: { start: '2026-12-16' }, order: 2 })] });
    expect(status.coveredThroughWindow).toBe(true);
    expect(status.findings.filter((f) => f.code === 'period-ends-in-window' || f.code === 'starts-in-window').map((f) => [f.code, f.severity, f.coverage])).toEqual([
      ['period-ends-in-window', 'warning', 'Coverage/c1'],
      ['starts-in-window', 'warning', 'Coverage/c2'],
    ]);
  });

  it('coverage starting after the discharge day: not covered on it, primary is the one that starts', () => {
    const status = run({ coverages: [coverage('c1', { period: { start: '2026-12-05' } })] });
    expect(status.coveredOnDischarge).toBe(false);
    expect(status.coveredThroughWindow).toBe(false);
    expect(status.findings.map((f) => f.code).slice(0, 3)).toEqual(['not-covered-on-discharge', 'starts-in-window', 'primary']);
  });

  it('several coverages: the lowest order is primary; no order or a tie is unclear', () => {
    const secondary = coverage('c0', { order: 2, payor: [{ display: 'Medicare' }] });
    expect(run({ coverages: [secondary, coverage('c1')] }).primary?.reference).toBe('Coverage/c1');
    const tie = run({ coverages: [coverage('c0'), coverage('c1')] });
    expect(tie.primaryByOrder).toBe(false);
    expect(tie.findings.map((f) => f.code)).toContain('primary-unclear');
    expect(codes({ coverages: [coverage('c0', { order: undefined }), coverage('c1', { order: undefined })] })).toContain('primary-unclear');
    // One coverage without an order is the primary, though not by its order.
    const alone = run({ coverages: [coverage('c1', { order: undefined })] });
    expect(alone.findings.map((f) => f.code)).toContain('primary');
    expect(alone.primaryByOrder).toBe(false);
    // The primary is chosen among coverages active on the discharge day.
    expect(run({ coverages: [coverage('c0', { order: 1, period: { start: '2026-12-10' } }), coverage('c1', { order: 2 })] }).primary?.reference).toBe('Coverage/c1');
  });

  it('member id: identifier type MB, else subscriberId; neither is an error', () => {
    expect(memberIdOf(coverage('c1', { identifier: undefined, subscriberId: 'S-1' }))).toBe('S-1');
    expect(memberIdOf(coverage('c1'))).toBe('M-c1');
    const missing = run({ coverages: [coverage('c1', { identifier: [{ system: 'urn:x', value: 'not-a-member-id' }] })] }).findings.find((f) => f.code === 'member-id-missing');
    expect(missing).toMatchObject({ severity: 'error', coverage: 'Coverage/c1' });
  });

  it('subscriber relationship missing is a warning', () => {
    expect(run({ coverages: [coverage('c1', { relationship: undefined })] }).findings.find((f) => f.code === 'subscriber-relationship-missing')).toMatchObject({ severity: 'warning' });
  });

  it('without a discharge date the window starts today', () => {
    const status = run({ dischargedAt: undefined });
    expect(status).toMatchObject({ dischargeKnown: false, windowStart: '2026-12-02', windowEnd: '2026-12-31' });
    expect(status.findings[0]).toMatchObject({ code: 'no-discharge-date', severity: 'warning' });
  });

  it('eligibility: not checked, stale after 7 days, the freshest response counts', () => {
    expect(run({ eligibility: [] }).findings.find((f) => f.code === 'eligibility-not-checked')).toMatchObject({ severity: 'warning' });
    expect(run({ eligibility: [response({ id: 'old', created: '2026-11-24T14:00:00Z' })] }).findings.find((f) => f.code === 'eligibility-stale')?.text).toBe('Eligibility was last checked 8 days ago (2026-11-24), more than 7 days: check again');
    expect(codes({ eligibility: [response({ id: 'week', created: '2026-11-25T15:00:00Z' })] })).toContain('eligibility-age');
    const freshest = run({ eligibility: [response({ id: 'old', created: '2026-11-01T00:00:00Z' }), response({ id: 'new', created: '2026-12-02T09:00:00Z' }), response({ id: 'mid', created: '2026-11-20T00:00:00Z' })] });
    expect(freshest.eligibility).toMatchObject({ reference: 'CoverageEligibilityResponse/new', ageDays: 0 });
    expect(freshest.findings.find((f) => f.code === 'eligibility-age')?.text).toBe('Eligibility checked today (2026-12-02)');
    // A response about another coverage does not count for the primary.
    expect(codes({ eligibility: [response({ insurance: [{ coverage: { reference: 'Coverage/other' }, inforce: true }] })] })).toContain('eligibility-not-checked');
  });

  it('eligibility: not in force, or an error answer', () => {
    expect(run({ eligibility: [response({}, {})].map((r) => ({ ...r, insurance: [{ ...r.insurance?.[0], coverage: { reference: 'Coverage/c1' }, inforce: false }] })) }).findings.find((f) => f.code === 'not-inforce')).toMatchObject({ severity: 'error' });
    const error = run({ eligibility: [response({ outcome: 'error', insurance: undefined, error: [{ code: { text: 'Member not found' } }] })] });
    expect(error.findings.find((f) => f.code === 'eligibility-error')?.text).toBe('The payer could not answer the eligibility request: Member not found');
  });

  it('home health: covered, excluded, or not mentioned; by category or productOrService', () => {
    expect(run({ eligibility: [response({}, { excluded: true })] }).findings.find((f) => f.code === 'home-health-not-covered')).toMatchObject({ severity: 'error' });
    expect(run({ eligibility: [response({}, { category: { coding: [{ system: X12, code: '30' }] } })] }).findings.find((f) => f.code === 'home-health-unknown')).toMatchObject({ severity: 'warning' });
    expect(codes({ eligibility: [response({}, { category: undefined, productOrService: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/ex-benefitcategory', code: '44' }] } })] })).toContain('home-health-covered');
  });

  it('prior authorization: required and on file (preAuthRef), required and missing', () => {
    const onFile = run({ eligibility: [response({ preAuthRef: 'PA-2026-118' }, { authorizationRequired: true })] });
    expect(onFile).toMatchObject({ priorAuthRequired: true, priorAuthRef: 'PA-2026-118' });
    expect(onFile.findings.find((f) => f.code === 'prior-auth-on-file')?.text).toBe('Home health needs prior authorization; authorization PA-2026-118 is on file');
    expect(run({ eligibility: [response({}, { authorizationRequired: true })] }).findings.find((f) => f.code === 'prior-auth-missing')).toMatchObject({ severity: 'error' });
  });
});
