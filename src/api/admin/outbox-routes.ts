// /admin/outbox: what operators need to see and do about deliveries — per destination how many
// wait, how far behind, how many are dead; the deliveries themselves; replaying one, a peer's, or
// all. Admin clients only; every call is audited like any other request.
import express from 'express';
import type { Request, Response, Router } from 'express';
import type { AuditObserver } from '../../audit/audit-event.ts';
import { auditEventFor } from '../../audit/audit-event.ts';
import type { AuditTrail } from '../../audit/audit-trail.ts';
import type { Principal } from '../../auth/principal.ts';
import type { FhirStore } from '../../store/fhir-store.ts';
import type { DeliveryState, ReplaySelector } from '../../store/outbox.ts';

const STATES: readonly DeliveryState[] = ['pending', 'delivered', 'superseded', 'dead'];
const DESTINATION = /^[a-z0-9][a-z0-9-]{0,62}$|^subscription\/[A-Za-z0-9\-.]{1,64}$/;
const MAX_PAGE = 1000;

export interface OutboxRoutesOptions {
  store: FhirStore;
  auditTrail: AuditTrail;
  observer: AuditObserver;
  /** The largest request body (a replay request is tiny). */
  maxBodyBytes?: number;
}

class BadRequest extends Error {}

function outcome(code: string, text: string): unknown {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

function positiveInt(value: unknown, name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  const n = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : typeof value === 'number' && Number.isInteger(value) ? value : Number.NaN;
  if (!(n >= 0 && n <= max)) {
    throw new BadRequest(`${name} must be a whole number from 0 to ${max}`);
  }
  return n;
}

function destination(value: unknown): string | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== 'string' || !DESTINATION.test(value)) {
    throw new BadRequest('peer must be a peer name or subscription/<id>');
  }
  return value;
}

/** { "id": 12 } | { "peer": "sunrise" } | { "all": true }: exactly one. */
function replaySelector(body: unknown): ReplaySelector {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequest('The body must be a JSON object: {"id": n}, {"peer": "name"} or {"all": true}');
  }
  const keys = Object.keys(body);
  const value = body as Record<string, unknown>;
  if (keys.length !== 1) {
    throw new BadRequest('Say exactly one of id, peer and all');
  }
  if ('id' in value) {
    return { id: positiveInt(value.id, 'id') as number };
  }
  if ('peer' in value) {
    return { destination: destination(value.peer) as string };
  }
  if (value.all === true) {
    return { all: true };
  }
  throw new BadRequest('Say exactly one of id, peer and all');
}

export function outboxRoutes(options: OutboxRoutesOptions): Router {
  const router = express.Router();
  const { store } = options;

  const handle = (operation: string, run: (req: Request) => Promise<{ status: number; body: unknown }>) => async (req: Request, res: Response): Promise<void> => {
    const principal = res.locals.principal as Principal | undefined;
    let answer: { status: number; body: unknown };
    if (principal?.role !== 'admin') {
      answer = { status: 403, body: outcome('forbidden', 'Only an admin client may see or replay the outbox') };
    } else {
      try {
        answer = await run(req);
      } catch (err) {
        answer = err instanceof BadRequest ? { status: 400, body: outcome('invalid', err.message) } : { status: 500, body: outcome('exception', 'The outbox could not be read or changed') };
      }
    }
    try {
      await options.auditTrail.record(
        auditEventFor({ interaction: 'operation', operation, principal, status: answer.status, address: req.ip, requestId: res.locals.requestId as string | undefined, recorded: new Date(), observer: options.observer }),
      );
    } catch {
      answer = { status: 503, body: outcome('transient', 'The audit trail could not be written; the request was not answered. Try again.') };
    }
    res.status(answer.status).type(answer.status >= 400 ? 'application/fhir+json' : 'application/json').send(JSON.stringify(answer.body));
  };

  router.get(
    '/',
    handle('outbox', async () => {
      const now = Date.now();
      const destinations = (await store.countDeliveries()).map((c) => ({ ...c, oldestPendingAgeSeconds: c.oldestPendingMs === undefined ? undefined : Math.max(0, Math.round((now - c.oldestPendingMs) / 1000)) }));
      return { status: 200, body: { destinations } };
    }),
  );

  router.get(
    '/deliveries',
    handle('outbox', async (req) => {
      const q = req.query as Record<string, unknown>;
      const state = q.state;
      if (state !== undefined && !STATES.includes(state as DeliveryState)) {
        throw new BadRequest(`state must be one of ${STATES.join(', ')}`);
      }
      const limit = positiveInt(q._count, '_count', MAX_PAGE) ?? 100;
      const deliveries = await store.listDeliveries({ destination: destination(q.peer), state: state as DeliveryState | undefined, afterId: positiveInt(q.after, 'after'), limit });
      const last = deliveries.at(-1);
      return { status: 200, body: { deliveries, ...(deliveries.length === limit && last ? { next: { after: last.id } } : {}) } };
    }),
  );

  router.post(
    '/replay',
    express.raw({ type: () => true, limit: options.maxBodyBytes ?? 16 * 1024 }),
    handle('outbox-replay', async (req) => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '');
      } catch {
        throw new BadRequest('The body must be JSON');
      }
      const replayed = await store.replayDeliveries(replaySelector(body));
      return { status: 200, body: { replayed } };
    }),
  );

  return router;
}
