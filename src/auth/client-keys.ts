// The public keys a client signs its assertions with: inline in the config (jwks), or published
// at a URL (jwksUrl), fetched with a timeout and a size bound and kept for a while.
import { createLocalJWKSet, errors } from 'jose';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import type { ClientConfig } from '../config/config.ts';
import { BodyTooLargeError, readBoundedText } from './bounded-body.ts';

/** A JWKS of a few keys is a few kB; anything much larger is not one. */
export const MAX_JWKS_BYTES = 64 * 1024;
export const JWKS_TIMEOUT_MS = 5_000;
/** Keys are kept this long, then fetched again (a client rotating keys waits at most this). */
export const JWKS_CACHE_MS = 5 * 60_000;
/** An unknown kid refetches at most this often, so bad assertions cannot make us hammer the URL. */
export const JWKS_COOLDOWN_MS = 30_000;

/** The client's keys could not be had (unreachable, too large, not a JWKS): not the client's fault alone. */
export class JwksUnavailableError extends Error {}

/** GET a JWKS: 200, JSON, a `keys` array, at most MAX_JWKS_BYTES, within JWKS_TIMEOUT_MS. */
export async function fetchJwks(url: string, timeoutMs = JWKS_TIMEOUT_MS): Promise<JSONWebKeySet> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new JwksUnavailableError(`JWKS fetch failed (${(err as Error).name})`);
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new JwksUnavailableError(`JWKS fetch answered ${response.status}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(await readBoundedText(response, MAX_JWKS_BYTES));
  } catch (err) {
    throw new JwksUnavailableError(err instanceof BodyTooLargeError ? `JWKS larger than ${MAX_JWKS_BYTES} bytes` : err instanceof SyntaxError ? 'JWKS is not JSON' : `JWKS fetch failed (${(err as Error).name})`);
  }
  const keys = (value as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'object' || k === null || 'd' in k || 'k' in k)) {
    throw new JwksUnavailableError('JWKS is not a set of public keys');
  }
  return value as JSONWebKeySet;
}

/** A jwksUrl's keys: cached, refreshed after JWKS_CACHE_MS or on an unknown kid (with a cooldown), one fetch at a time. */
class RemoteKeys {
  private readonly url: string;
  private readonly now: () => number;
  private keys: { getKey: JWTVerifyGetKey; fetchedAt: number } | undefined;
  private inflight: Promise<JWTVerifyGetKey> | undefined;

  constructor(url: string, now: () => number) {
    this.url = url;
    this.now = now;
  }

  private refresh(): Promise<JWTVerifyGetKey> {
    this.inflight ??= fetchJwks(this.url)
      .then((jwks) => {
        const getKey = createLocalJWKSet(jwks);
        this.keys = { getKey, fetchedAt: this.now() };
        return getKey;
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const cached = this.keys;
    if (!cached || this.now() - cached.fetchedAt > JWKS_CACHE_MS) {
      return (await this.refresh())(header, token);
    }
    try {
      return await cached.getKey(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey && this.now() - cached.fetchedAt > JWKS_COOLDOWN_MS) {
        return (await this.refresh())(header, token);
      }
      throw err;
    }
  };
}

/** The key resolver for a client's assertions (jose's getKey: picks by kid and alg). */
export function clientKeyResolver(client: ClientConfig, now: () => number = Date.now): JWTVerifyGetKey {
  if (client.jwks) {
    return createLocalJWKSet(client.jwks as JSONWebKeySet);
  }
  return new RemoteKeys(client.jwksUrl as string, now).getKey;
}
