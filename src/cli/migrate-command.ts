// carebridge migrate: brings the store CAREBRIDGE_DATABASE names up to this version's schema and
// says from which version to which. Opening a store migrates it (serve does too, under a lock on
// PostgreSQL), so this is for doing it ahead of a deploy, or checking: a second run changes nothing.
import { DEFAULT_DATABASE } from '../store/open-store.ts';
import { EXIT_OK, exitCodes } from './exit-codes.ts';
import type { Io } from './output.ts';
import { describeDatabase, withCommandStore } from './store-access.ts';

export const MIGRATE_HELP = `Usage: carebridge migrate [--json]

Runs the store's schema migrations that have not run yet, each in its own transaction (on
PostgreSQL under an advisory lock, so instances starting meanwhile wait), and prints the schema
version before and after. Running it again changes nothing.
Options:
  --json   print { store, database, from, to, applied: [{ version, description }] }
Environment: CAREBRIDGE_DATABASE (default ${DEFAULT_DATABASE}).
${exitCodes({ ok: 'the schema is up to date', failed: 'a migration failed (nothing of it is kept)', unreachable: 'the store cannot be reached' })}`;

export function runMigrate(flags: { json?: boolean }, io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return withCommandStore(io, env, async (store) => {
    const { from, to, applied } = store.migration;
    if (flags.json) {
      io.out(JSON.stringify({ store: store.kind, database: describeDatabase(env.CAREBRIDGE_DATABASE || DEFAULT_DATABASE), from, to, applied }, null, 2));
    } else if (applied.length === 0) {
      io.out(`The ${store.kind} schema is up to date at version ${to}.`);
    } else {
      io.out(`Migrated the ${store.kind} schema from version ${from} to ${to}:`);
      for (const m of applied) {
        io.out(`  ${String(m.version).padStart(3)}  ${m.description}`);
      }
    }
    return EXIT_OK;
  });
}
