// carebridge outbox prune: the outbox retention job's run, now, from the command line (after an
// upgrade, or with retention turned off in the server). Same lease as the server's job, so the
// two never run at once; same batches, so a running server's writes go in between.
import { ConfigError, loadConfig } from '../config/config.ts';
import type { OutboxRetentionConfig } from '../config/outbox.ts';
import { DEFAULT_OUTBOX } from '../config/outbox.ts';
import { DEFAULT_DATABASE } from '../store/open-store.ts';
import { RetentionJob } from '../sync/outbox/retention-job.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, exitCodes } from './exit-codes.ts';
import type { Io } from './output.ts';
import { withCommandStore } from './store-access.ts';

export const OUTBOX_PRUNE_HELP = `Usage: carebridge outbox prune [--older-than <days>] [--json]

Deletes the delivered and superseded deliveries settled more than <days> ago, as the server's
retention job does (config outbox.retention): in batches, one instance at a time, a Subscription's
last keepEvents events kept for $events. Pending and dead deliveries are never deleted; the
delivered and superseded totals of carebridge outbox stay as they are.
Options:
  --older-than <days>  whole days, 1 or more (default: outbox.retention.deliveredDays of
                       CAREBRIDGE_CONFIG, else ${DEFAULT_OUTBOX.retention.deliveredDays})
  --json               print { deleted, batches }
Environment: CAREBRIDGE_CONFIG (optional), CAREBRIDGE_DATABASE (default ${DEFAULT_DATABASE}).
${exitCodes({ ok: 'pruned (perhaps nothing)', failed: 'another instance is pruning, the config is wrong, or the store failed', unreachable: 'the store cannot be reached' })}`;

export interface OutboxPruneFlags {
  olderThan?: string;
  json?: boolean;
}

export async function runOutboxPrune(flags: OutboxPruneFlags, io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (flags.olderThan !== undefined && !/^[1-9]\d{0,3}$/.test(flags.olderThan)) {
    io.err(`--older-than must be a whole number of days from 1 to 9999\n\n${OUTBOX_PRUNE_HELP}`);
    return EXIT_USAGE;
  }
  let retention: OutboxRetentionConfig = DEFAULT_OUTBOX.retention;
  if (env.CAREBRIDGE_CONFIG) {
    try {
      retention = loadConfig(env.CAREBRIDGE_CONFIG).outbox.retention;
    } catch (err) {
      io.err(err instanceof ConfigError ? err.message : `Cannot read the config: ${(err as Error).message}`);
      return EXIT_FAILED;
    }
  }
  const deliveredDays = flags.olderThan !== undefined ? Number(flags.olderThan) : retention.deliveredDays;
  return withCommandStore(io, env, async (store) => {
    const run = await new RetentionJob({ store, retention: { ...retention, enabled: true, deliveredDays } }).trigger();
    if (run.outcome !== 'pruned') {
      io.err('Another instance is pruning the outbox now; try again later.');
      return EXIT_FAILED;
    }
    const { deleted, batches } = run.result;
    io.out(flags.json ? JSON.stringify({ deleted, batches }) : `Deleted ${deleted} deliver${deleted === 1 ? 'y' : 'ies'} settled more than ${deliveredDays} day${deliveredDays === 1 ? '' : 's'} ago.`);
    return EXIT_OK;
  });
}
