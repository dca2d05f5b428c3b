// CORS: off unless CAREBRIDGE_CORS_ORIGINS lists exact origins. Off means no Access-Control-*
// header on any answer and no preflight approved: a browser page on another origin can send
// nothing that needs a preflight and read nothing carebridge answers.
import cors from 'cors';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { issueOutcome, sendOutcome } from './outcome.ts';

/** What a FHIR client sends and needs to read back (conditional requests, versions, paging, throttling). */
const ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Accept', 'If-Match', 'If-None-Match', 'If-None-Exist', 'If-Modified-Since', 'Prefer', 'X-Request-Id'];
const EXPOSED_HEADERS = ['ETag', 'Location', 'Content-Location', 'Last-Modified', 'X-Request-Id', 'Retry-After', 'RateLimit', 'RateLimit-Policy'];
/** Browsers cache an approved preflight this long (seconds); Chromium caps it at 7200 anyway. */
const PREFLIGHT_MAX_AGE_S = 600;

/**
 * OPTIONS is no FHIR R4 interaction: without an approved CORS preflight it is 405, so a refused
 * preflight carries no Access-Control-* header and the browser stops there.
 */
function refusePreflight(res: Response): void {
  sendOutcome(res, 405, issueOutcome('not-supported', 'OPTIONS is not supported here: cross-origin requests from this origin are not allowed'));
}

export function corsPolicy(origins: readonly string[]): RequestHandler {
  if (origins.length === 0) {
    return (req: Request, res: Response, next: NextFunction) => {
      if (req.method === 'OPTIONS') {
        refusePreflight(res);
        return;
      }
      next();
    };
  }
  const allowed = new Set(origins);
  const approve = cors({
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
    methods: ['GET', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    // Bearer tokens, not cookies: credentials mode stays off.
    credentials: false,
    maxAge: PREFLIGHT_MAX_AGE_S,
  });
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'OPTIONS') {
      const origin = req.get('origin');
      if (origin === undefined || !allowed.has(origin) || req.get('access-control-request-method') === undefined) {
        refusePreflight(res);
        return;
      }
    }
    approve(req, res, next);
  };
}
