// One table of exit codes for every carebridge command, so a script or a container orchestrator
// can tell "the input is wrong" (do not retry) from "the database or a peer is away" (retry later).

export const EXIT_OK = 0;
/** The input has errors, or the operation failed (an invalid plan, a failed poll, nothing to replay). */
export const EXIT_FAILED = 1;
/** Bad usage: an unknown command or option, a missing or malformed argument or setting. */
export const EXIT_USAGE = 2;
/** The store (CAREBRIDGE_DATABASE) or a peer could not be reached: trying again later may work. */
export const EXIT_UNREACHABLE = 3;

export const EXIT_CODES_TABLE = `Exit codes (the same for every command):
  0  success
  1  the input has errors, or the operation failed
  2  bad usage: an unknown command or option, a missing or malformed argument
  3  cannot reach the store (CAREBRIDGE_DATABASE) or a peer: try again later`;

/**
 * A command's own "Exit codes:" line, in the words of that command but always in the shared
 * table's sense (2 is always bad usage): `exitCodes({ ok: 'shown', unreachable: 'the store cannot be opened' })`.
 */
export function exitCodes(meanings: { ok: string; failed?: string; unreachable?: string }): string {
  const parts = [`0 ${meanings.ok}`, ...(meanings.failed ? [`1 ${meanings.failed}`] : []), '2 bad usage', ...(meanings.unreachable ? [`3 ${meanings.unreachable}`] : [])];
  return `Exit codes: ${parts.join(', ')}.`;
}

/** Error codes that mean the database was not reached (not that it refused what we asked). */
const UNREACHABLE_CODES = new Set([
  // Network, DNS and file system.
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOENT',
  // SQLite: the file cannot be opened, or another process holds the lock past the timeout.
  'SQLITE_CANTOPEN',
  'SQLITE_BUSY',
  'SQLITE_READONLY',
  'SQLITE_PERM',
  // PostgreSQL (SQLSTATE): authentication, no such database, the server starting or shutting down.
  '28000',
  '28P01',
  '3D000',
  '57P01',
  '57P03',
  '53300',
]);

/** Whether opening the store failed because the database could not be reached (exit 3), not because of what it holds (exit 1). */
export function isUnreachable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) {
    return true;
  }
  // node-postgres says "Connection terminated unexpectedly" / "timeout exceeded when trying to connect" without a code.
  return err instanceof Error && /Connection terminated|timeout exceeded when trying to connect/i.test(err.message);
}
