// Readmissions (pure): an admission of a patient within 30 days of a discharge is recorded on the
// transition of that discharge, as carebridge's extension on the CarePlan. The 30-day TCM period
// starts on the discharge day (domain README: day 1 is the discharge day), so an admission on the
// discharge day + 29 is the last one inside it, and the 31st day is outside.
import type { CarePlan, Extension } from '@medplum/fhirtypes';
import { PROFILE_BASE } from '../model/terminology.ts';

export const READMISSION_URL = `${PROFILE_BASE}/readmission`;

/** Days of the window, the discharge day included. */
export const READMISSION_WINDOW_DAYS = 30;

/** How many readmissions one CarePlan records: a patient admitted this often has bigger problems than our list. */
const MAX_RECORDED = 20;

export interface Readmission {
  /** The admission's Encounter, "Encounter/id". */
  encounter: string;
  /** The day of the admission, as the sender wrote it (its own time zone): YYYY-MM-DD. */
  admittedOn: string;
  /** Calendar days from the discharge day to the admission day: 0 to 29. */
  daysAfterDischarge: number;
}

/** The calendar day of a FHIR date or dateTime in the zone it was written in ("2026-11-30T23:10:00-05:00" → "2026-11-30"). */
export function calendarDay(dateTime: string | undefined): string | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(dateTime ?? '');
  if (!match) {
    return undefined;
  }
  const [, y, m, d] = match;
  const date = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
  // "2026-02-30" is not a day.
  return date.getUTCMonth() === Number(m) - 1 ? `${y}-${m}-${d}` : undefined;
}

function dayNumber(day: string): number {
  return Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8, 10))) / 86_400_000;
}

/**
 * Days from the discharge day to the admission day when the admission falls in the window
 * (0 to 29); undefined before the discharge or after the window, or for a date that is not one.
 */
export function daysIntoWindow(dischargedAt: string | undefined, admittedAt: string | undefined): number | undefined {
  const discharged = calendarDay(dischargedAt);
  const admitted = calendarDay(admittedAt);
  if (!discharged || !admitted) {
    return undefined;
  }
  const days = dayNumber(admitted) - dayNumber(discharged);
  return days >= 0 && days < READMISSION_WINDOW_DAYS ? days : undefined;
}

function fromExtension(extension: Extension): Readmission | undefined {
  const part = (url: string): Extension | undefined => extension.extension?.find((e) => e.url === url);
  const encounter = part('encounter')?.valueReference?.reference;
  const admittedOn = part('admittedOn')?.valueDate;
  const days = part('daysAfterDischarge')?.valueUnsignedInt;
  return encounter && admittedOn && days !== undefined ? { encounter, admittedOn, daysAfterDischarge: days } : undefined;
}

function toExtension(readmission: Readmission): Extension {
  return {
    url: READMISSION_URL,
    extension: [
      { url: 'encounter', valueReference: { reference: readmission.encounter } },
      { url: 'admittedOn', valueDate: readmission.admittedOn },
      { url: 'daysAfterDischarge', valueUnsignedInt: readmission.daysAfterDischarge },
    ],
  };
}

/** The readmissions recorded on a CarePlan, earliest first. */
export function readmissionsOf(carePlan: CarePlan): Readmission[] {
  return (carePlan.extension ?? [])
    .filter((e) => e.url === READMISSION_URL)
    .map(fromExtension)
    .filter((r): r is Readmission => r !== undefined)
    .sort((a, b) => a.daysAfterDischarge - b.daysAfterDischarge || (a.encounter < b.encounter ? -1 : 1));
}

/** The readmission that counts (the first after the discharge), or null. */
export function firstReadmission(carePlan: CarePlan): Readmission | null {
  return readmissionsOf(carePlan)[0] ?? null;
}

/** The CarePlan recording exactly `readmissions` (one per admission Encounter), other extensions kept in place. */
function withReadmissions(carePlan: CarePlan, readmissions: readonly Readmission[]): CarePlan {
  const byEncounter = new Map<string, Readmission>();
  for (const r of readmissions) {
    if (!byEncounter.has(r.encounter)) {
      byEncounter.set(r.encounter, r);
    }
  }
  const sorted = [...byEncounter.values()].sort((a, b) => a.daysAfterDischarge - b.daysAfterDischarge || (a.encounter < b.encounter ? -1 : 1)).slice(0, MAX_RECORDED);
  const others = (carePlan.extension ?? []).filter((e) => e.url !== READMISSION_URL);
  const extension = [...others, ...sorted.map(toExtension)];
  const { extension: _old, ...rest } = carePlan;
  return extension.length > 0 ? { ...rest, extension } : rest;
}

/** The CarePlan with one more readmission (none added if that Encounter is recorded already). */
export function withReadmission(carePlan: CarePlan, readmission: Readmission): CarePlan {
  return withReadmissions(carePlan, [...readmissionsOf(carePlan), readmission]);
}

/**
 * A client's write of a CarePlan keeps the readmissions recorded on it: a plan pushed again never
 * carries them, and a readmission, once recorded, is a fact of the transition.
 */
export function keepReadmissions(next: CarePlan, current: CarePlan | undefined): CarePlan {
  const recorded = current ? readmissionsOf(current) : [];
  if (recorded.length === 0) {
    return next;
  }
  return withReadmissions(next, [...recorded, ...readmissionsOf(next)]);
}
