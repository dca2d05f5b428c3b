// One PeerClient per peer for the whole process, made on first use: pushing to an EHR and polling
// it share one concurrency limit (the peer's maxConcurrent) and one access token.
import type { PeerConfig } from '../../config/peers.ts';
import type { PeerClientOptions } from './peer-client.ts';
import { PeerClient } from './peer-client.ts';

export class PeerClients {
  private readonly clients = new Map<string, PeerClient>();
  private readonly options: PeerClientOptions;

  constructor(options: PeerClientOptions = {}) {
    this.options = options;
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
