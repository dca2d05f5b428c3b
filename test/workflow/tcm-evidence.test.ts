import { describe, expect, it } from '@jest/globals';
import type { Appointment, Communication, Resource, Task } from '@medplum/fhirtypes';
import { SYSTEMS } from '../../src/model/terminology.ts';
import type { DeadlineFacts } from '../../src/workflow/tcm-evidence.ts';
import { evaluateDeadline, evaluateDeadlines } from '../../src/workflow/tcm-evidence.ts';

const DISCHARGED = '2026-11-30T16:20:00-05:00';
const contact: DeadlineFacts = { kind: 'interactive-contact', due: '2026-12-02T23:59:59-05:00', dischargedAt: DISCHARGED };
const visit: DeadlineFacts = { kind: 'face-to-face-visit', due: '2026-12-14T23:59:59-05:00', dischargedAt: DISCHARGED };
const medRec: DeadlineFacts = { kind: 'medication-reconciliation', due: '2026-12-14T23:59:59-05:00', dischargedAt: DISCHARGED };
const periodEnd: DeadlineFacts = { kind: 'tcm-period-end', due: '2026-12-29T23:59:59-05:00', dischargedAt: DISCHARGED };
const at = (iso: string): number => Date.parse(iso);
const category = (code: string) => [{ coding: [{ system: SYSTEMS.tcmDeadline, code }] }];

const communication = (id: string, status: Communication['status'], sent: string, code = 'interactive-contact'): Communication => ({ resourceType: 'Communication', id, status, sent, category: category(code) });
const task = (id: string, status: Task['status'], end: string, code: string): Task => ({ resourceType: 'Task', id, status, intent: 'plan', code: category(code)[0], executionPeriod: { end } });
const appointment = (id: string, status: Appointment['status'], start: string): Appointment => ({ resourceType: 'Appointment', id, status, start, participant: [{ status: 'accepted' }] });

describe('interactive contact', () => {
  it('is open before the deadline and overdue at the next local midnight without evidence', () => {
    expect(evaluateDeadline(contact, [], at('2026-12-02T23:59:58-05:00')).state).toBe('open');
    expect(evaluateDeadline(contact, [], at('2026-12-03T00:00:00-05:00')).state).toBe('overdue');
  });

  it('is met by a completed Communication of its code sent in time', () => {
    const r = evaluateDeadline(contact, [communication('c1', 'completed', '2026-12-02T23:30:00-05:00')], at('2026-12-05T00:00:00Z'));
    expect(r).toEqual({ kind: 'interactive-contact', state: 'met', metAt: '2026-12-02T23:30:00-05:00', evidence: [{ resource: 'Communication/c1', type: 'Communication', at: '2026-12-02T23:30:00-05:00', outcome: 'met' }] });
  });

  it('is met by a completed Task of its code', () => {
    expect(evaluateDeadline(contact, [task('t1', 'completed', '2026-12-01T10:00:00-05:00', 'interactive-contact')], at('2026-12-05T00:00:00Z')).state).toBe('met');
  });

  it('is met by two documented unsuccessful attempts, not by one', () => {
    const one = [communication('a1', 'not-done', '2026-12-01T09:00:00-05:00')];
    expect(evaluateDeadline(contact, one, at('2026-12-05T00:00:00Z'))).toMatchObject({ state: 'overdue', evidence: [{ outcome: 'attempt' }] });
    const two = [...one, task('a2', 'failed', '2026-12-02T15:00:00-05:00', 'interactive-contact')];
    expect(evaluateDeadline(contact, two, at('2026-12-05T00:00:00Z'))).toMatchObject({ state: 'met', metAt: '2026-12-02T15:00:00-05:00', evidence: [{ resource: 'Communication/a1' }, { resource: 'Task/a2' }] });
  });

  it('is met late by evidence after the deadline', () => {
    expect(evaluateDeadline(contact, [communication('c1', 'completed', '2026-12-03T00:00:00-05:00')], at('2026-12-05T00:00:00Z')).state).toBe('met-late');
  });

  it('ignores evidence before the discharge, of another code, or not completed', () => {
    const noise: Resource[] = [
      communication('before', 'completed', '2026-11-30T10:00:00-05:00'),
      communication('other', 'completed', '2026-12-01T10:00:00-05:00', 'face-to-face-visit'),
      communication('progress', 'in-progress', '2026-12-01T10:00:00-05:00'),
      { resourceType: 'Communication', id: 'uncoded', status: 'completed', sent: '2026-12-01T10:00:00-05:00' },
    ];
    expect(evaluateDeadline(contact, noise, at('2026-12-05T00:00:00Z')).state).toBe('overdue');
  });

  it('does not count a deadline Task as its own evidence', () => {
    const deadline: Task = { ...task('d', 'completed', '2026-12-01T10:00:00-05:00', 'interactive-contact'), restriction: { period: { end: contact.due } } };
    expect(evaluateDeadline(contact, [deadline], at('2026-12-05T00:00:00Z')).state).toBe('overdue');
  });
});

describe('face-to-face visit and medication reconciliation', () => {
  it('meets the visit with a fulfilled Appointment, not a booked one', () => {
    expect(evaluateDeadline(visit, [appointment('a1', 'booked', '2026-12-08T10:00:00-05:00')], at('2026-12-20T00:00:00Z')).state).toBe('overdue');
    expect(evaluateDeadline(visit, [appointment('a1', 'fulfilled', '2026-12-08T10:00:00-05:00')], at('2026-12-20T00:00:00Z')).state).toBe('met');
  });

  it('holds the reconciliation to the day of the visit when the visit took place', () => {
    const resources = [appointment('a1', 'fulfilled', '2026-12-08T10:00:00-05:00'), task('m1', 'completed', '2026-12-09T09:00:00-05:00', 'medication-reconciliation')];
    const [v, m] = evaluateDeadlines([visit, medRec], resources, at('2026-12-20T00:00:00Z'));
    expect(v?.state).toBe('met');
    expect(m?.state).toBe('met-late');
    const sameDay = [appointment('a1', 'fulfilled', '2026-12-08T10:00:00-05:00'), task('m1', 'completed', '2026-12-08T22:00:00-05:00', 'medication-reconciliation')];
    expect(evaluateDeadlines([visit, medRec], sameDay, at('2026-12-20T00:00:00Z'))[1]?.state).toBe('met');
  });

  it('allows the reconciliation up to the visit deadline when no visit took place yet', () => {
    expect(evaluateDeadlines([visit, medRec], [task('m1', 'completed', '2026-12-10T09:00:00-05:00', 'medication-reconciliation')], at('2026-12-11T00:00:00Z'))[1]?.state).toBe('met');
  });
});

describe('end of the 30-day period', () => {
  it('ends at midnight after the discharge day + 29', () => {
    expect(evaluateDeadline(periodEnd, [], at('2026-12-29T23:00:00-05:00')).state).toBe('open');
    expect(evaluateDeadline(periodEnd, [], at('2026-12-30T00:00:00-05:00')).state).toBe('ended');
  });
});
