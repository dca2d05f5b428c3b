// The key carebridge signs its access tokens with. Every cluster worker and every instance on one
// database must verify every other's tokens, so they all need the same key:
//   1. CAREBRIDGE_TOKEN_KEY (the key itself) or CAREBRIDGE_TOKEN_KEY_FILE (a file holding it): a
//      private JWK as JSON, EC P-384 (ES384) or RSA of at least 2048 bits (RS384), with a `kid`.
//      For operators who keep keys in a secret store, and rotate by restarting with a new one.
//   2. Otherwise one is generated and kept in the store (auth_keys, migration 5); the first
//      instance to start writes it, the others read it. The database already holds every patient
//      record, so whoever can read it gains nothing more from this key than from the data; this
//      keeps `npm start` and a cluster working with no key management at all.
import { exportJWK, generateKeyPair, importJWK } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AuthStore } from '../store/auth-store.ts';

export type SigningAlg = 'ES384' | 'RS384';

export interface SigningKey {
  alg: SigningAlg;
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

/** The name the generated key is stored under. */
const STORED_KEY_NAME = 'access-token-signing';

/** A key in the environment that cannot be used: the message never quotes the key. */
export class SigningKeyError extends Error {}

function algOf(jwk: JWK, source: string): SigningAlg {
  if (jwk.kty === 'EC' && jwk.crv === 'P-384' && (jwk.alg === undefined || jwk.alg === 'ES384')) {
    return 'ES384';
  }
  if (jwk.kty === 'RSA' && (jwk.alg === undefined || jwk.alg === 'RS384')) {
    return 'RS384';
  }
  throw new SigningKeyError(`${source} must be an EC P-384 (ES384) or RSA (RS384) private JWK`);
}

/**
 * The private JWK from CAREBRIDGE_TOKEN_KEY or CAREBRIDGE_TOKEN_KEY_FILE, checked for shape only;
 * undefined when neither is set. Throws SigningKeyError (without the key's text) when unusable.
 */
export function signingJwkFromEnv(env: NodeJS.ProcessEnv): JWK | undefined {
  let text: string;
  let source: string;
  if (env.CAREBRIDGE_TOKEN_KEY && env.CAREBRIDGE_TOKEN_KEY_FILE) {
    throw new SigningKeyError('Set CAREBRIDGE_TOKEN_KEY or CAREBRIDGE_TOKEN_KEY_FILE, not both');
  }
  if (env.CAREBRIDGE_TOKEN_KEY) {
    text = env.CAREBRIDGE_TOKEN_KEY;
    source = 'CAREBRIDGE_TOKEN_KEY';
  } else if (env.CAREBRIDGE_TOKEN_KEY_FILE) {
    source = `CAREBRIDGE_TOKEN_KEY_FILE (${env.CAREBRIDGE_TOKEN_KEY_FILE})`;
    try {
      text = readFileSync(env.CAREBRIDGE_TOKEN_KEY_FILE, 'utf8');
    } catch (err) {
      throw new SigningKeyError(`${source} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  } else {
    return undefined;
  }
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch {
    throw new SigningKeyError(`${source} must hold a private JWK as JSON`);
  }
  if (typeof jwk !== 'object' || jwk === null || typeof jwk.d !== 'string') {
    throw new SigningKeyError(`${source} must hold a private JWK (with its "d" member) as JSON`);
  }
  algOf(jwk, source);
  return jwk;
}

/** A kid for a key that has none: a digest of its public part, the same in every process. */
function derivedKid(jwk: JWK): string {
  const publicPart = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(publicPart)).digest('base64url').slice(0, 16);
}

async function importSigningJwk(jwk: JWK, source: string): Promise<SigningKey> {
  const alg = algOf(jwk, source);
  const kid = jwk.kid ?? derivedKid(jwk);
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = jwk;
  try {
    const privateKey = (await importJWK({ ...jwk, alg }, alg)) as CryptoKey;
    const publicKey = (await importJWK({ ...publicJwk, alg }, alg)) as CryptoKey;
    return { alg, kid, privateKey, publicKey };
  } catch {
    throw new SigningKeyError(`${source} is not a usable ${alg} key`);
  }
}

/** The signing key: from the environment if set there, else the one kept in the store. */
export async function loadSigningKey(env: NodeJS.ProcessEnv, store: AuthStore): Promise<SigningKey> {
  const fromEnv = signingJwkFromEnv(env);
  if (fromEnv) {
    return importSigningJwk(fromEnv, 'the token key from the environment');
  }
  const { privateKey } = await generateKeyPair('ES384', { extractable: true });
  const candidate = { ...(await exportJWK(privateKey)), alg: 'ES384' };
  const stored = JSON.parse(await store.claimSigningKey(STORED_KEY_NAME, JSON.stringify({ ...candidate, kid: derivedKid(candidate) }))) as JWK;
  return importSigningJwk(stored, 'the token key in the store');
}
