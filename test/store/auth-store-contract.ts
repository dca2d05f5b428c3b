// What every store adapter does for authentication (AuthStore): auth-store.test.ts runs it on
// SQLite, auth-store.int.test.ts on PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import type { StoreFactory } from './store-contract.ts';

/**
 * `openAnother` opens a second store on the same database. `concurrentAcrossStores`: whether two
 * stores in one process may run transactions at the same time (PostgreSQL yes; two SQLite
 * connections in one process would block each other's event loop, so cluster workers are processes).
 */
export function describeAuthStoreContract(name: string, factory: StoreFactory, openAnother: (store: FhirStore) => Promise<FhirStore>, concurrentAcrossStores: boolean): void {
  describe(`${name} store, authentication`, () => {
    let store: FhirStore;
    let other: FhirStore;

    beforeAll(async () => {
      store = await factory.open();
      other = await openAnother(store);
    });

    afterAll(async () => {
      await other.close();
      await factory.dispose(store);
    });

    it('claims an assertion id once per client, whichever connection asks', async () => {
      const jti = randomUUID();
      const expires = Date.now() + 60_000;
      expect(await store.claimAssertion('client-a', jti, expires)).toBe(true);
      expect(await store.claimAssertion('client-a', jti, expires)).toBe(false);
      expect(await other.claimAssertion('client-a', jti, expires)).toBe(false);
      expect(await store.claimAssertion('client-b', jti, expires)).toBe(true);
    });

    it('lets exactly one of many simultaneous claims of one id win', async () => {
      const jti = randomUUID();
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 && concurrentAcrossStores ? other : store).claimAssertion('client-a', jti, Date.now() + 60_000)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('prunes expired claims', async () => {
      const jti = randomUUID();
      expect(await store.claimAssertion('client-a', jti, Date.now() - 1000)).toBe(true);
      // The expired row is pruned by the next claim, so the id can be claimed again (the token
      // endpoint refuses an expired assertion before it gets this far).
      expect(await store.claimAssertion('client-a', jti, Date.now() + 60_000)).toBe(true);
    });

    it('keeps the first signing key stored under a name', async () => {
      const name = `key-${randomUUID()}`;
      const [a, b] = concurrentAcrossStores
        ? await Promise.all([store.claimSigningKey(name, 'first'), other.claimSigningKey(name, 'second')])
        : [await store.claimSigningKey(name, 'first'), await other.claimSigningKey(name, 'second')];
      // Concurrently either may win; one after the other, the first does.
      expect(concurrentAcrossStores ? ['first', 'second'] : ['first']).toContain(a);
      expect(a).toBe(b);
      expect(await store.claimSigningKey(name, 'third')).toBe(a);
    });
  });
}
