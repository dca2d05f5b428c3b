// POST /auth/token (SMART Backend Services) and the SMART configuration, public by nature. Token
// answers are OAuth JSON (RFC 6749 §5.1/§5.2), never cached.
import express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import type { AuthService } from '../../auth/auth-service.ts';
import { TOKEN_PATH } from '../../auth/auth-service.ts';
import { OAuthError } from '../../auth/token-request.ts';
import type { Logger } from '../../log/logger.ts';
import { serverBase } from './base-url.ts';

/** A token request is a few parameters and one assertion (an RS384 one with a 4096-bit key is ~1.5 kB). */
const MAX_TOKEN_REQUEST_BYTES = 32 * 1024;

function sendOAuthError(res: Response, err: OAuthError): void {
  res.status(err.status).set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' }).json({ error: err.error, error_description: err.message });
}

export interface AuthRoutesOptions {
  publicUrl?: string;
  logger: Logger;
  /** Told of every token answer before it leaves (the audit trail records issued and refused tokens). */
  onTokenAnswer?: (req: Request, res: Response, answer: { clientId?: string; status: number; error?: string }) => Promise<void>;
}

/** The client id a token request claims (its form's client_id, else the assertion's unverified iss), for the audit record. */
function claimedClient(form: URLSearchParams): string | undefined {
  const direct = form.get('client_id');
  if (direct) {
    return direct.slice(0, 128);
  }
  const assertion = form.get('client_assertion')?.split('.')[1];
  try {
    const iss = assertion ? (JSON.parse(Buffer.from(assertion, 'base64url').toString('utf8')) as { iss?: unknown }).iss : undefined;
    return typeof iss === 'string' ? iss.slice(0, 128) : undefined;
  } catch {
    return undefined;
  }
}

export function authRoutes(auth: AuthService, options: AuthRoutesOptions): Router {
  const router = express.Router();
  // Best effort: a token answer is not data access; a failed audit write is logged, not fatal.
  const audited = async (req: Request, res: Response, answer: { clientId?: string; status: number; error?: string }): Promise<void> => {
    try {
      await options.onTokenAnswer?.(req, res, answer);
    } catch (err) {
      options.logger.error('audit trail write failed', { error: err });
    }
  };
  const smartConfiguration = (req: Request, res: Response): void => {
    res.json(auth.smartConfiguration(serverBase(req, options.publicUrl)));
  };
  // SMART discovery lives under the FHIR base; the root one is for clients that look there.
  router.get('/.well-known/smart-configuration', smartConfiguration);
  router.get('/fhir/.well-known/smart-configuration', smartConfiguration);

  router.post(TOKEN_PATH, express.raw({ type: () => true, limit: MAX_TOKEN_REQUEST_BYTES }), async (req: Request, res: Response) => {
    try {
      if (!req.is('application/x-www-form-urlencoded')) {
        throw new OAuthError('invalid_request', 'The token request must be application/x-www-form-urlencoded');
      }
      const form = new URLSearchParams(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '');
      res.locals.claimedClient = claimedClient(form);
      const granted = await auth.token(form, serverBase(req, options.publicUrl));
      options.logger.info('token issued', { clientId: granted.clientId, tokenId: granted.tokenId, scope: granted.response.scope });
      await audited(req, res, { clientId: granted.clientId, status: 200 });
      res.status(200).set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' }).json(granted.response);
    } catch (err) {
      if (!(err instanceof OAuthError)) {
        throw err;
      }
      options.logger.info('token refused', { error: err.error, reason: err.message });
      await audited(req, res, { clientId: res.locals.claimedClient as string | undefined, status: err.status, error: err.error });
      sendOAuthError(res, err);
    }
  });
  router.all(TOKEN_PATH, (_req, res) => {
    res.status(405).set({ Allow: 'POST', 'Cache-Control': 'no-store' }).json({ error: 'invalid_request', error_description: 'The token endpoint takes POST' });
  });
  // A body too large or unreadable still answers OAuth JSON.
  router.use(TOKEN_PATH, (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const type = (err as { type?: string }).type;
    if (type === undefined || res.headersSent) {
      next(err);
      return;
    }
    sendOAuthError(res, new OAuthError('invalid_request', type === 'entity.too.large' ? 'The token request is too large' : 'The token request body cannot be read'));
  });
  return router;
}
