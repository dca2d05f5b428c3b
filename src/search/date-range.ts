// A FHIR date / dateTime / instant as the UTC range it stands for, in ms, both ends inclusive,
// with the precision of the value: "2026" is the whole year, "2026-11" the whole month,
// "2026-11-20" the whole day, "…T10:30Z" the minute, "…T10:30:00Z" the second, with a fraction
// the millisecond. Values without a zone (dates, and date-times sent without one) are taken as UTC.
// Medplum's toPeriod() fills "2026-11" up to "2026-11-31", which Date rolls over to 1 December,
// so month ends are computed here instead.

const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** The widest range a store can hold (±Infinity is not storable): open Period ends. */
export const MIN_DATE_MS = Number.MIN_SAFE_INTEGER;
export const MAX_DATE_MS = Number.MAX_SAFE_INTEGER;

const DAY_MS = 86_400_000;

/** Date.UTC maps years 0–99 to 1900–1999; FHIR years are literal. */
function utc(year: number, month: number, day = 1, hour = 0, minute = 0, second = 0): number {
  const d = new Date(Date.UTC(2000, month, day, hour, minute, second));
  d.setUTCFullYear(year + d.getUTCFullYear() - 2000);
  return d.getTime();
}

/** Days in a month (0–11) of a literal year (years 0–99 are not the 1900s). */
export function daysInMonth(year: number, month: number): number {
  return new Date(utc(year, month + 1, 1) - DAY_MS).getUTCDate();
}

/** [startMs, endMs] for a FHIR date, dateTime or instant; undefined when it is not one. */
export function dateRange(value: string): [number, number] | undefined {
  const m = DATE.exec(value.trim());
  if (!m) {
    return undefined;
  }
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  if (mo === undefined) {
    return [utc(year, 0), utc(year + 1, 0) - 1];
  }
  const month = Number(mo) - 1;
  if (month < 0 || month > 11) {
    return undefined;
  }
  if (d === undefined) {
    return [utc(year, month), utc(year, month + 1) - 1];
  }
  const day = Number(d);
  if (day < 1 || day > daysInMonth(year, month)) {
    return undefined;
  }
  if (h === undefined || mi === undefined) {
    const start = utc(year, month, day);
    return [start, start + DAY_MS - 1];
  }
  const hour = Number(h);
  const minute = Number(mi);
  const second = s === undefined ? 0 : Number(s);
  if (hour > 24 || minute > 59 || second > 60) {
    return undefined;
  }
  const offsetMinutes = !zone || zone === 'Z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  const start = utc(year, month, day, hour, minute, second) - offsetMinutes * 60_000;
  if (!Number.isFinite(start)) {
    return undefined;
  }
  if (frac !== undefined) {
    const ms = start + Number(frac.padEnd(3, '0').slice(0, 3));
    return [ms, ms];
  }
  return s === undefined ? [start, start + 60_000 - 1] : [start, start + 999];
}
