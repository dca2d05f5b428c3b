// The transitional-care clock's settings (config file `clock`): which days are holidays and each
// hospital's time zone. Defaults: the US federal holidays, and the UTC offset a discharge time was
// written with when a hospital has no zone configured (correct on the discharge day; a DST change
// within the 30 days then shifts that hospital's due times by an hour: configure the zone).
import type { Identifier } from '@medplum/fhirtypes';
import type { ClockRules, Day, HolidayCalendar } from '../workflow/tcm-clock.ts';
import type { ClockRulesOf } from '../workflow/transition-deadlines.ts';
import { US_FEDERAL, isKnownTimeZone } from '../workflow/tcm-clock.ts';

export interface ClockConfigInput {
  holidays?: { base?: 'us-federal' | 'none'; add?: Day[]; remove?: Day[] };
  /** IANA zone of every hospital not listed in `hospitals`. */
  timeZone?: string;
  /** A hospital's zone, by its organization identifier (the plan's dischargingOrganization). */
  hospitals?: { identifier: { system: string; value: string }; timeZone: string }[];
  /** node-cron schedule of the overdue sweep (default every 5 minutes). */
  sweepSchedule?: string;
}

export interface ClockConfig {
  holidays: HolidayCalendar;
  timeZone?: string;
  hospitals: Map<string, string>;
  sweepSchedule: string;
}

/** Every five minutes: a deadline ends at local midnight; its coordinator hears of it within minutes. */
export const DEFAULT_SWEEP_SCHEDULE = '*/5 * * * *';

export function clockProblems(input: ClockConfigInput | undefined): string[] {
  const problems: string[] = [];
  if (input?.timeZone !== undefined && !isKnownTimeZone(input.timeZone)) {
    problems.push(`/clock/timeZone: "${input.timeZone}" is not an IANA time zone`);
  }
  input?.hospitals?.forEach((h, i) => {
    if (!isKnownTimeZone(h.timeZone)) {
      problems.push(`/clock/hospitals/${i}/timeZone: "${h.timeZone}" is not an IANA time zone`);
    }
  });
  return problems;
}

export function withClockDefaults(input: ClockConfigInput | undefined): ClockConfig {
  return {
    holidays: { base: input?.holidays?.base ?? 'us-federal', add: input?.holidays?.add ?? [], remove: input?.holidays?.remove ?? [] },
    timeZone: input?.timeZone,
    hospitals: new Map((input?.hospitals ?? []).map((h) => [`${h.identifier.system}|${h.identifier.value}`, h.timeZone])),
    sweepSchedule: input?.sweepSchedule ?? DEFAULT_SWEEP_SCHEDULE,
  };
}

export const DEFAULT_CLOCK: ClockConfig = { holidays: US_FEDERAL, hospitals: new Map(), sweepSchedule: DEFAULT_SWEEP_SCHEDULE };

/** The clock rules of the hospital with this organization identifier. */
export function clockRulesFor(config: ClockConfig, hospital: { system?: string; value?: string } | undefined): ClockRules {
  const zone = (hospital ? config.hospitals.get(`${hospital.system ?? ''}|${hospital.value ?? ''}`) : undefined) ?? config.timeZone;
  return { calendar: config.holidays, ...(zone ? { zone: { name: zone } } : {}) };
}

/** The clock rules of a hospital known by any of its identifiers (the write path's deadline rule asks with the stored Organization's). */
export function clockRulesOf(config: ClockConfig = DEFAULT_CLOCK): ClockRulesOf {
  return (identifiers: readonly Identifier[]) => clockRulesFor(config, identifiers.find((i) => config.hospitals.has(`${i.system ?? ''}|${i.value ?? ''}`)));
}
