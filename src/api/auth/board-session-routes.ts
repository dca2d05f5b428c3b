// The board's sign-in over HTTP: POST /auth/board/session (JSON or a form: username and password,
// or devClient in development mode), POST /auth/board/session/renew (Bearer: the session's current
// token) and GET /auth/board/sign-in-options. Answers are OAuth-style JSON, never cached; every
// sign-in and renewal, granted or refused, is audited as the token endpoint's answers are. The token
// goes back in the body only: no cookie, so no request is ever made with it behind the page's back.
import express from 'express';
import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import { auditEventFor } from '../../audit/audit-event.ts';
import type { AuditObserver } from '../../audit/audit-event.ts';
import type { AuditTrail } from '../../audit/audit-trail.ts';
import { InvalidTokenError } from '../../auth/access-token.ts';
import type { BoardSessions, SessionAnswer } from '../../auth/board-session.ts';
import { BOARD_SESSION_PATH, SessionError, parseSessionRequest } from '../../auth/board-session.ts';
import type { Logger } from '../../log/logger.ts';
import { serverBase } from './base-url.ts';
import { sendUnauthorized } from './bearer.ts';

/** A username and a password, or a demo client's id. */
const MAX_BODY_BYTES = 8 * 1024;
const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

export interface BoardSessionRoutesOptions {
  sessions: BoardSessions;
  logger: Logger;
  publicUrl?: string;
  auditTrail: AuditTrail;
  observer: AuditObserver;
  /** Throttles sign-ins per address, as the token endpoint is (undefined: off). */
  limiter?: RequestHandler;
}

function fieldsOf(req: Request): Record<string, unknown> {
  const text = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
  if (req.is('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(text));
  }
  if (req.is('application/json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new SessionError('invalid_request', 400, 'The body is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new SessionError('invalid_request', 400, 'The body must be a JSON object');
    }
    return parsed as Record<string, unknown>;
  }
  throw new SessionError('invalid_request', 400, 'Send application/json or application/x-www-form-urlencoded');
}

export function boardSessionRoutes(options: BoardSessionRoutesOptions): Router {
  const router = express.Router();
  const body = express.raw({ type: () => true, limit: MAX_BODY_BYTES });

  const audited = async (req: Request, res: Response, answer: { clientId?: string; status: number; error?: string }): Promise<void> => {
    try {
      await options.auditTrail.record(
        auditEventFor({ interaction: 'operation', operation: 'board-session', principal: undefined, claimedClientId: answer.clientId, status: answer.status, issueCode: answer.error, address: req.ip, requestId: res.locals.requestId as string | undefined, recorded: new Date(), observer: options.observer }),
      );
    } catch (err) {
      // As for tokens: a sign-in is not data access; a failed audit write is logged, not fatal.
      options.logger.error('audit trail write failed', { error: err });
    }
  };

  const answer = (run: (req: Request, claimed: (clientId: string) => void) => Promise<SessionAnswer>) => async (req: Request, res: Response): Promise<void> => {
    let clientId: string | undefined;
    const claimed = (id: string): void => {
      clientId = id.slice(0, 128);
    };
    try {
      const session = await run(req, claimed);
      options.logger.info('board session issued', { clientId });
      await audited(req, res, { clientId, status: 200 });
      res.status(200).set(NO_STORE).json(session);
    } catch (err) {
      if (err instanceof InvalidTokenError) {
        await audited(req, res, { clientId, status: 401, error: 'invalid_token' });
        sendUnauthorized(res.set(NO_STORE), err);
        return;
      }
      if (!(err instanceof SessionError)) {
        throw err;
      }
      options.logger.info('board session refused', { error: err.error, reason: err.message });
      await audited(req, res, { clientId, status: err.status, error: err.error });
      res.status(err.status).set(NO_STORE).json({ error: err.error, error_description: err.message });
    }
  };

  router.get('/auth/board/sign-in-options', (_req, res) => {
    res.set(NO_STORE).json(options.sessions.options());
  });
  const paths = [BOARD_SESSION_PATH, `${BOARD_SESSION_PATH}/renew`];
  if (options.limiter) {
    router.use(paths, options.limiter);
  }
  router.post(
    BOARD_SESSION_PATH,
    body,
    answer((req, claimed) => options.sessions.open(parseSessionRequest(fieldsOf(req)), serverBase(req, options.publicUrl), claimed)),
  );
  router.post(
    `${BOARD_SESSION_PATH}/renew`,
    answer((req, claimed) => options.sessions.renew(req.get('authorization'), serverBase(req, options.publicUrl), claimed)),
  );
  router.all(paths, (_req, res) => {
    res.status(405).set({ Allow: 'POST', ...NO_STORE }).json({ error: 'invalid_request', error_description: 'Sign-in takes POST' });
  });
  // A body too large or unreadable still answers JSON.
  router.use(BOARD_SESSION_PATH, (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const type = (err as { type?: string }).type;
    if (type === undefined || res.headersSent) {
      next(err);
      return;
    }
    res.status(type === 'entity.too.large' ? 413 : 400).set(NO_STORE).json({ error: 'invalid_request', error_description: type === 'entity.too.large' ? 'The sign-in request is too large' : 'The sign-in request body cannot be read' });
  });
  return router;
}
