// Requests per minute per client: the authenticated client (res.locals.principal, set by the
// bearer middleware that runs first) or, before authentication, the caller's IP address.
//
// The counts live in memory, per process: with CAREBRIDGE_WORKERS=N a client may reach up to
// N × the limit, depending on how the kernel spreads its connections. A shared store (Redis,
// PostgreSQL) is the fix when that matters; the limit exists to stop runaway loops, not to bill.
import { tooManyRequests } from '@medplum/core';
import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import type { Principal } from '../../auth/principal.ts';
import type { Logger } from '../../log/logger.ts';
import { sendOutcome } from './outcome.ts';

const WINDOW_MS = 60_000;

/** The rate-limit key: the client id when authenticated, else the IP (an IPv6 /56, so one host cannot rotate addresses). */
export function rateLimitKey(req: Request, res: Response): string {
  const principal = res.locals.principal as Principal | undefined;
  return principal ? `client:${principal.clientId}` : `ip:${ipKeyGenerator(req.ip ?? 'unknown')}`;
}

/** The limiter middleware, or undefined when the limit is 0 (off). */
export function rateLimiter(perMinute: number, logger: Logger): RequestHandler | undefined {
  if (perMinute <= 0) {
    return undefined;
  }
  // Built once: a throttled request costs a counter lookup and a constant write.
  const body = JSON.stringify({
    ...tooManyRequests,
    issue: [{ severity: 'error', code: 'throttled', details: { text: `Too many requests: at most ${perMinute} per minute per client; retry after the number of seconds in Retry-After` } }],
  });
  return rateLimit({
    windowMs: WINDOW_MS,
    limit: perMinute,
    // RateLimit and RateLimit-Policy (IETF draft 8); Retry-After on 429.
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: rateLimitKey,
    handler: (_req, res) => sendOutcome(res, 429, body),
    logger: {
      error: (error, detail) => logger.error('rate limiter error', { error, detail }),
      warn: (error, detail) => logger.warn('rate limiter warning', { error, detail }),
    },
  });
}
