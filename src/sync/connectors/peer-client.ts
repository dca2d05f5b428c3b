// HTTP to one peer (an EHR's or agency's FHIR server, or a webhook): its auth, its timeout, its
// concurrency limit, a bounded answer, and every failure sorted into what the caller should do
// next: try again later (honouring Retry-After), stop until an operator fixes it, or give up.
import { readFileSync } from 'node:fs';
import type { JWK } from 'jose';
import { BodyTooLargeError, readBoundedText } from '../../auth/bounded-body.ts';
import { SmartClient, SmartTokenError } from '../../auth/smart-client.ts';
import type { PeerConfig } from '../../config/peers.ts';

/**
 * What a failure means for a delivery or a poll:
 * - `retry`: the peer is down, slow, overloaded or answered garbage — try again (after retryAfterMs if it said);
 * - `blocked`: 401/403/404 — the peer refuses us or lost the endpoint; Da Vinci: stop retrying until fixed;
 * - `rejected`: the peer understood and refused this request (400, 409, 412, 422 …) — sending it again will not help.
 */
export type PeerFailure = 'retry' | 'blocked' | 'rejected';

export class PeerError extends Error {
  readonly failure: PeerFailure;
  readonly status?: number;
  /** From the peer's Retry-After, when it sent one. */
  readonly retryAfterMs?: number;
  /** The peer did not answer within the peer's timeoutMs (a gateway timeout, to a caller waiting on it). */
  readonly timedOut: boolean;

  constructor(message: string, failure: PeerFailure, details: { status?: number; retryAfterMs?: number; timedOut?: boolean } = {}) {
    super(message);
    this.name = 'PeerError';
    this.failure = failure;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.timedOut = details.timedOut ?? false;
  }
}

export interface PeerResponse {
  status: number;
  headers: Headers;
  /** The parsed JSON body (undefined when there was none). Untrusted: check its shape before use. */
  body: unknown;
}

export interface PeerRequest {
  /** Relative to the peer's base URL ("CarePlan?identifier=…"), or an absolute URL on the same origin (a next link). */
  path?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** A 2xx is success whatever its body says (a rest-hook endpoint's answer is not FHIR): the body is read, bounded, and dropped. */
  ignoreBody?: boolean;
}

export interface PeerClientOptions {
  fetch?: typeof fetch;
  /** Where privateKeyEnv is looked up (default process.env). */
  env?: NodeJS.ProcessEnv;
  clock?: () => number;
}

/** Seconds ("120") or an HTTP date; undefined when absent or nonsense. Capped at a day. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) {
    return undefined;
  }
  const trimmed = value.trim();
  const ms = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : Date.parse(trimmed) - now;
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, 24 * 3600_000) : undefined;
}

function failureOf(status: number): PeerFailure {
  if (status === 401 || status === 403 || status === 404) {
    return 'blocked';
  }
  return status === 408 || status === 425 || status === 429 || status >= 500 ? 'retry' : 'rejected';
}

function privateKey(peer: PeerConfig, env: NodeJS.ProcessEnv): JWK {
  const auth = peer.auth;
  if (auth.type !== 'smart-backend-services') {
    throw new Error('no key for a peer without SMART auth');
  }
  const text = auth.privateKeyEnv ? env[auth.privateKeyEnv] : readFileSync(auth.privateKeyFile as string, 'utf8');
  if (!text) {
    throw new Error(`peer ${peer.name}: the environment variable ${auth.privateKeyEnv ?? ''} holding its private key is not set`);
  }
  try {
    return JSON.parse(text) as JWK;
  } catch {
    // Never the text: it is a secret.
    throw new Error(`peer ${peer.name}: its private key is not a JSON Web Key`);
  }
}

/** A counting semaphore: at most `limit` requests to the peer at once. */
class Gate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active += 1;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) {
        next(); // the slot passes straight on
      } else {
        this.active -= 1;
      }
    }
  }
}

export class PeerClient {
  readonly peer: PeerConfig;
  private readonly base: URL;
  private readonly doFetch: typeof fetch;
  private readonly smart?: SmartClient;
  private readonly gate: Gate;
  private readonly clock: () => number;

  constructor(peer: PeerConfig, options: PeerClientOptions = {}) {
    this.peer = peer;
    const base = peer.fhirBaseUrl ?? peer.webhookUrl;
    if (!base) {
      throw new Error(`peer ${peer.name} has no URL`);
    }
    this.base = new URL(base.endsWith('/') ? base : `${base}/`);
    this.doFetch = options.fetch ?? fetch;
    this.clock = options.clock ?? Date.now;
    this.gate = new Gate(peer.limits.maxConcurrent);
    if (peer.auth.type === 'smart-backend-services') {
      this.smart = new SmartClient({
        tokenUrl: peer.auth.tokenUrl,
        clientId: peer.auth.clientId,
        scope: peer.auth.scope,
        privateJwk: privateKey(peer, options.env ?? process.env),
        timeoutMs: peer.limits.timeoutMs,
        fetch: this.doFetch,
        clock: this.clock,
      });
    }
  }

  /** The absolute URL of `path`; a URL on another origin is refused (a peer's next link must not send us elsewhere). */
  resolve(path = ''): URL {
    const url = new URL(path.replace(/^\//, ''), this.base);
    if (url.origin !== this.base.origin) {
      throw new PeerError(`peer ${this.peer.name} pointed at another server`, 'rejected');
    }
    return url;
  }

  async request(method: string, request: PeerRequest = {}): Promise<PeerResponse> {
    const url = this.resolve(request.path);
    return this.gate.run(() => this.send(method, url, request, true));
  }

  private async send(method: string, url: URL, request: PeerRequest, mayRenewToken: boolean): Promise<PeerResponse> {
    const headers: Record<string, string> = { accept: 'application/fhir+json, application/json;q=0.9', ...request.headers };
    if (request.body !== undefined) {
      headers['content-type'] ??= 'application/fhir+json';
    }
    // One deadline for the whole exchange: connecting, the answer's headers and its (maybe slow) body.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.peer.limits.timeoutMs);
    try {
      if (this.smart) {
        headers.authorization = `Bearer ${await this.smart.getAccessToken()}`;
      }
      const response = await this.doFetch(url, { method, headers, body: request.body === undefined ? undefined : JSON.stringify(request.body), signal: controller.signal, redirect: 'manual' });
      const text = await readBoundedText(response, this.peer.limits.maxResponseBytes);
      if (response.status === 401 && this.smart && mayRenewToken) {
        // The token may have been revoked or the peer restarted: one fresh token, then it counts.
        this.smart.invalidate();
        clearTimeout(timer);
        return this.send(method, url, request, false);
      }
      if (response.status >= 300) {
        throw new PeerError(`peer ${this.peer.name} answered ${response.status}`, failureOf(response.status), {
          status: response.status,
          retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), this.clock()),
        });
      }
      let body: unknown;
      if (text.trim() !== '' && !request.ignoreBody) {
        try {
          body = JSON.parse(text);
        } catch {
          throw new PeerError(`peer ${this.peer.name} answered ${response.status} with a body that is not JSON`, 'retry', { status: response.status });
        }
      }
      return { status: response.status, headers: response.headers, body };
    } catch (err) {
      throw toPeerError(this.peer.name, err, controller.signal.aborted);
    } finally {
      clearTimeout(timer);
    }
  }
}

function toPeerError(peer: string, err: unknown, timedOut: boolean): PeerError {
  if (err instanceof PeerError) {
    return err;
  }
  if (timedOut) {
    return new PeerError(`peer ${peer} did not answer in time`, 'retry', { timedOut: true });
  }
  if (err instanceof BodyTooLargeError) {
    return new PeerError(`peer ${peer}: ${err.message}`, 'rejected');
  }
  if (err instanceof SmartTokenError) {
    // A token endpoint that refuses our credentials needs an operator; one that is down, time.
    const status = err.status;
    return new PeerError(`peer ${peer}: no access token (${err.message})`, status !== undefined && status >= 400 && status < 500 && status !== 429 ? 'blocked' : 'retry', { status });
  }
  // Connection refused or reset, DNS, TLS: the network, not the request.
  const cause = (err as { cause?: { code?: string } }).cause?.code;
  return new PeerError(`peer ${peer} unreachable${cause ? ` (${cause})` : ''}`, 'retry');
}
