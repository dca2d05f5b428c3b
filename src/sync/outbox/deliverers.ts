// How one delivery reaches one kind of destination. A deliverer sends the resource as it is now
// (the newest state, never a stale intermediate one) and says which version that was; failures
// are PeerErrors the dispatcher sorts into retry, block and dead-letter.
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { PeerConfig } from '../../config/peers.ts';
import type { FhirStore, StoredVersion } from '../../store/fhir-store.ts';
import type { Delivery } from '../../store/outbox.ts';
import type { PeerClient } from '../connectors/peer-client.ts';
import { PeerError } from '../connectors/peer-client.ts';
import { PeerClients } from '../connectors/peer-clients.ts';
import type { DeliveryReader, ReadResource } from './push-bundle.ts';
import { pushBundle } from './push-bundle.ts';
import type { Deliverer } from './deliverer.ts';
import { EVENT_ID_HEADER } from './deliverer.ts';
import { CommunicationWriteback } from './communication-writeback.ts';
import { peerReader } from './peer-router.ts';


function isBundle(value: unknown, type: string): value is Bundle {
  return typeof value === 'object' && value !== null && (value as Bundle).resourceType === 'Bundle' && (value as Bundle).type === type;
}

/** A FHIR peer: one transaction Bundle of conditional updates per change. */
export class FhirPushDeliverer implements Deliverer {
  private readonly client: PeerClient;
  private readonly reader: DeliveryReader;

  constructor(client: PeerClient, reader: DeliveryReader) {
    this.client = client;
    this.reader = reader;
  }

  async deliver(delivery: Delivery, current: StoredVersion | undefined): Promise<{ sentVersionId: string }> {
    const sent = current ?? { versionId: delivery.versionId, deleted: true };
    const pushed = new Set(this.client.peer.push?.resourceTypes ?? []);
    // An agency gets the Patient with the plan; an EHR has its own patient, found by the MRN.
    const along = (type: string): boolean => pushed.has(type) || (type === 'Patient' && this.client.peer.kind !== 'ehr');
    const bundle = await pushBundle({ resourceType: delivery.resourceType, id: delivery.resourceId, resource: sent.deleted ? undefined : (current?.resource as Resource) }, this.reader(), this.client.peer.fhirBaseUrl as string, along);
    const answer = await this.client.request('POST', { body: bundle, headers: { [EVENT_ID_HEADER]: delivery.eventId } });
    // An answer that is not the response to what we sent is not a success, whatever its status.
    if (!isBundle(answer.body, 'transaction-response') || (answer.body.entry ?? []).length !== (bundle.entry ?? []).length) {
      throw new PeerError(`peer ${this.client.peer.name} did not answer with the transaction-response of the Bundle it was sent`, 'retry', { status: answer.status });
    }
    const refused = (answer.body.entry ?? []).find((entry) => !/^2\d\d/.test(entry.response?.status ?? ''));
    if (refused) {
      const status = Number.parseInt(refused.response?.status ?? '', 10);
      throw new PeerError(`peer ${this.client.peer.name} refused an entry (${refused.response?.status ?? 'no status'})`, Number.isFinite(status) && status >= 500 ? 'retry' : 'rejected', { status });
    }
    return { sentVersionId: sent.versionId };
  }
}

/** A webhook: the change as a one-entry history Bundle, POSTed. */
export class WebhookDeliverer implements Deliverer {
  private readonly client: PeerClient;

  constructor(client: PeerClient) {
    this.client = client;
  }

  async deliver(delivery: Delivery, current: StoredVersion | undefined): Promise<{ sentVersionId: string }> {
    const versionId = current?.versionId ?? delivery.versionId;
    const url = `${delivery.resourceType}/${delivery.resourceId}`;
    const deleted = !current || current.deleted;
    const bundle: Bundle = {
      resourceType: 'Bundle',
      id: delivery.eventId,
      type: 'history',
      timestamp: new Date().toISOString(),
      entry: [
        {
          fullUrl: url,
          ...(deleted ? {} : { resource: current.resource }),
          request: { method: deleted ? 'DELETE' : 'PUT', url },
          response: { status: deleted ? '204' : '200', etag: `W/"${versionId}"` },
        },
      ],
    };
    await this.client.request('POST', { body: bundle, headers: { [EVENT_ID_HEADER]: delivery.eventId } });
    return { sentVersionId: versionId };
  }
}

/**
 * Reads as a peer's organization may see (peerReader): what a deliverer sends along with a change
 * is what that organization could read over the API, never more — a broadcast's other referrals
 * stay out of each agency's Bundle.
 */
export function peerReads(store: Pick<FhirStore, 'forCaller'>): (peer: PeerConfig) => DeliveryReader {
  return (peer) => {
    const caller = peerReader(peer);
    // A view per delivery: a view resolves the organization's access once (its Organization ids)
    // and keeps it, and a deliverer lives as long as the process: a new copy of the agency's
    // Organization, or an identifier an admin corrected, would otherwise never be seen.
    return (): ReadResource => {
      const seen = store.forCaller(caller);
      return async (resourceType, id) => {
        const version = await seen.read(resourceType, id);
        return version && !version.deleted ? version.resource : undefined;
      };
    };
  };
}

/** The deliverer of each configured peer that is pushed to; `readAs(peer)` reads what that peer may see. */
export function peerDeliverers(peers: readonly PeerConfig[], readAs: (peer: PeerConfig) => DeliveryReader, clients: PeerClients = new PeerClients()): Map<string, Deliverer> {
  const deliverers = new Map<string, Deliverer>();
  for (const peer of peers) {
    if (!peer.push || peer.kind === 'payer') {
      continue;
    }
    const client = clients.clientFor(peer);
    const read = readAs(peer);
    if (!peer.fhirBaseUrl) {
      deliverers.set(peer.name, new WebhookDeliverer(client));
    } else if (peer.push.mode === 'communication') {
      deliverers.set(peer.name, new CommunicationWriteback(client, read));
    } else {
      deliverers.set(peer.name, new FhirPushDeliverer(client, read));
    }
  }
  return deliverers;
}
