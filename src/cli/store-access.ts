// How every command that works on the store opens it: CAREBRIDGE_DATABASE (or the default file),
// with one answer for each way it can fail — a malformed setting is bad usage (2), a database that
// cannot be reached is worth retrying (3), anything else failed (1).
import { DEFAULT_DATABASE, openStore } from '../store/open-store.ts';
import type { OpenedStore } from '../store/open-store.ts';
import { EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE, isUnreachable } from './exit-codes.ts';
import type { Io } from './output.ts';

export type StoreOpening = { store: OpenedStore; exit?: undefined } | { store?: undefined; exit: number };

/** The database the environment names, for messages: a password in a URL is never shown. */
export function describeDatabase(database: string): string {
  return database.replace(/\/\/[^@/]*@/, '//***@');
}

export async function openCommandStore(io: Io, env: NodeJS.ProcessEnv): Promise<StoreOpening> {
  const database = env.CAREBRIDGE_DATABASE || DEFAULT_DATABASE;
  if (!/^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(database)) {
    io.err(`CAREBRIDGE_DATABASE must be sqlite:<path> or a postgres:// URL, not "${describeDatabase(database)}"`);
    return { exit: EXIT_USAGE };
  }
  try {
    return { store: await openStore(database) };
  } catch (err) {
    const unreachable = isUnreachable(err);
    io.err(`Cannot ${unreachable ? 'reach' : 'open'} the store ${describeDatabase(database)}: ${(err as Error).message}`);
    return { exit: unreachable ? EXIT_UNREACHABLE : EXIT_FAILED };
  }
}

/** Runs `work` on the store, closing it after; the exit code of a store that could not be opened otherwise. */
export async function withCommandStore(io: Io, env: NodeJS.ProcessEnv, work: (store: OpenedStore) => Promise<number>): Promise<number> {
  const opened = await openCommandStore(io, env);
  if (!opened.store) {
    return opened.exit;
  }
  try {
    return await work(opened.store);
  } finally {
    await opened.store.close();
  }
}
