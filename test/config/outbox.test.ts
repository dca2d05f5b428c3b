import { describe, expect, it } from '@jest/globals';
import { ConfigError, parseConfig } from '../../src/config/config.ts';
import { DEFAULT_DELIVERED_DAYS, DEFAULT_KEEP_EVENTS, DEFAULT_RETENTION_SCHEDULE } from '../../src/config/outbox.ts';

describe('config outbox', () => {
  it('prunes by default: settled deliveries a week old, a Subscription\'s last 1,000 events kept, hourly', () => {
    expect(parseConfig({ clients: [] }).outbox).toEqual({ retention: { enabled: true, deliveredDays: DEFAULT_DELIVERED_DAYS, keepEvents: DEFAULT_KEEP_EVENTS, schedule: DEFAULT_RETENTION_SCHEDULE } });
    expect([DEFAULT_DELIVERED_DAYS, DEFAULT_KEEP_EVENTS, DEFAULT_RETENTION_SCHEDULE]).toEqual([7, 1000, '17 * * * *']);
  });

  it('takes what the file says, the rest from the defaults', () => {
    const { outbox } = parseConfig({ clients: [], outbox: { retention: { deliveredDays: 30, schedule: '5 3 * * *' } } });
    expect(outbox.retention).toEqual({ enabled: true, deliveredDays: 30, keepEvents: 1000, schedule: '5 3 * * *' });
    expect(parseConfig({ clients: [], outbox: { retention: { enabled: false } } }).outbox.retention.enabled).toBe(false);
  });

  it('refuses a retention under a day, a fraction, an unknown key and a schedule that is not cron, naming where', () => {
    const problems = (outbox: unknown): string[] => {
      try {
        parseConfig({ clients: [], outbox });
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(problems({ retention: { deliveredDays: 0 } })).toEqual(['/outbox/retention/deliveredDays: must be >= 1']);
    expect(problems({ retention: { deliveredDays: 1.5 } })).toEqual(['/outbox/retention/deliveredDays: must be integer']);
    expect(problems({ retention: { deadDays: 30 } })).toEqual(['/outbox/retention/deadDays: unknown key']);
    expect(problems({ retention: { schedule: 'every hour' } })).toEqual(['/outbox/retention/schedule: "every hour" is not a cron expression']);
    expect(() => parseConfig({ clients: [], outbox: { retention: { keepEvents: -1 } } })).toThrow(ConfigError);
  });
});
