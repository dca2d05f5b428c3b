// Runs store searches straight on a SQLite file and keeps each statement with its query plan, for
// tests that check which index a search drives from.
import Database from 'better-sqlite3';
import type { SqlExecutor } from '../../src/store/sql/executor.ts';

export interface PlannedStatement {
  sql: string;
  /** EXPLAIN QUERY PLAN's details, one line each. */
  plan: string;
}

/** A read-only executor on `file` that records what it runs; close it after use. */
export function explainingExecutor(file: string): { db: SqlExecutor; statements: PlannedStatement[]; close: () => void } {
  const sqlite = new Database(file, { readonly: true });
  const statements: PlannedStatement[] = [];
  const db: SqlExecutor = {
    dialect: 'sqlite',
    all: async <T>(sql: string, params: readonly unknown[] = []) => {
      statements.push({ sql, plan: (sqlite.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((p) => p.detail).join('\n') });
      return sqlite.prepare(sql).all(...params) as T[];
    },
    run: async () => ({ changes: 0 }),
  };
  return { db, statements, close: () => sqlite.close() };
}
