// PostgreSQL, for running several carebridge instances on one database. Transactions take a
// pooled connection; row locks (SELECT … FOR UPDATE) and the conditional-create key serialise
// concurrent writers; serialization failures and deadlocks are retried.
import pg from 'pg';
import type { StoreCaller } from '../access.ts';
import { claimAssertionSql, claimSigningKeySql } from '../sql/auth-sql.ts';
import { RetryableConflict } from '../sql/executor.ts';
import type { SqlExecutor } from '../sql/executor.ts';
import { migrate } from '../sql/schema.ts';
import { SqlStore } from '../sql/sql-store.ts';
import { SqlTransaction } from '../sql/sql-transaction.ts';

/** Three tries: a deadlock between two transactions resolves on the second. */
const MAX_ATTEMPTS = 3;
/**
 * Serialization failure, deadlock, and unique violation: two transactions creating the same
 * new id (PUT as create) race past each other's FOR UPDATE (no row to lock yet); the retry
 * reads the winner's row and writes the next version.
 */
const RETRYABLE = new Set(['40001', '40P01', '23505']);
/** Any number: the key of the advisory lock that lets one instance at a time migrate. */
const MIGRATION_LOCK = 727_274_001;

const placeholderCache = new Map<string, string>();

/** `?` → `$1, $2, …` (our SQL never has a `?` inside a literal). */
function numbered(sql: string): string {
  let out = placeholderCache.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/\?/g, () => `$${++n}`);
    if (placeholderCache.size > 2000) {
      placeholderCache.clear();
    }
    placeholderCache.set(sql, out);
  }
  return out;
}

class PgExecutor implements SqlExecutor {
  readonly dialect = 'postgres' as const;
  private readonly client: pg.Pool | pg.PoolClient;

  constructor(client: pg.Pool | pg.PoolClient) {
    this.client = client;
  }

  async all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const result = await this.client.query(numbered(sql), params as unknown[]);
    return result.rows as T[];
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<{ changes: number }> {
    const result = await this.client.query(numbered(sql), params as unknown[]);
    return { changes: result.rowCount ?? 0 };
  }
}

export interface PostgresStoreOptions {
  /** Schema to keep carebridge's tables in (created if missing); default "public". */
  schema?: string;
  poolSize?: number;
  now?: () => Date;
}

export class PostgresStore extends SqlStore {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;

  private constructor(pool: pg.Pool, options: PostgresStoreOptions) {
    const reader = new PgExecutor(pool);
    super(reader, options.now);
    this.pool = pool;
  }

  static async open(connectionString: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const schema = options.schema ?? 'public';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new Error(`Invalid PostgreSQL schema name "${schema}"`);
    }
    const pool = new pg.Pool({ connectionString, max: options.poolSize ?? 10, options: `-c search_path=${schema}` });
    pool.on('error', () => undefined); // an idle client's error surfaces on its next query
    const store = new PostgresStore(pool, options);
    // One transaction under an advisory lock: instances starting together migrate one at a time
    // (PostgreSQL's DDL is transactional, so a failed migration leaves nothing behind).
    store.migration = await store.withClient(async (db) => {
      await db.run('SELECT pg_advisory_xact_lock(?)', [MIGRATION_LOCK]);
      await db.run(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      return migrate(db, (work) => work(db));
    });
    return store;
  }

  private async withClient<T>(work: (db: PgExecutor) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      try {
        await client.query('BEGIN');
        const result = await work(new PgExecutor(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        const code = (err as { code?: string }).code;
        if (attempt < MAX_ATTEMPTS && ((code !== undefined && RETRYABLE.has(code)) || err instanceof RetryableConflict)) {
          continue;
        }
        throw err;
      } finally {
        client.release();
      }
    }
  }

  override runTransaction<T>(caller: StoreCaller | undefined, work: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    return this.withClient(async (db) => {
      const tx = new SqlTransaction(db, this.clock, caller, this.settings);
      const result = await work(tx);
      await tx.finish();
      return result;
    });
  }


  protected override withWriter<T>(work: (db: SqlExecutor) => Promise<T>): Promise<T> {
    return this.withClient(work);
  }

  override claimAssertion(clientId: string, jti: string, expiresMs: number): Promise<boolean> {
    return this.withClient((db) => claimAssertionSql(db, clientId, jti, expiresMs, this.clock().getTime()));
  }

  override claimSigningKey(name: string, candidate: string): Promise<string> {
    return this.withClient((db) => claimSigningKeySql(db, name, candidate, this.clock().toISOString()));
  }

  /** Drops the schema and everything in it: for test runs that own their schema. */
  async dropSchema(schema: string): Promise<void> {
    await this.pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  }

  override async close(): Promise<void> {
    await this.pool.end();
  }
}
