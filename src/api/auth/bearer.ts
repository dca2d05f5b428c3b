// Bearer tokens on /fhir (and later /transitions): every request names an access token carebridge
// issued; the Principal it stands for goes to res.locals.principal. Refusals follow RFC 6750 §3:
// 401, WWW-Authenticate with the error (none when no token was sent), and an OperationOutcome.
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { InvalidTokenError } from '../../auth/access-token.ts';
import type { AuthService } from '../../auth/auth-service.ts';
import type { Principal } from '../../auth/principal.ts';
import type { Logger } from '../../log/logger.ts';
import { serverBase } from './base-url.ts';

export const REALM = 'carebridge';

/** The Principal of the request's bearer token; throws InvalidTokenError. */
export function authenticateRequest(auth: AuthService, req: Request, publicUrl: string | undefined): Promise<Principal> {
  return auth.authenticate(req.get('authorization'), serverBase(req, publicUrl));
}

/** RFC 6750's error_description allows no quote or backslash. */
function quoted(text: string): string {
  return text.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?');
}

export function sendUnauthorized(res: Response, err: InvalidTokenError): void {
  const challenge = err.reason === 'missing' ? `Bearer realm="${REALM}"` : `Bearer realm="${REALM}", error="invalid_token", error_description="${quoted(err.message)}"`;
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: err.reason === 'missing' || err.reason === 'expired' ? 'login' : 'security', details: { text: err.message } }],
  };
  res.status(401).setHeader('WWW-Authenticate', challenge).type('application/fhir+json').send(JSON.stringify(outcome));
}

/** GET /fhir/metadata is public: FHIR clients read it before they authenticate. */
export function isFhirMetadata(req: Request): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && /^\/metadata\/?$/.test(req.path);
}

export interface BearerOptions {
  publicUrl?: string;
  logger: Logger;
  /** Requests that need no token (GET /fhir/metadata). */
  isPublic?: (req: Request) => boolean;
  /** Told of every refused request before the 401 goes out (the audit trail records it). */
  onRefused?: (req: Request, res: Response, err: InvalidTokenError) => Promise<void>;
}

export function requireBearer(auth: AuthService, options: BearerOptions): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (options.isPublic?.(req)) {
      next();
      return;
    }
    authenticateRequest(auth, req, options.publicUrl).then(
      (principal) => {
        res.locals.principal = principal;
        next();
      },
      (err: unknown) => {
        if (err instanceof InvalidTokenError) {
          const refused = options.onRefused?.(req, res, err) ?? Promise.resolve();
          refused.catch((auditError: unknown) => options.logger.error('audit trail write failed', { error: auditError })).finally(() => sendUnauthorized(res, err));
        } else {
          options.logger.error('authentication failed', { error: err });
          next(err);
        }
      },
    );
  };
}
