// The SQL behind AuthStore, shared by both adapters (run inside one of their write transactions).
import type { SqlExecutor } from './executor.ts';

/** Inserts the (client, jti) pair unless present; prunes expired pairs first. */
export async function claimAssertionSql(db: SqlExecutor, clientId: string, jti: string, expiresMs: number, nowMs: number): Promise<boolean> {
  // Pruning by the index on expires_ms is cheap; a pruned jti belongs to an assertion that has
  // expired, which the token endpoint refuses before it gets here.
  await db.run('DELETE FROM auth_assertions WHERE expires_ms < ?', [nowMs]);
  const { changes } = await db.run('INSERT INTO auth_assertions (client_id, jti, expires_ms) VALUES (?, ?, ?) ON CONFLICT (client_id, jti) DO NOTHING', [clientId, jti, expiresMs]);
  return changes === 1;
}

export async function claimSigningKeySql(db: SqlExecutor, name: string, candidate: string, now: string): Promise<string> {
  await db.run('INSERT INTO auth_keys (name, key_json, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING', [name, candidate, now]);
  const rows = await db.all<{ key_json: string }>('SELECT key_json FROM auth_keys WHERE name = ?', [name]);
  return rows[0]?.key_json ?? candidate;
}
