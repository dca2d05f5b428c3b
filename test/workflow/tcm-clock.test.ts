import { describe, expect, it } from '@jest/globals';
import {
  addBusinessDays,
  addDays,
  isBusinessDay,
  isHoliday,
  localDay,
  startOfLocalDay,
  tcmDeadlines,
  US_FEDERAL,
  usFederalHolidays,
} from '../../src/workflow/tcm-clock.ts';
import type { ClockRules, Deadline } from '../../src/workflow/tcm-clock.ts';

const NY: ClockRules = { calendar: US_FEDERAL, zone: { name: 'America/New_York' } };
const due = (deadlines: Deadline[]): Record<string, string> => Object.fromEntries(deadlines.map((d) => [d.kind, d.due]));

describe('US federal holidays', () => {
  it('lists 2026 with Independence Day observed on Friday July 3', () => {
    expect(usFederalHolidays(2026)).toEqual(['2026-01-01', '2026-01-19', '2026-02-16', '2026-05-25', '2026-06-19', '2026-07-03', '2026-09-07', '2026-10-12', '2026-11-11', '2026-11-26', '2026-12-25']);
  });

  it('observes a Sunday holiday on the Monday after and a Saturday one on the Friday before', () => {
    expect(usFederalHolidays(2023)[0]).toBe('2023-01-02');
    expect(usFederalHolidays(2022)).toContain('2022-06-20');
    expect(usFederalHolidays(2027)).toContain('2027-12-24');
  });

  it("observes New Year's Day on a Saturday on December 31 of the year before", () => {
    expect(isHoliday('2021-12-31', US_FEDERAL)).toBe(true);
    expect(isHoliday('2027-12-31', US_FEDERAL)).toBe(true);
    expect(isHoliday('2026-12-31', US_FEDERAL)).toBe(false);
  });

  it('has no Juneteenth before 2021', () => {
    expect(usFederalHolidays(2020).some((d) => d.slice(5) === '06-19')).toBe(false);
  });

  it('lets a deployment add, remove or drop the holidays', () => {
    expect(isHoliday('2026-11-27', { base: 'us-federal', add: ['2026-11-27'] })).toBe(true);
    expect(isHoliday('2026-10-12', { base: 'us-federal', remove: ['2026-10-12'] })).toBe(false);
    expect(isHoliday('2026-12-25', { base: 'none' })).toBe(false);
  });
});

describe('business days', () => {
  it('skips weekends and holidays, never counting the start day', () => {
    expect(addBusinessDays('2026-11-25', 2, US_FEDERAL)).toBe('2026-11-30'); // Thanksgiving Thu, Fri, Mon
    expect(addBusinessDays('2026-11-27', 2, US_FEDERAL)).toBe('2026-12-01'); // Fri → Mon, Tue
    expect(addBusinessDays('2026-11-28', 2, US_FEDERAL)).toBe('2026-12-01'); // Sat → Mon, Tue
    expect(addBusinessDays('2026-12-23', 2, US_FEDERAL)).toBe('2026-12-28'); // Thu 24, (Fri 25), Mon 28
    expect(addBusinessDays('2027-12-23', 2, US_FEDERAL)).toBe('2027-12-28'); // (Fri 24 observed), Mon, Tue
    expect(addBusinessDays('2027-12-29', 2, US_FEDERAL)).toBe('2028-01-03'); // Thu 30, (Fri 31: New Year observed), Mon
    expect(addBusinessDays('2026-11-25', 2, { base: 'none' })).toBe('2026-11-27');
  });

  it('knows weekends are not business days', () => {
    expect(isBusinessDay('2026-11-28', US_FEDERAL)).toBe(false);
    expect(isBusinessDay('2026-11-29', US_FEDERAL)).toBe(false);
    expect(isBusinessDay('2026-11-30', US_FEDERAL)).toBe(true);
  });
});

describe('local days and time zones', () => {
  it('starts every local day where the day before ends, DST changes included', () => {
    const zones = ['America/New_York', 'America/Los_Angeles', 'Pacific/Honolulu', 'America/Santiago', 'Australia/Lord_Howe', 'Europe/London', 'Asia/Kolkata'];
    for (const name of zones) {
      for (let day = '2026-01-01'; day < '2027-01-01'; day = addDays(day, 1)) {
        const start = startOfLocalDay({ name }, day);
        expect([name, localDay({ name }, start)]).toEqual([name, day]);
        expect([name, localDay({ name }, start - 1000)]).toEqual([name, addDays(day, -1)]);
      }
    }
  });

  it('gives the spring-forward day 23 hours and the fall-back day 25 in New York', () => {
    const zone = { name: 'America/New_York' };
    expect(startOfLocalDay(zone, '2026-03-09') - startOfLocalDay(zone, '2026-03-08')).toBe(23 * 3_600_000);
    expect(startOfLocalDay(zone, '2026-11-02') - startOfLocalDay(zone, '2026-11-01')).toBe(25 * 3_600_000);
  });

  it('starts a day whose midnight does not exist at 01:00 (Chile)', () => {
    const start = startOfLocalDay({ name: 'America/Santiago' }, '2026-09-06');
    expect(new Date(start).toISOString()).toBe('2026-09-06T04:00:00.000Z');
  });
});

describe('TCM deadlines', () => {
  it('gives a moderate discharge on the Wednesday before Thanksgiving its four deadlines', () => {
    const deadlines = tcmDeadlines('2026-11-25T14:00:00-05:00', 'moderate', NY);
    expect(due(deadlines)).toEqual({
      'interactive-contact': '2026-11-30T23:59:59-05:00',
      'face-to-face-visit': '2026-12-09T23:59:59-05:00',
      'medication-reconciliation': '2026-12-09T23:59:59-05:00',
      'tcm-period-end': '2026-12-24T23:59:59-05:00',
    });
    expect(deadlines[0]?.dueEndMs).toBe(Date.parse('2026-12-01T05:00:00Z'));
  });

  it('gives a high-complexity discharge a 7-day visit', () => {
    expect(due(tcmDeadlines('2026-11-25T14:00:00-05:00', 'high', NY))['face-to-face-visit']).toBe('2026-12-02T23:59:59-05:00');
  });

  it('counts a discharge late at night on its local day, and one after midnight on the next', () => {
    expect(due(tcmDeadlines('2026-11-27T23:30:00-05:00', 'high', NY))['interactive-contact']).toBe('2026-12-01T23:59:59-05:00');
    expect(due(tcmDeadlines('2026-11-26T00:30:00-05:00', 'high', NY))['interactive-contact']).toBe('2026-11-30T23:59:59-05:00');
    expect(due(tcmDeadlines('2026-11-25T23:59:59-05:00', 'high', NY))['interactive-contact']).toBe('2026-11-30T23:59:59-05:00');
  });

  it("counts days in the hospital's zone, not in the zone the time was written in", () => {
    const thursdayInLa = '2026-12-03T22:30:00-08:00';
    expect(due(tcmDeadlines(thursdayInLa, 'high', { calendar: US_FEDERAL, zone: { name: 'America/Los_Angeles' } }))['interactive-contact']).toBe('2026-12-07T23:59:59-08:00');
    expect(due(tcmDeadlines(thursdayInLa, 'high', NY))['interactive-contact']).toBe('2026-12-08T23:59:59-05:00');
    expect(due(tcmDeadlines('2026-12-04T06:30:00Z', 'high', { calendar: US_FEDERAL, zone: { name: 'Pacific/Honolulu' } }))['interactive-contact']).toBe('2026-12-07T23:59:59-10:00');
  });

  it('uses the offset the discharge was written with when the hospital has no zone', () => {
    expect(due(tcmDeadlines('2026-12-03T22:30:00-08:00', 'high', { calendar: US_FEDERAL }))['interactive-contact']).toBe('2026-12-07T23:59:59-08:00');
    expect(tcmDeadlines('2026-12-03', 'high', { calendar: US_FEDERAL })).toEqual([]);
  });

  it('writes each due time with the offset in force that day across DST changes', () => {
    expect(due(tcmDeadlines('2026-03-07T10:00:00-05:00', 'high', NY))).toEqual({
      'interactive-contact': '2026-03-10T23:59:59-04:00',
      'face-to-face-visit': '2026-03-14T23:59:59-04:00',
      'medication-reconciliation': '2026-03-14T23:59:59-04:00',
      'tcm-period-end': '2026-04-05T23:59:59-04:00',
    });
    expect(due(tcmDeadlines('2026-10-30T10:00:00-04:00', 'high', NY))['interactive-contact']).toBe('2026-11-03T23:59:59-05:00');
  });

  it('ends the 30-day period on the discharge day + 29, over a month end', () => {
    expect(tcmDeadlines('2026-01-31T09:00:00-05:00', 'moderate', NY)[3]?.dueDay).toBe('2026-03-01');
  });
});
