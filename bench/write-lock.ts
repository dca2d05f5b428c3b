// The SQLite write lock's use so far, as a server's /metrics sums it over its workers
// (carebridge_sqlite_write_lock_*): the benchmarks read it before and after a run.

export interface WriteLockReading {
  /** Seconds held. */
  held: number;
  /** Seconds waited for another process to let go of it. */
  waited: number;
  transactions: number;
}

/** Undefined when the server has none (PostgreSQL) or the scrape was refused. `token`: an admin's. */
export async function readWriteLock(baseUrl: string, token: string): Promise<WriteLockReading | undefined> {
  const response = await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const text = await response.text();
  const value = (name: string): number | undefined => {
    const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    return match ? Number(match[1]) : undefined;
  };
  const held = value('carebridge_sqlite_write_lock_held_seconds_total');
  return response.ok && held !== undefined ? { held, waited: value('carebridge_sqlite_write_lock_wait_seconds_total') ?? 0, transactions: value('carebridge_sqlite_write_transactions_total') ?? 0 } : undefined;
}
