// GET /board/api/sync-health (admins only): each destination's health in one answer for the
// board's operations view — the outbox counts (pending, dead, delivered), how far behind it is,
// the last successful delivery, and for polled EHRs the last poll's success and error. The dead
// deliveries themselves and their replay are /admin/outbox's (the board calls it).
import type { Request, Response } from 'express';
import type { AuditObserver } from '../../audit/audit-event.ts';
import { auditEventFor } from '../../audit/audit-event.ts';
import type { AuditTrail } from '../../audit/audit-trail.ts';
import type { Principal } from '../../auth/principal.ts';
import type { FhirStore } from '../../store/fhir-store.ts';
import { PEER_RUN } from '../../store/sync-store.ts';
import { sendOutcome, issueOutcome } from '../hardening/outcome.ts';
import type { DestinationHealth } from './board-api-types.ts';

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

export async function syncHealth(store: FhirStore, nowMs: number): Promise<DestinationHealth[]> {
  const [counts, polls] = await Promise.all([store.countDeliveries(), store.pollStatus()]);
  const byName = new Map<string, DestinationHealth>();
  for (const c of counts) {
    byName.set(c.destination, {
      destination: c.destination,
      kind: c.destination.startsWith('subscription/') ? 'subscription' : 'peer',
      pending: c.pending,
      dead: c.dead,
      delivered: c.delivered,
      ...(c.oldestPendingMs !== undefined ? { oldestPendingAgeSeconds: Math.max(0, Math.round((nowMs - c.oldestPendingMs) / 1000)) } : {}),
      ...(c.lastDeliveredMs !== undefined ? { lastDeliveredAt: iso(c.lastDeliveredMs) } : {}),
    });
  }
  for (const run of polls.filter((p) => p.queryKey === PEER_RUN)) {
    const health = byName.get(run.peer) ?? { destination: run.peer, kind: 'peer' as const, pending: 0, dead: 0, delivered: 0 };
    health.poll = { lastSuccessAt: run.lastSuccessAt, lastFinishedAt: run.lastFinishedAt, lastErrorAt: run.lastErrorAt, lastError: run.lastError };
    byName.set(run.peer, health);
  }
  // Trouble first: dead letters, then the longest waits, then by name.
  return [...byName.values()].sort((a, b) => b.dead - a.dead || (b.oldestPendingAgeSeconds ?? -1) - (a.oldestPendingAgeSeconds ?? -1) || a.destination.localeCompare(b.destination));
}

/** The route's handler: admins only, audited as /admin/outbox's reads are. */
export function syncHealthHandler(options: { store: FhirStore; auditTrail: AuditTrail; observer: AuditObserver; now: () => number }) {
  return async (req: Request, res: Response): Promise<void> => {
    const principal = res.locals.principal as Principal | undefined;
    const admin = principal?.role === 'admin';
    let body: unknown;
    let status: number;
    try {
      body = admin ? { destinations: await syncHealth(options.store, options.now()) } : undefined;
      status = admin ? 200 : 403;
    } catch {
      status = 500;
    }
    try {
      await options.auditTrail.record(auditEventFor({ interaction: 'operation', operation: 'sync-health', principal, status, address: req.ip, requestId: res.locals.requestId as string | undefined, recorded: new Date(), observer: options.observer }));
    } catch {
      sendOutcome(res, 503, issueOutcome('transient', 'The audit trail could not be written; the request was not answered. Try again.'));
      return;
    }
    if (status === 403) {
      sendOutcome(res, 403, issueOutcome('forbidden', 'Only an admin sees the sync health'));
    } else if (status === 500) {
      sendOutcome(res, 500, issueOutcome('exception', 'The sync health could not be read'));
    } else {
      res.status(200).type('application/json').send(JSON.stringify(body));
    }
  };
}
