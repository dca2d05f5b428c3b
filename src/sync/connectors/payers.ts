// The payers carebridge asks about eligibility (peers of kind `payer` with a fhirBaseUrl), found by
// the Organization a Coverage names as payor: the peer whose organization identifier it carries.
// Their clients come from a PeerClients registry (its timeout, concurrency limit and auth apply).
import type { Identifier } from '@medplum/fhirtypes';
import type { PeerConfig } from '../../config/peers.ts';
import type { PeerClient, PeerClientOptions } from './peer-client.ts';
import { PeerClients } from './peer-clients.ts';

export class PayerDirectory {
  private readonly payers: PeerConfig[];
  private readonly clients: PeerClients;

  constructor(peers: readonly PeerConfig[], clients: PeerClients | PeerClientOptions = {}) {
    this.payers = peers.filter((p) => p.kind === 'payer' && p.fhirBaseUrl);
    this.clients = clients instanceof PeerClients ? clients : new PeerClients(clients);
  }

  /** The payer peer one of these identifiers names, or undefined. */
  find(identifiers: readonly Identifier[]): PeerConfig | undefined {
    return this.payers.find((p) => identifiers.some((i) => i.system === p.organization.system && i.value === p.organization.value));
  }

  clientFor(peer: PeerConfig): PeerClient {
    return this.clients.clientFor(peer);
  }
}
