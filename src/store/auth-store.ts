// What authentication needs from the store, shared by every worker and instance on it: the used
// client-assertion ids (a replayed jti is refused everywhere) and carebridge's token-signing key.

export interface AuthStore {
  /**
   * Records that `clientId` used assertion `jti`, valid until `expiresMs` (epoch ms). False when
   * it was already recorded and has not yet expired: a replay. Expired records are pruned here.
   */
  claimAssertion(clientId: string, jti: string, expiresMs: number): Promise<boolean>;
  /**
   * The key stored under `name`; when there is none yet, stores `candidate` and returns it. The
   * first instance to start wins, so every worker and instance signs with the same key.
   */
  claimSigningKey(name: string, candidate: string): Promise<string>;
}
