import { describe, expect, it } from '@jest/globals';
import { DEFAULT_SWEEP_SCHEDULE, clockRulesFor } from '../../src/config/clock.ts';
import { ConfigError, parseConfig } from '../../src/config/config.ts';

describe('config clock', () => {
  it('defaults to the US federal holidays, no zone, a sweep every five minutes', () => {
    const { clock } = parseConfig({ clients: [] });
    expect(clock).toMatchObject({ holidays: { base: 'us-federal', add: [], remove: [] }, sweepSchedule: DEFAULT_SWEEP_SCHEDULE });
    expect(clockRulesFor(clock, { system: 's', value: 'v' }).zone).toBeUndefined();
  });

  it('gives each hospital its zone, and the others the default zone', () => {
    const { clock } = parseConfig({ clients: [], clock: { timeZone: 'America/Chicago', holidays: { base: 'none', add: ['2026-12-24'] }, hospitals: [{ identifier: { system: 's', value: 'h1' }, timeZone: 'America/Denver' }] } });
    expect(clockRulesFor(clock, { system: 's', value: 'h1' })).toEqual({ calendar: { base: 'none', add: ['2026-12-24'], remove: [] }, zone: { name: 'America/Denver' } });
    expect(clockRulesFor(clock, { system: 's', value: 'h2' }).zone).toEqual({ name: 'America/Chicago' });
  });

  it('refuses an unknown time zone and a malformed holiday, naming where', () => {
    expect(() => parseConfig({ clients: [], clock: { hospitals: [{ identifier: { system: 's', value: 'h' }, timeZone: 'Mars/Olympus' }] } })).toThrow(/\/clock\/hospitals\/0\/timeZone: "Mars\/Olympus" is not an IANA time zone/);
    expect(() => parseConfig({ clients: [], clock: { holidays: { add: ['24/12/2026'] } } })).toThrow(ConfigError);
  });
});
