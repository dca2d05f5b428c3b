// The little a store needs from a SQL connection. Statements are written once with `?`
// placeholders; the PostgreSQL adapter numbers them ($1, $2, ...).
export type Dialect = 'sqlite' | 'postgres';

export interface SqlExecutor {
  readonly dialect: Dialect;
  all<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  run(sql: string, params?: readonly unknown[]): Promise<{ changes: number }>;
}

/** Thrown by an adapter when the database refused a write for a reason worth one more try. */
export class RetryableConflict extends Error {}
