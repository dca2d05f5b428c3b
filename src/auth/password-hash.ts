// Board users' passwords, as the config file holds them: never the password, only an scrypt hash
// (node:crypto, RFC 7914) with its parameters and salt, "scrypt$N$r$p$<salt>$<key>" (base64url).
// The parameters are bounded when the config is read, so a hash cannot make a sign-in cost minutes.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { ScryptOptions } from 'node:crypto';

/** N = 2^15, r = 8, p = 1: ~32 MiB and ~0.1 s per hash on a server core (OWASP's floor is 2^17 at p=1; a board sign-in is rare, a flood of them is throttled). */
export const DEFAULT_SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** What a configured hash may ask for: at most 2^17 × 16 × 128 bytes = 256 MiB, once per sign-in. */
const MAX_LOG2_N = 17;
const MIN_LOG2_N = 14;
const MAX_R = 16;
const MAX_P = 4;

export interface PasswordHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

const FORMAT = /^scrypt\$(\d{1,7})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{16,128})\$([A-Za-z0-9_-]{32,128})$/;

/** Parses a stored hash; a problem (a sentence) when it is not one carebridge will check. */
export function parsePasswordHash(text: string): PasswordHash | string {
  const match = FORMAT.exec(text);
  if (!match) {
    return 'must be an scrypt hash "scrypt$N$r$p$salt$key" (carebridge board-user hash makes one), never a password';
  }
  const [N, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const log2 = Math.log2(N);
  if (!Number.isInteger(log2) || log2 < MIN_LOG2_N || log2 > MAX_LOG2_N) {
    return `scrypt N must be a power of two from 2^${MIN_LOG2_N} to 2^${MAX_LOG2_N}`;
  }
  if (r < 1 || r > MAX_R || p < 1 || p > MAX_P) {
    return `scrypt r must be 1 to ${MAX_R} and p 1 to ${MAX_P}`;
  }
  const salt = Buffer.from(match[4] as string, 'base64url');
  const key = Buffer.from(match[5] as string, 'base64url');
  if (salt.length < SALT_BYTES || key.length < KEY_BYTES) {
    return `the salt must have at least ${SALT_BYTES} bytes and the key ${KEY_BYTES}`;
  }
  return { N, r, p, salt, key };
}

function derive(password: string, salt: Buffer, length: number, params: { N: number; r: number; p: number }): Promise<Buffer> {
  // maxmem: scrypt needs 128·N·r bytes; Node's default (32 MiB) refuses N = 2^15, r = 8 by a hair.
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, length, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string, params: { N: number; r: number; p: number } = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, KEY_BYTES, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Whether `password` matches; the comparison takes the same time wherever the keys differ. */
export async function verifyPassword(password: string, hash: PasswordHash): Promise<boolean> {
  const key = await derive(password, hash.salt, hash.key.length, hash);
  return timingSafeEqual(key, hash.key);
}
