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
}

export function authRoutes(auth: AuthService, options: AuthRoutesOptions): Router {
  const router = express.Router();
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
      const granted = await auth.token(form, serverBase(req, options.publicUrl));
      options.logger.info('token issued', { clientId: granted.clientId, tokenId: granted.tokenId, scope: granted.response.scope });
      res.status(200).set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' }).json(granted.response);
    } catch (err) {
      if (!(err instanceof OAuthError)) {
        throw err;
      }
      options.logger.info('token refused', { error: err.error, reason: err.message });
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
