// The other side of SMART Backend Services: carebridge as a client of a peer FHIR server that
// demands it (an EHR, an agency). Signs a fresh client assertion with jose, gets an access token,
// keeps it until shortly before it expires, and lets concurrent callers share one refresh.
import { SignJWT, importJWK } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { randomUUID } from 'node:crypto';
import { BodyTooLargeError, readBoundedText } from './bounded-body.ts';
import { JWT_BEARER_ASSERTION } from './token-request.ts';

/** A token answer is a few hundred bytes; more is not one. */
const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;
const DEFAULT_TIMEOUT_MS = 10_000;
/** A token is renewed this long before it expires, so no request leaves with one about to lapse. */
const DEFAULT_REFRESH_MARGIN_SECONDS = 30;
/** SMART: the assertion expires at most five minutes after it is made; we use less. */
const ASSERTION_SECONDS = 240;

export interface SmartClientOptions {
  /** The peer's token endpoint (its SMART configuration's token_endpoint). */
  tokenUrl: string;
  /** Our client_id at the peer. */
  clientId: string;
  /** Our private key, registered at the peer by its public half: a JWK with kid, EC P-384 or RSA. */
  privateJwk: JWK;
  /** Space-separated scopes to ask for (system/Task.rs …). */
  scope: string;
  timeoutMs?: number;
  refreshMarginSeconds?: number;
  /** For tests: the fetch to use, and the clock the token cache runs on (ms). */
  fetch?: typeof fetch;
  clock?: () => number;
}

/** Getting a token failed: `status` and `error` are the peer's when it answered. */
export class SmartTokenError extends Error {
  readonly status?: number;
  readonly error?: string;

  constructor(message: string, details: { status?: number; error?: string } = {}) {
    super(message);
    this.name = 'SmartTokenError';
    this.status = details.status;
    this.error = details.error;
  }
}

interface CachedToken {
  accessToken: string;
  /** Epoch ms after which the token is not used any more. */
  renewAt: number;
  scope?: string;
}

function assertionAlg(jwk: JWK): 'ES384' | 'RS384' {
  if (jwk.alg === 'ES384' || jwk.alg === 'RS384') {
    return jwk.alg as 'ES384' | 'RS384';
  }
  if (jwk.alg === undefined && jwk.kty === 'EC' && jwk.crv === 'P-384') {
    return 'ES384';
  }
  if (jwk.alg === undefined && jwk.kty === 'RSA') {
    return 'RS384';
  }
  throw new SmartTokenError('The private key must be an EC P-384 (ES384) or RSA (RS384) JWK');
}

export class SmartClient {
  private readonly options: SmartClientOptions;
  private readonly alg: 'ES384' | 'RS384';
  private readonly fetch: typeof fetch;
  private readonly clock: () => number;
  private key: Promise<CryptoKey> | undefined;
  private cached: CachedToken | undefined;
  private inflight: Promise<CachedToken> | undefined;

  constructor(options: SmartClientOptions) {
    if (typeof options.privateJwk.kid !== 'string' || options.privateJwk.kid === '') {
      throw new SmartTokenError('The private key needs a kid (the peer picks our public key by it)');
    }
    this.options = options;
    this.alg = assertionAlg(options.privateJwk);
    this.fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.clock = options.clock ?? Date.now;
  }

  /** A valid access token: the cached one, or a new one (one request however many callers wait). */
  async getAccessToken(): Promise<string> {
    if (this.cached && this.clock() < this.cached.renewAt) {
      return this.cached.accessToken;
    }
    this.inflight ??= this.requestToken().finally(() => {
      this.inflight = undefined;
    });
    return (await this.inflight).accessToken;
  }

  /** Forgets the cached token (the peer refused it). */
  invalidate(): void {
    this.cached = undefined;
  }

  /**
   * fetch with our bearer token. A 401 answer gets one retry with a new token when the request
   * can be sent again (no body, or a string body).
   */
  async authorizedFetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
    const send = async (): Promise<Response> => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${await this.getAccessToken()}`);
      return this.fetch(input, { ...init, headers });
    };
    const response = await send();
    const replayable = init.body === undefined || init.body === null || typeof init.body === 'string';
    if (response.status !== 401 || !replayable) {
      return response;
    }
    await response.body?.cancel();
    this.invalidate();
    return send();
  }

  private signingKey(): Promise<CryptoKey> {
    this.key ??= importJWK(this.options.privateJwk, this.alg).then((k) => k as CryptoKey);
    return this.key;
  }

  private async assertion(): Promise<string> {
    const { clientId, tokenUrl, privateJwk } = this.options;
    return new SignJWT({})
      .setProtectedHeader({ alg: this.alg, kid: privateJwk.kid as string, typ: 'JWT' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(tokenUrl)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime(`${ASSERTION_SECONDS}s`)
      .sign(await this.signingKey());
  }

  private async requestToken(): Promise<CachedToken> {
    const { tokenUrl, scope } = this.options;
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: JWT_BEARER_ASSERTION, client_assertion: await this.assertion(), scope });
    let response: Response;
    let text: string;
    try {
      response = await this.fetch(tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: body.toString(),
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      });
      text = await readBoundedText(response, MAX_TOKEN_RESPONSE_BYTES);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        throw new SmartTokenError(`The token endpoint answered with more than ${MAX_TOKEN_RESPONSE_BYTES} bytes`);
      }
      const name = (err as Error).name;
      throw new SmartTokenError(name === 'TimeoutError' ? 'The token endpoint did not answer in time' : `The token endpoint cannot be reached (${name})`);
    }
    let answer: Record<string, unknown> | undefined;
    try {
      const parsed = JSON.parse(text) as unknown;
      answer = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
    } catch {
      answer = undefined;
    }
    if (response.status !== 200) {
      const error = typeof answer?.error === 'string' ? answer.error.slice(0, 64) : undefined;
      throw new SmartTokenError(`The token endpoint answered ${response.status}${error ? ` ${error}` : ''}`, { status: response.status, ...(error ? { error } : {}) });
    }
    const accessToken = answer?.access_token;
    const expiresIn = answer?.expires_in;
    if (typeof accessToken !== 'string' || accessToken === '' || typeof answer?.token_type !== 'string' || answer.token_type.toLowerCase() !== 'bearer' || typeof expiresIn !== 'number' || !(expiresIn > 0)) {
      throw new SmartTokenError('The token endpoint answered 200 without a bearer access_token and expires_in', { status: 200 });
    }
    // Renewed `margin` before expiry; a token shorter-lived than that is used for half its life.
    const margin = this.options.refreshMarginSeconds ?? DEFAULT_REFRESH_MARGIN_SECONDS;
    const usable = expiresIn > 2 * margin ? expiresIn - margin : expiresIn / 2;
    this.cached = { accessToken, renewAt: this.clock() + usable * 1000, ...(typeof answer.scope === 'string' ? { scope: answer.scope } : {}) };
    return this.cached;
  }
}
