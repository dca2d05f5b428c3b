// The care-coordination board, served by carebridge: the page (/board), its sign-in
// (/auth/board/…) and the reads it needs beyond the public API (/board/api/…). The board's API takes
// the same bearer tokens, tenancy, rate limits and audit as /transitions: a board user's session is
// a client like any other, and sees exactly what a client of its organization and role would.
import express from 'express';
import type { Request, Response, Router } from 'express';
import { OperationOutcomeError, notFound } from '@medplum/core';
import type { AuditObserver } from '../../audit/audit-event.ts';
import type { AuditTrail } from '../../audit/audit-trail.ts';
import type { InvalidTokenError } from '../../auth/access-token.ts';
import type { AuthService } from '../../auth/auth-service.ts';
import { BoardSessions } from '../../auth/board-session.ts';
import type { Limits } from '../../config/limits.ts';
import type { Logger } from '../../log/logger.ts';
import type { FhirStore } from '../../store/fhir-store.ts';
import { boardSessionRoutes } from '../auth/board-session-routes.ts';
import { requireBearer } from '../auth/bearer.ts';
import { rateLimiter } from '../hardening/rate-limit.ts';
import { sendOutcome } from '../hardening/outcome.ts';
import type { Handle } from '../transitions/router.ts';
import { boardStatic } from './static.ts';
import { syncHealthHandler } from './sync-health.ts';
import { boardList, boardRow } from './transitions.ts';

export interface BoardRoutesOptions {
  store: FhirStore;
  auth: AuthService;
  logger: Logger;
  publicUrl?: string;
  limits: Limits;
  auditTrail: AuditTrail;
  observer: AuditObserver;
  /** The /transitions handler wrapper (its tenancy, errors and audit). */
  handle: Handle;
  /** Told of every refused bearer token (the audit trail records it). */
  onRefused: (req: Request, res: Response, err: InvalidTokenError) => Promise<void>;
  /** The time the clock is judged at (the TCM clock's `now`). */
  now: () => number;
  /** Where the built board is (default dist/board). */
  dist?: string;
}

export function boardRoutes(options: BoardRoutesOptions): Router {
  const router = express.Router();
  const { handle } = options;
  router.use(
    boardSessionRoutes({
      sessions: new BoardSessions(options.auth),
      logger: options.logger,
      publicUrl: options.publicUrl,
      auditTrail: options.auditTrail,
      observer: options.observer,
      // Guessing passwords costs the guesser, per address, as guessing assertions does.
      limiter: rateLimiter(options.limits.rateLimitPerMinute, options.logger),
    }),
  );

  const api = express.Router({ caseSensitive: true, strict: false });
  api.use(requireBearer(options.auth, { publicUrl: options.publicUrl, logger: options.logger, onRefused: options.onRefused }));
  // Its own counter per client, as /fhir and /transitions have.
  const limiter = rateLimiter(options.limits.rateLimitPerMinute, options.logger);
  if (limiter) {
    api.use(limiter);
  }
  api.get(
    '/transitions',
    handle('search-type', async ({ store, principal, request }) => {
      const list = await boardList(store, principal, request.query, options.now());
      return { status: 200, body: { items: list.items, ...(list.next ? { next: list.next } : {}) }, disclosed: list.disclosed };
    }),
  );
  api.get(
    '/transitions/:id',
    handle('read', async ({ req, store, principal }) => {
      const found = await boardRow(store, principal, req.params.id as string, options.now());
      if (!found) {
        throw new OperationOutcomeError(notFound);
      }
      return { status: 200, body: found.row, disclosed: found.disclosed };
    }),
  );
  api.get('/sync-health', syncHealthHandler({ store: options.store, auditTrail: options.auditTrail, observer: options.observer, now: Date.now }));
  api.use((_req, res) => sendOutcome(res, 404, notFound));
  router.use('/board/api', api);
  router.use('/board', boardStatic(options.dist));
  return router;
}
