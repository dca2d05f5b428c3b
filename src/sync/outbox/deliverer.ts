// What every kind of destination implements: send one delivery, say which version it sent.
import type { StoredVersion } from '../../store/fhir-store.ts';
import type { Delivery } from '../../store/outbox.ts';

/** Sent with every delivery: the receiver drops a repeat by it (at-least-once becomes once in effect). */
export const EVENT_ID_HEADER = 'x-carebridge-event-id';

export interface Deliverer {
  /** Sends the change; resolves with the version the destination now holds. Failures are PeerErrors. */
  deliver(delivery: Delivery, current: StoredVersion | undefined): Promise<{ sentVersionId: string }>;
}
