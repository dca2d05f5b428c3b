// The embedded default: one SQLite file (WAL). Writes go through one connection, one transaction
// at a time (SQLite has a single writer; BEGIN IMMEDIATE also serialises other processes on the
// same file); reads use a second connection and see only committed data.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { StoreCaller } from '../access.ts';
import { claimAssertionSql, claimSigningKeySql } from '../sql/auth-sql.ts';
import { RetryableConflict } from '../sql/executor.ts';
import type { SqlExecutor } from '../sql/executor.ts';
import { AUDIT_TERM_FUNCTION, auditReferenceTerm } from '../sql/audit-terms.ts';
import { migrate } from '../sql/schema.ts';
import { SqlStore } from '../sql/sql-store.ts';
import { SqlTransaction } from '../sql/sql-transaction.ts';

/** Prepared statements kept per connection; search builds many shapes, so the cache is bounded. */
const STATEMENT_CACHE_SIZE = 500;
/**
 * What SQLite itself may wait for a lock (a transient one clears in that). The other process's
 * write lock is waited for from JS (beginWrite): a group commit holds it for several requests,
 * and a process asleep in SQLite's busy handler cannot validate its next requests meanwhile.
 */
const SYNC_LOCK_WAIT_MS = 1;
/** Longest pause between two tries for the write lock (the lock stays idle for up to this long). */
const MAX_LOCK_POLL_MS = 4;
/**
 * 10,000 pages of 4 kB: with one process writing, the WAL stays under ~40 MB whatever the load.
 * Two processes writing without a pause (the push benchmark, 2 workers) keep it from starting
 * over for a while: it reached 677 MB there. Once it starts over, the file is trimmed back to
 * WAL_SIZE_LIMIT (without a limit SQLite keeps the file at its largest size).
 */
const WAL_CHECKPOINT_PAGES = 10_000;
const WAL_SIZE_LIMIT = 64 * 1024 * 1024;
/** How often the WAL is checkpointed into the database file (PASSIVE: it never blocks the writer). */
const CHECKPOINT_INTERVAL_MS = 1000;
/** A transaction the application asks to run again (RetryableConflict) gets three tries. */
const MAX_ATTEMPTS = 3;
/**
 * At most this many queued write transactions share one SQLite transaction (group commit, see
 * commitGroup): enough to amortize a COMMIT, few enough that no response waits long for the others.
 */
const MAX_GROUP = 16;

/** A write transaction waiting for its turn: it runs in its own SAVEPOINT of a shared transaction. */
interface GroupMember {
  work: (db: SqliteExecutor) => Promise<unknown>;
  /** Tries when the work throws RetryableConflict. */
  attempts: number;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

class SqliteExecutor implements SqlExecutor {
  readonly dialect = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(db: Database.Database) {
    this.db = db;
  }

  private prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      if (this.statements.size >= STATEMENT_CACHE_SIZE) {
        this.statements.delete(this.statements.keys().next().value as string);
      }
      this.statements.set(sql, statement);
    }
    return statement;
  }

  async all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const statement = this.prepare(sql);
    return statement.reader ? (statement.all(...params) as T[]) : (statement.run(...params), []);
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<{ changes: number }> {
    const statement = this.prepare(sql);
    if (statement.reader) {
      statement.all(...params);
      return { changes: 0 };
    }
    return { changes: statement.run(...params).changes };
  }

  exec(sql: string): void {
    this.db.exec(sql);
  }
}

/**
 * How this process used the write lock that every process on the file shares (BEGIN IMMEDIATE to
 * COMMIT or ROLLBACK): /metrics sums it over the workers. Held time over elapsed time is how busy
 * the lock is; near 1, more workers cannot write faster (README, "Health and metrics"). A COMMIT
 * that passes WAL_CHECKPOINT_PAGES checkpoints after it has let go of the lock, inside the same
 * call: that time counts as held, so under two busy writers the sum can pass the elapsed time.
 */
export interface WriteLockUsage {
  heldSeconds: number;
  /** Waiting for another process to let go of it (this process's own queue is not counted). */
  waitedSeconds: number;
  /** SQLite write transactions: a group commit of several requests counts once. */
  transactions: number;
}

export interface SqliteStoreOptions {
  /** Milliseconds to wait for another process's write lock before failing. */
  busyTimeoutMs?: number;
  now?: () => Date;
}

export class SqliteStore extends SqlStore {
  readonly kind = 'sqlite' as const;
  private readonly writerDb: Database.Database;
  private readonly readerDb: Database.Database;
  private readonly writer: SqliteExecutor;
  private checkpointer: Worker | undefined;
  private readonly lockTimeoutMs: number;
  /** Tail of the queue of write transactions. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Write transactions waiting to join the next group commit. */
  private pending: GroupMember[] = [];
  private readonly lockUsage = { heldMs: 0, waitedMs: 0, transactions: 0 };
  /** performance.now() when this process took the write lock; undefined while it does not hold it. */
  private lockedAt: number | undefined;

  private constructor(path: string, options: SqliteStoreOptions) {
    const writerDb = new Database(path);
    const timeout = options.busyTimeoutMs ?? 10_000;
    writerDb.pragma('journal_mode = WAL');
    writerDb.pragma('synchronous = NORMAL');
    // Each member of a group commit runs in a SAVEPOINT, whose journal (the pages as they were
    // before it) would otherwise spill to a temporary file: ~2 MB of writes per ingest Bundle.
    writerDb.pragma('temp_store = MEMORY');
    // Waiting for another process's write lock inside SQLite sleeps synchronously (up to 100 ms a
    // round), stalling every request of this process: wait there only briefly, then from JS
    // (beginWrite), so reads keep being served meanwhile.
    writerDb.pragma(`busy_timeout = ${SYNC_LOCK_WAIT_MS}`);
    // Migration 14 computes the audit trail's terms of the rows stored before it.
    writerDb.function(AUDIT_TERM_FUNCTION, { deterministic: true }, (code: unknown, targetId: unknown) => auditReferenceTerm(String(code), String(targetId)));
    // Checkpoints run in a worker thread (checkpointer.ts), not at COMMIT on the request path. The
    // writer still checkpoints when the WAL passes WAL_CHECKPOINT_PAGES: under a steady stream of
    // writes the thread's PASSIVE checkpoints never reach the end of the WAL, so it is never reset;
    // the writer's own checkpoint then finds most pages already copied, and restarts it — when it
    // is the only writer (see WAL_CHECKPOINT_PAGES).
    if (path !== ':memory:') {
      writerDb.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
      writerDb.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
    }
    const readerDb = new Database(path);
    readerDb.pragma(`busy_timeout = ${Math.floor(timeout)}`);
    const reader = new SqliteExecutor(readerDb);
    super(reader, options.now);
    this.writerDb = writerDb;
    this.readerDb = readerDb;
    this.writer = new SqliteExecutor(writerDb);
    this.lockTimeoutMs = timeout;
  }

  /** Opens (creating the folder and file if needed) and migrates. */
  static async open(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true });
    }
    const store = new SqliteStore(path, options);
    if (path !== ':memory:') {
      store.checkpointer = new Worker(new URL('./checkpointer.ts', import.meta.url), { workerData: { path, intervalMs: CHECKPOINT_INTERVAL_MS } });
      // It must not keep a process alive that has nothing else to do.
      store.checkpointer.unref();
    }
    store.migration = await migrate(store.writer, (work) => store.serialized(() => store.inTransaction(work)));
    // Refresh the planner's statistics where they are stale (cheap; SQLite's advice at open).
    store.writer.exec('PRAGMA optimize=0x10002');
    await store.dropValueStatistics();
    return store;
  }

  /**
   * better-sqlite3's SQLite keeps STAT4 samples (per-value statistics) when it analyzes: a
   * statement whose plan may depend on a bound value is then prepared again each time that value
   * changes — a search for another patient, each deferred index row —, ~8 % of an audited
   * search's CPU here. The queries are shaped to drive from the right index without them; the row
   * counts of sqlite_stat1 stay. Dropping the table changes the schema, so every connection (of
   * every process) reloads its statistics without the samples.
   */
  private async dropValueStatistics(): Promise<void> {
    const exists = await this.writer.all("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_stat4'");
    if (exists.length > 0) {
      await this.serialized(() => this.inTransaction((db) => db.run('DROP TABLE IF EXISTS sqlite_stat4')));
      // This connection keeps the samples it loaded until it reads the statistics again (which
      // leaves an empty sqlite_stat4 behind: no samples, nothing to re-prepare for).
      this.writer.exec('ANALYZE sqlite_schema');
    }
  }

  writeLockUsage(): WriteLockUsage {
    const holding = this.lockedAt === undefined ? 0 : performance.now() - this.lockedAt;
    return { heldSeconds: (this.lockUsage.heldMs + holding) / 1000, waitedSeconds: this.lockUsage.waitedMs / 1000, transactions: this.lockUsage.transactions };
  }

  /** BEGIN IMMEDIATE, retried asynchronously while another process holds the write lock. */
  private async beginWrite(): Promise<void> {
    const asked = performance.now();
    const deadline = Date.now() + this.lockTimeoutMs;
    for (let wait = 1; ; wait = Math.min(wait * 2, MAX_LOCK_POLL_MS)) {
      try {
        this.writer.exec('BEGIN IMMEDIATE');
        this.lockedAt = performance.now();
        this.lockUsage.waitedMs += this.lockedAt - asked;
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) {
          this.lockUsage.waitedMs += performance.now() - asked;
          throw err;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** After COMMIT or ROLLBACK (or SQLite's own rollback): the lock is free again. */
  private endWrite(): void {
    if (this.lockedAt !== undefined && !this.writerDb.inTransaction) {
      this.lockUsage.heldMs += performance.now() - this.lockedAt;
      this.lockUsage.transactions++;
      this.lockedAt = undefined;
    }
  }

  private async inTransaction<T>(work: (db: SqliteExecutor) => Promise<T>): Promise<T> {
    await this.beginWrite();
    try {
      const result = await work(this.writer);
      this.writer.exec('COMMIT');
      return result;
    } catch (err) {
      this.writer.exec('ROLLBACK');
      throw err;
    } finally {
      this.endWrite();
    }
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Group commit: the write transactions queued while this process waited for its turn (or for
   * the write lock, which every server process on the file shares) run one after another in one
   * SQLite transaction, each in its own SAVEPOINT, and share one COMMIT. A COMMIT writes every page
   * the transaction changed to the WAL: most of an ingest Bundle's pages (the right edges of the
   * resource, history and owner indexes) are the same pages for the next Bundle, and the lock
   * changes hands once per group instead of once per request. Each member stays all-or-nothing: a
   * member that fails is rolled back to its savepoint and fails alone; the others commit. Nobody
   * is answered before the COMMIT, so nothing uncommitted is ever reported as written.
   */
  private grouped<T>(work: (db: SqliteExecutor) => Promise<T>, attempts = 1): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, attempts, resolve: resolve as (value: unknown) => void, reject });
      if (this.pending.length === 1) {
        void this.serialized(() => this.commitGroup());
      }
    });
  }

  private async commitGroup(): Promise<void> {
    if (this.pending.length === 0) {
      return; // an earlier group took them
    }
    // Requests whose bodies arrived in this turn of the event loop are validated and join first.
    await new Promise((resolve) => setImmediate(resolve));
    try {
      await this.beginWrite();
    } catch (err) {
      this.pending.splice(0).forEach((member) => member.reject(err));
      return;
    }
    // Taken once the lock is ours: what was queued while waiting for it joins.
    const members = this.pending.splice(0, MAX_GROUP);
    this.scheduleLeftovers();
    const outcomes: { member: GroupMember; ok: boolean; value: unknown }[] = [];
    try {
      for (const [index, member] of members.entries()) {
        const outcome = await this.runMember(member);
        if (!this.writerDb.inTransaction) {
          // SQLite rolled back the whole transaction (disk full, I/O error): what the members
          // before wrote is gone too. The failed ones fail; the others run again in a new one.
          this.endWrite();
          member.reject(outcome.value);
          outcomes.filter((o) => !o.ok).forEach((o) => o.member.reject(o.value));
          this.pending.unshift(...outcomes.filter((o) => o.ok).map((o) => o.member), ...members.slice(index + 1));
          this.scheduleLeftovers();
          return;
        }
        outcomes.push({ member, ...outcome });
      }
      this.writer.exec('COMMIT');
      this.endWrite();
    } catch (err) {
      // COMMIT (or a savepoint statement) failed: nothing of the group is written.
      if (this.writerDb.inTransaction) {
        this.writer.exec('ROLLBACK');
      }
      this.endWrite();
      members.forEach((member) => member.reject(err));
      return;
    }
    // Answered once the lock is counted free (endWrite, right after COMMIT).
    outcomes.forEach(({ member, ok, value }) => (ok ? member.resolve(value) : member.reject(value)));
  }

  /** One member in its savepoint: its writes are kept, or rolled back alone. */
  private async runMember(member: GroupMember): Promise<{ ok: boolean; value: unknown }> {
    for (let attempt = 1; ; attempt++) {
      this.writer.exec('SAVEPOINT member');
      try {
        const value = await member.work(this.writer);
        this.writer.exec('RELEASE member');
        return { ok: true, value };
      } catch (err) {
        if (!this.writerDb.inTransaction) {
          return { ok: false, value: err };
        }
        this.writer.exec('ROLLBACK TO member');
        this.writer.exec('RELEASE member');
        if (!(err instanceof RetryableConflict) || attempt >= member.attempts) {
          return { ok: false, value: err };
        }
      }
    }
  }

  /** A group takes at most MAX_GROUP members: the rest form the next one. */
  private scheduleLeftovers(): void {
    if (this.pending.length > 0) {
      void this.serialized(() => this.commitGroup());
    }
  }

  override runTransaction<T>(caller: StoreCaller | undefined, work: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    return this.grouped(async (db) => {
      const tx = new SqlTransaction(db, this.clock, caller, this.settings);
      const result = await work(tx);
      await tx.finish();
      return result;
    }, MAX_ATTEMPTS);
  }

  /** Outbox and lease bookkeeping join group commits too: a wake-up that arrives during a claim is kept (dispatcher.ts). */
  protected override withWriter<T>(work: (db: SqlExecutor) => Promise<T>): Promise<T> {
    return this.grouped(work);
  }

  override claimAssertion(clientId: string, jti: string, expiresMs: number): Promise<boolean> {
    return this.grouped((db) => claimAssertionSql(db, clientId, jti, expiresMs, this.clock().getTime()));
  }

  override claimSigningKey(name: string, candidate: string): Promise<string> {
    return this.grouped((db) => claimSigningKeySql(db, name, candidate, this.clock().toISOString()));
  }

  override async close(): Promise<void> {
    await this.queue;
    const checkpointer = this.checkpointer;
    if (checkpointer) {
      // Held until it has closed its connection (unref'd, it would let the process exit mid-close).
      checkpointer.ref();
      await new Promise<void>((resolve) => {
        checkpointer.once('exit', () => resolve());
        checkpointer.postMessage('close');
      });
      this.checkpointer = undefined;
    }
    this.readerDb.close();
    this.writerDb.close();
  }
}
