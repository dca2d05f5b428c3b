// The outbox's retention (config file `outbox.retention`): delivered and superseded deliveries
// are deleted some days after they were settled, by a background job on a cron schedule. Dead
// ones never are: they wait for an operator (carebridge replay). Pending ones are still owed.
import { createTask } from 'node-cron';

export interface OutboxRetentionInput {
  enabled?: boolean;
  deliveredDays?: number;
  keepEvents?: number;
  schedule?: string;
}

export interface OutboxRetentionConfig {
  /** false: nothing is pruned (the outbox keeps every row, and grows). */
  enabled: boolean;
  /** Delivered and superseded rows settled more than this many days ago go. */
  deliveredDays: number;
  /** A Subscription's last this-many events stay whatever their age ($events serves them again). */
  keepEvents: number;
  /** node-cron schedule (UTC) of the pruning job. */
  schedule: string;
}

export interface OutboxConfigInput {
  retention?: OutboxRetentionInput;
}

export interface OutboxConfig {
  retention: OutboxRetentionConfig;
}

/**
 * Seven days: an operator asked on Monday about Friday's delivery still finds it (carebridge
 * outbox --state delivered), and a subscriber back from a week away fills its gap with $events;
 * at 100,000 deliveries a day the table holds about 700,000 settled rows, not every row ever.
 */
export const DEFAULT_DELIVERED_DAYS = 7;
/**
 * A quiet Subscription's gap is found at its next event, maybe weeks later: its last 1,000 events
 * (ten $events pages) stay whatever their age. An active one's are inside the seven days anyway.
 */
export const DEFAULT_KEEP_EVENTS = 1000;
/** Hourly, off the hour: each run deletes about an hour's worth of rows, not a day's at once. */
export const DEFAULT_RETENTION_SCHEDULE = '17 * * * *';

export const DEFAULT_OUTBOX: OutboxConfig = { retention: { enabled: true, deliveredDays: DEFAULT_DELIVERED_DAYS, keepEvents: DEFAULT_KEEP_EVENTS, schedule: DEFAULT_RETENTION_SCHEDULE } };

/** Rules beyond the schema: the schedule is a cron expression node-cron runs. */
export function outboxProblems(input: OutboxConfigInput | undefined): string[] {
  const schedule = input?.retention?.schedule;
  if (schedule === undefined) {
    return [];
  }
  try {
    void createTask(schedule, () => undefined, { timezone: 'UTC' }).destroy();
    return [];
  } catch {
    return [`/outbox/retention/schedule: "${schedule}" is not a cron expression`];
  }
}

export function withOutboxDefaults(input: OutboxConfigInput | undefined): OutboxConfig {
  return { retention: { ...DEFAULT_OUTBOX.retention, ...input?.retention } };
}
