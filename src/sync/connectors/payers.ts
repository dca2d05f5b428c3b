// The payers carebridge asks about eligibility (peers of kind `payer` with a fhirBaseUrl), found by
// the Organization a Coverage names as payor: the peer whose organization identifier it carries.
// One PeerClient per payer, made on first use (its timeout, concurrency limit and auth apply).
import type { Identifier } from '@medplum/fhirtypes';
import type { PeerConfig } from '../../config/peers.ts';
import type { PeerClientOptions } from './peer-client.ts';
import { PeerClient } from './peer-client.ts';

export class PayerDirectory {
  private readonly payers: PeerConfig[];
  private readonly clients = new Map<string, PeerClient>();
  private readonly options: PeerClientOptions;

  constructor(peers: readonly PeerConfig[], options: PeerClientOptions = {}) {
    this.payers = peers.filter((p) => p.kind === 'payer' && p.fhirBaseUrl);
    this.options = options;
  }

  /** The payer peer one of these identifiers names, or undefined. */
  find(identifiers: readonly Identifier[]): PeerConfig | undefined {
    return this.payers.find((p) => identifiers.some((i) => i.system === p.organization.system && i.value === p.organization.value));
  }

  clientFor(peer: PeerConfig): PeerClient {
    let client = this.clients.get(peer.name);
    if (!client) {
      client = new PeerClient(peer, this.options);
      this.clients.set(peer.name, client);
    }
    return client;
  }
}
