// How a stored deadline is brought in line with the one its transition wants now (pure): a new
// owner changes nothing the clock set; a moved discharge re-dates it and, when the clock had
// settled it, opens it again for the sweep to judge; a revoked transition cancels what was not met.
import { describe, expect, it } from '@jest/globals';
import type { Task } from '@medplum/fhirtypes';
import { alignedDeadline, cancelledDeadline, deadlineTasksOf } from '../../src/mapping/deadline-tasks.ts';
import { SYSTEMS } from '../../src/model/terminology.ts';
import { US_FEDERAL } from '../../src/workflow/tcm-clock.ts';

const facts = { key: '0123456789abcdef', complexity: 'high' as const, patient: 'Patient/p', carePlan: 'CarePlan/c' };
const rules = { calendar: US_FEDERAL };
const contactOf = (dischargedAt: string, owner = 'Organization/hospital'): Task => deadlineTasksOf({ ...facts, dischargedAt, owner: { reference: owner } }, rules)[0] as Task;
const stored = (task: Task, extra: Partial<Task> = {}): Task => ({ ...task, id: 't1', meta: { versionId: '3', lastUpdated: '2026-12-03T05:01:00Z' }, ...extra });
const overdue = { businessStatus: { coding: [{ system: SYSTEMS.tcmDeadline, code: 'overdue' }] } };

describe('aligning a stored deadline', () => {
  it('leaves one in line alone', () => {
    const want = contactOf('2026-11-30T16:20:00-05:00');
    expect(alignedDeadline(stored(want, overdue), want)).toBeUndefined();
  });

  it('hands it to the plan\'s coordinator and keeps what the clock recorded', () => {
    const was = stored(contactOf('2026-11-30T16:20:00-05:00'), overdue);
    const next = alignedDeadline(was, contactOf('2026-11-30T16:20:00-05:00', 'Practitioner/coordinator'));
    expect(next).toMatchObject({ id: 't1', owner: { reference: 'Practitioner/coordinator' }, status: 'requested', businessStatus: overdue.businessStatus });
    expect(next?.meta).toBeUndefined();
  });

  it('re-dates an open one and leaves it open', () => {
    const next = alignedDeadline(stored(contactOf('2026-11-30T16:20:00-05:00')), contactOf('2026-12-01T10:00:00-05:00'));
    expect(next?.restriction?.period).toEqual({ start: '2026-12-01T10:00:00-05:00', end: '2026-12-03T23:59:59-05:00' });
    expect(next?.status).toBe('requested');
  });

  it('opens a settled one again when its due time or discharge moves: overdue mark, completion and evidence cleared', () => {
    const met = stored(contactOf('2026-11-30T16:20:00-05:00'), { status: 'completed', output: [{ type: { text: 'evidence' }, valueReference: { reference: 'Communication/c1' } }] });
    const next = alignedDeadline(met, contactOf('2026-11-30T23:30:00-05:00')); // same due day, later discharge
    expect(next).toMatchObject({ status: 'requested', restriction: { period: { start: '2026-11-30T23:30:00-05:00' } } });
    expect([next?.output, next?.businessStatus]).toEqual([undefined, undefined]);
    const late = alignedDeadline(stored(contactOf('2026-11-30T16:20:00-05:00'), overdue), contactOf('2026-12-01T10:00:00-05:00'));
    expect(late?.businessStatus).toBeUndefined();
  });

  it('cancels what a stopped transition had not met, and keeps what it had', () => {
    const open = stored(contactOf('2026-11-30T16:20:00-05:00'), overdue);
    expect(cancelledDeadline(open)).toMatchObject({ status: 'cancelled', statusReason: { text: expect.stringContaining('no longer runs') } });
    expect(cancelledDeadline(stored(open, { status: 'completed' }))).toBeUndefined();
    // Running again, it opens again.
    const cancelled = cancelledDeadline(open) as Task;
    expect(alignedDeadline(cancelled, contactOf('2026-11-30T16:20:00-05:00'))).toMatchObject({ status: 'requested' });
  });
});
