// A handler that runs too long answers 504 `timeout` instead of holding the client; whatever it
// produces later is dropped (senders check res.headersSent). Node's server.requestTimeout and
// headersTimeout (server.ts) still bound how long receiving a request may take.
import { serverTimeout } from '@medplum/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from '../../log/logger.ts';
import { sendOutcome } from './outcome.ts';

/** Where requestTimeout leaves the request's deadline (res.locals), aborted when it answers 504. */
export const DEADLINE_LOCAL = 'deadline';
/**
 * And the deadline's instant (Date.now() ms): work that keeps the event loop busy (a SQLite
 * transaction's entries run synchronously, one microtask after the other) never lets the timer
 * fire, so steps compare the clock too.
 */
export const DEADLINE_AT_LOCAL = 'deadlineAt';

/** Whether the request's deadline has passed, by the timer or by the clock. */
export function pastDeadline(signal: AbortSignal | undefined, at: number | undefined): boolean {
  return signal?.aborted === true || (at !== undefined && Date.now() >= at);
}

/**
 * 504, not 503: 503 tells a client the request was not handled and may simply be sent again, but
 * a late write may still commit after this answer. 504 (Medplum's status for `timeout`) says the
 * outcome is unknown; FHIR clients retry writes as conditional creates/updates, which is safe.
 * A single write is not cancelled: a synchronous SQLite transaction cannot be interrupted, and a
 * half-cancelled write is worse than a complete one nobody waited for. Work made of steps (a
 * Bundle's entries) watches res.locals[DEADLINE_LOCAL] and stops between them.
 */
export function requestTimeout(ms: number, fallbackLogger: Logger): RequestHandler {
  const body = JSON.stringify(serverTimeout(`The request did not complete within ${ms} ms; a write may still have been applied: read before retrying one that is not conditional`));
  return (req: Request, res: Response, next: NextFunction) => {
    const deadline = new AbortController();
    res.locals[DEADLINE_LOCAL] = deadline.signal;
    res.locals[DEADLINE_AT_LOCAL] = Date.now() + ms;
    const timer = setTimeout(() => {
      if (res.headersSent) {
        return;
      }
      deadline.abort();
      ((res.locals.logger as Logger | undefined) ?? fallbackLogger).warn('request timed out', { method: req.method, limitMs: ms });
      sendOutcome(res, 504, body);
    }, ms);
    // 'close' follows 'finish' and also fires when the client goes away: one listener covers both.
    res.once('close', () => clearTimeout(timer));
    next();
  };
}
