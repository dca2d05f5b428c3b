// Which peers a change goes to, decided inside its write transaction. A peer gets a change when
// the peer's organization may see the resource under carebridge's own tenancy rules (an agency:
// its referred patients; an EHR: the patients it sent), never a change its own organization made
// (no echo), and always the referral Task it owns — also the one that cancels it.
import { callerFor } from '../../auth/access/policy.ts';
import type { Principal } from '../../auth/principal.ts';
import { parseScope } from '../../auth/scopes.ts';
import type { Scope } from '../../auth/scopes.ts';
import type { PeerConfig } from '../../config/peers.ts';
import type { StoreCaller } from '../../store/access.ts';
import { organizationKey } from '../../store/access.ts';
import type { OutboxEntry, OutboxRouter, RoutingContext } from '../../store/outbox.ts';
import { concerns } from './concerns.ts';

/** carebridge's own records never leave it. */
const NEVER_SENT = new Set(['AuditEvent', 'Provenance', 'Subscription']);

interface Pusher {
  name: string;
  types: ReadonlySet<string>;
  organizationKey: string;
  /** The peer's organization as a tenant: what it may see. */
  caller: StoreCaller;
}

/** A peer's organization reads as the client role of its kind would, with every read scope. */
export function peerReader(peer: PeerConfig): StoreCaller {
  const principal: Principal = {
    clientId: `peer:${peer.name}`,
    clientName: peer.name,
    role: peer.kind === 'agency' ? 'agency' : 'hospital',
    organization: peer.organization,
    scopes: [parseScope('system/*.rs') as Scope],
  };
  return callerFor(principal);
}

export function peerRouter(peers: readonly PeerConfig[]): OutboxRouter | undefined {
  const pushers: Pusher[] = peers
    .filter((peer) => peer.push && peer.kind !== 'payer')
    .map((peer) => ({ name: peer.name, types: new Set(peer.push?.resourceTypes), organizationKey: organizationKey(peer.organization), caller: peerReader(peer) }));
  if (pushers.length === 0) {
    return undefined;
  }
  return {
    async route(written, context: RoutingContext): Promise<OutboxEntry[]> {
      const entries: OutboxEntry[] = [];
      for (const version of written) {
        if (NEVER_SENT.has(version.resourceType)) {
          continue;
        }
        let patientId: string | undefined;
        for (const pusher of pushers) {
          if (!pusher.types.has(version.resourceType) || context.writer === pusher.organizationKey) {
            continue;
          }
          if (await concerns(context, pusher.caller, version)) {
            patientId ??= await context.patientOf(version.resourceType, version.id);
            entries.push({ destination: pusher.name, patientId, resourceType: version.resourceType, resourceId: version.id, versionId: version.versionId });
          }
        }
      }
      return entries;
    },
  };
}
