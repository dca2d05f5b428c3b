// The transitional-care clock (pure): business days, holidays, time zones, and the TCM deadlines
// of one discharge (domain README, CPT 99495/99496). Days are counted in the hospital's time zone:
// "2 business days after discharge" means the end of the second working day after the local
// discharge day, whatever the UTC instant. Built on Intl.DateTimeFormat (the ICU time-zone data
// Node ships) rather than a date library: we need only "which local day is this instant" and "when
// does this local day end", and both are a few lines once the zone's offset at an instant is known.
import type { TcmComplexity } from '../model/transition-plan.ts';

/** A calendar day, YYYY-MM-DD. */
export type Day = string;

export type DeadlineKind = 'interactive-contact' | 'face-to-face-visit' | 'medication-reconciliation' | 'tcm-period-end';

export const DEADLINE_KINDS: readonly DeadlineKind[] = ['interactive-contact', 'face-to-face-visit', 'medication-reconciliation', 'tcm-period-end'];

/** Business days after the discharge day for the interactive contact (CMS TCM). */
export const CONTACT_BUSINESS_DAYS = 2;
/** Calendar days after the discharge day for the face-to-face visit: 99496 (high) and 99495 (moderate). */
export const FACE_TO_FACE_DAYS: Record<TcmComplexity, number> = { high: 7, moderate: 14 };
/** The 30-day TCM period starts on the discharge day: its last day is the discharge day + 29. */
export const TCM_PERIOD_LAST_DAY = 29;

/** Which days are holidays: the US federal ones (computed per year), none, plus and minus a list. */
export interface HolidayCalendar {
  base: 'us-federal' | 'none';
  add?: readonly Day[];
  remove?: readonly Day[];
}

export const US_FEDERAL: HolidayCalendar = { base: 'us-federal' };

/** A time zone: an IANA name ("America/Chicago") or a fixed UTC offset in minutes (the one a dateTime was written with). */
export type Zone = { name: string } | { offsetMinutes: number };

const DAY_MS = 86_400_000;

function dayToUtcMs(day: Day): number {
  return Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8, 10)));
}

function utcMsToDay(ms: number): Day {
  return new Date(ms).toISOString().slice(0, 10);
}

export function addDays(day: Day, days: number): Day {
  return utcMsToDay(dayToUtcMs(day) + days * DAY_MS);
}

/** 0 = Sunday … 6 = Saturday. */
export function weekday(day: Day): number {
  return new Date(dayToUtcMs(day)).getUTCDay();
}

// --- US federal holidays (5 U.S.C. 6103), with the observed-date rule for fixed dates:
// Saturday → the Friday before, Sunday → the Monday after. New Year's Day on a Saturday is
// observed on December 31 of the year before, so a year's list may hold the next year's holiday.

function nthWeekday(year: number, month: number, weekdayWanted: number, n: number): Day {
  const first = Date.UTC(year, month - 1, 1);
  const offset = (weekdayWanted - new Date(first).getUTCDay() + 7) % 7;
  return utcMsToDay(first + (offset + (n - 1) * 7) * DAY_MS);
}

function lastWeekday(year: number, month: number, weekdayWanted: number): Day {
  const last = Date.UTC(year, month, 0);
  const back = (new Date(last).getUTCDay() - weekdayWanted + 7) % 7;
  return utcMsToDay(last - back * DAY_MS);
}

function observed(day: Day): Day {
  const w = weekday(day);
  return w === 6 ? addDays(day, -1) : w === 0 ? addDays(day, 1) : day;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** The observed US federal holidays whose actual date falls in `year` (one may be observed on Dec 31 of the year before). */
export function usFederalHolidays(year: number): Day[] {
  const fixed = (month: number, day: number): Day => observed(`${year}-${pad(month)}-${pad(day)}`);
  return [
    fixed(1, 1),
    nthWeekday(year, 1, 1, 3), // Birthday of Martin Luther King, Jr.: third Monday of January
    nthWeekday(year, 2, 1, 3), // Washington's Birthday: third Monday of February
    lastWeekday(year, 5, 1), // Memorial Day: last Monday of May
    ...(year >= 2021 ? [fixed(6, 19)] : []), // Juneteenth, a federal holiday since 2021
    fixed(7, 4),
    nthWeekday(year, 9, 1, 1), // Labor Day: first Monday of September
    nthWeekday(year, 10, 1, 2), // Columbus Day: second Monday of October
    fixed(11, 11),
    nthWeekday(year, 11, 4, 4), // Thanksgiving: fourth Thursday of November
    fixed(12, 25),
  ];
}

const federalCache = new Map<number, Set<Day>>();

function federalSet(year: number): Set<Day> {
  let set = federalCache.get(year);
  if (!set) {
    set = new Set(usFederalHolidays(year));
    federalCache.set(year, set);
  }
  return set;
}

export function isHoliday(day: Day, calendar: HolidayCalendar): boolean {
  if (calendar.remove?.includes(day)) {
    return false;
  }
  if (calendar.add?.includes(day)) {
    return true;
  }
  if (calendar.base === 'none') {
    return false;
  }
  const year = Number(day.slice(0, 4));
  // Dec 31 may be the observed New Year's Day of the next year.
  return federalSet(year).has(day) || (day.endsWith('-12-31') && federalSet(year + 1).has(day));
}

export function isBusinessDay(day: Day, calendar: HolidayCalendar): boolean {
  const w = weekday(day);
  return w !== 0 && w !== 6 && !isHoliday(day, calendar);
}

/** The `n`th business day after `day` (`day` itself never counts, business day or not). */
export function addBusinessDays(day: Day, n: number, calendar: HolidayCalendar): Day {
  let current = day;
  let left = n;
  while (left > 0) {
    current = addDays(current, 1);
    if (isBusinessDay(current, calendar)) {
      left--;
    }
  }
  return current;
}

// --- Time zones

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    formatters.set(zone, f);
  }
  return f;
}

/** Is this an IANA time zone name the runtime knows? */
export function isKnownTimeZone(name: string): boolean {
  try {
    formatterFor(name);
    return true;
  } catch {
    return false;
  }
}

/** The zone's UTC offset (minutes east of UTC) at an instant. */
export function offsetAt(zone: Zone, ms: number): number {
  if ('offsetMinutes' in zone) {
    return zone.offsetMinutes;
  }
  const parts: Record<string, number> = {};
  for (const p of formatterFor(zone.name).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') {
      parts[p.type] = Number(p.value);
    }
  }
  const local = Date.UTC(parts.year as number, (parts.month as number) - 1, parts.day as number, parts.hour as number, parts.minute as number, parts.second as number);
  return Math.round((local - Math.floor(ms / 1000) * 1000) / 60_000);
}

/** The local calendar day of an instant in the zone. */
export function localDay(zone: Zone, ms: number): Day {
  return utcMsToDay(ms + offsetAt(zone, ms) * 60_000);
}

/**
 * The first instant of a local day. Midnight may not exist (a DST change at 00:00, as in Chile):
 * the day then starts at the first local time that does.
 */
export function startOfLocalDay(zone: Zone, day: Day): number {
  const wall = dayToUtcMs(day);
  let guess = wall - offsetAt(zone, wall) * 60_000;
  // Two rounds settle on the offset in force at that wall time (it may differ from the one at the UTC guess).
  guess = wall - offsetAt(zone, guess) * 60_000;
  if (localDay(zone, guess) !== day) {
    // Skipped midnight: the guess landed on the day before; the day starts where the offset changed.
    let lo = guess;
    let hi = guess + 3 * 3_600_000;
    while (hi - lo > 1000) {
      const mid = Math.floor((lo + hi) / 2 / 1000) * 1000;
      if (localDay(zone, mid) === day) {
        hi = mid;
      } else {
        lo = mid;
      }
    }
    return hi;
  }
  // A repeated hour at midnight (fall back at 00:00): the earlier instant that shows this day.
  const earlier = guess - 3_600_000;
  return localDay(zone, earlier) === day && offsetAt(zone, earlier) !== offsetAt(zone, guess) ? earlier : guess;
}

function offsetText(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** An instant written as a FHIR dateTime in the zone's local time ("2026-12-01T23:59:59-05:00"). */
export function localDateTime(zone: Zone, ms: number): string {
  const offset = offsetAt(zone, ms);
  const local = new Date(Math.floor(ms / 1000) * 1000 + offset * 60_000).toISOString().slice(0, 19);
  return `${local}${offsetText(offset)}`;
}

/** The UTC offset a FHIR dateTime was written with, as a fixed zone ("Z" and "+00:00" are UTC). */
export function writtenZone(dateTime: string): Zone | undefined {
  const match = /(Z|([+-])(\d{2}):(\d{2}))$/.exec(dateTime);
  if (!match || !dateTime.includes('T')) {
    return undefined;
  }
  return match[1] === 'Z' ? { offsetMinutes: 0 } : { offsetMinutes: (match[2] === '-' ? -1 : 1) * (Number(match[3]) * 60 + Number(match[4])) };
}

// --- The deadlines of one discharge

export interface ClockRules {
  calendar: HolidayCalendar;
  /** The hospital's zone; undefined: the offset the discharge time was written with (no DST then). */
  zone?: Zone;
}

export interface Deadline {
  kind: DeadlineKind;
  /** The last local day the deadline allows. */
  dueDay: Day;
  /** The last second of that day, as a FHIR dateTime in the hospital's zone: restriction.period.end. */
  due: string;
  /** The first instant after the deadline (the next local midnight): evidence before it counts; a clock at or past it is overdue. */
  dueEndMs: number;
}

/** The discharge's instant and local day, or undefined for a discharge time that is not a dateTime. */
export function dischargeDay(dischargedAt: string, rules: ClockRules): { ms: number; day: Day; zone: Zone } | undefined {
  const ms = Date.parse(dischargedAt);
  const zone = rules.zone ?? writtenZone(dischargedAt);
  if (Number.isNaN(ms) || !zone) {
    return undefined;
  }
  return { ms, day: localDay(zone, ms), zone };
}

/** The end of a local day as a deadline of `kind`. */
export function deadlineOn(kind: DeadlineKind, zone: Zone, day: Day): Deadline {
  const dueEndMs = startOfLocalDay(zone, addDays(day, 1));
  return { kind, dueDay: day, due: localDateTime(zone, dueEndMs - 1000), dueEndMs };
}

/** The TCM deadlines of a discharge, in DEADLINE_KINDS order; [] when the discharge time cannot be read. */
export function tcmDeadlines(dischargedAt: string, complexity: TcmComplexity, rules: ClockRules): Deadline[] {
  const discharge = dischargeDay(dischargedAt, rules);
  if (!discharge) {
    return [];
  }
  const { day, zone } = discharge;
  const visitDay = addDays(day, FACE_TO_FACE_DAYS[complexity]);
  return [
    deadlineOn('interactive-contact', zone, addBusinessDays(day, CONTACT_BUSINESS_DAYS, rules.calendar)),
    deadlineOn('face-to-face-visit', zone, visitDay),
    // No later than the face-to-face visit: its deadline at the latest (evidence.ts also holds it to the visit's day).
    deadlineOn('medication-reconciliation', zone, visitDay),
    deadlineOn('tcm-period-end', zone, addDays(day, TCM_PERIOD_LAST_DAY)),
  ];
}
