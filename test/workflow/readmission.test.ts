// The 30-day readmission window (the discharge day is day 1, so discharge day + 29 is the last day
// inside it) and the readmissions recorded on a transition CarePlan.
import { describe, expect, it } from '@jest/globals';
import type { CarePlan } from '@medplum/fhirtypes';
import { READMISSION_URL, calendarDay, daysIntoWindow, firstReadmission, keepReadmissions, readmissionsOf, withReadmission } from '../../src/workflow/readmission.ts';

const carePlan: CarePlan = { resourceType: 'CarePlan', id: 'cp', status: 'active', intent: 'plan', subject: { reference: 'Patient/p' }, extension: [{ url: 'https://carebridge.example/fhir/StructureDefinition/referral-state', valueCode: 'open' }] };

describe('the readmission window', () => {
  it('counts calendar days as the sender wrote them, not UTC days', () => {
    expect(calendarDay('2026-11-30T23:30:00-05:00')).toBe('2026-11-30');
    expect(calendarDay('2026-11-30')).toBe('2026-11-30');
    expect(calendarDay('2026-02-30T10:00:00Z')).toBeUndefined();
    expect(calendarDay('soon')).toBeUndefined();
    expect(calendarDay(undefined)).toBeUndefined();
  });

  it('runs from the discharge day (0) to the discharge day + 29, across months and years', () => {
    const discharged = '2026-11-01T10:00:00-05:00';
    expect(daysIntoWindow(discharged, '2026-11-01T18:00:00-05:00')).toBe(0);
    expect(daysIntoWindow(discharged, '2026-11-30T23:59:00-05:00')).toBe(29);
    expect(daysIntoWindow(discharged, '2026-12-01T00:01:00-05:00')).toBeUndefined();
    expect(daysIntoWindow(discharged, '2026-12-02T08:00:00-05:00')).toBeUndefined();
    expect(daysIntoWindow(discharged, '2026-10-31T08:00:00-05:00')).toBeUndefined();
    expect(daysIntoWindow('2026-12-20', '2027-01-18')).toBe(29);
    expect(daysIntoWindow('2028-02-01', '2028-03-01')).toBe(29);
    expect(daysIntoWindow(undefined, '2026-11-02')).toBeUndefined();
  });
});

describe('readmissions on a CarePlan', () => {
  const early = { encounter: 'Encounter/e1', admittedOn: '2026-11-05', daysAfterDischarge: 4 };
  const late = { encounter: 'Encounter/e2', admittedOn: '2026-11-20', daysAfterDischarge: 19 };

  it('are recorded once per admission, earliest first, next to the other extensions', () => {
    const flagged = withReadmission(withReadmission(carePlan, late), early);
    expect(readmissionsOf(flagged)).toEqual([early, late]);
    expect(firstReadmission(flagged)).toEqual(early);
    expect(withReadmission(flagged, early)).toEqual(flagged);
    expect(flagged.extension?.[0]?.url).toBe(carePlan.extension?.[0]?.url);
    expect(flagged.extension?.filter((e) => e.url === READMISSION_URL)).toHaveLength(2);
    expect(firstReadmission(carePlan)).toBeNull();
  });

  it('survive a client write that does not carry them (a plan pushed again)', () => {
    const stored = withReadmission(carePlan, early);
    expect(keepReadmissions({ ...carePlan, title: 'new' }, stored)).toEqual({ ...stored, title: 'new' });
    expect(keepReadmissions(carePlan, carePlan)).toEqual(carePlan);
    expect(keepReadmissions(carePlan, undefined)).toEqual(carePlan);
  });
});
