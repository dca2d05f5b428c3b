// Runs the store contract against the real PostgreSQL (DATABASE_URL, default the local server),
// each run in its own schema, dropped at the end. jest.config.js leaves *.int.test.ts out, with a
// warning, where PostgreSQL is not reachable, except in CI (CI=true), where it must be.
import { describe, expect, it } from '@jest/globals';
import { parseSearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { MIGRATIONS } from '../../src/store/sql/schema.ts';
import { DATABASE_URL, postgresStores } from '../support/postgres.ts';
import { describeConditionContract } from './condition-contract.ts';
import { describeStoreContract } from './store-contract.ts';

const stores = postgresStores('carebridge_test');

describeStoreContract('PostgreSQL', stores);
describeConditionContract('PostgreSQL', stores);

describe('PostgreSQL migrations', () => {
  it('run once even when two instances start at the same moment', async () => {
    const schema = `carebridge_migrate_${process.pid}_${Date.now()}`;
    const [a, b] = await Promise.all([PostgresStore.open(DATABASE_URL, { schema }), PostgresStore.open(DATABASE_URL, { schema })]);
    expect(await a.schemaVersion()).toBe(Math.max(...MIGRATIONS.map((m) => m.version)));
    expect(await b.schemaVersion()).toBe(Math.max(...MIGRATIONS.map((m) => m.version)));
    await a.dropSchema(schema);
    await a.close();
    await b.close();
  });
});

describe('PostgreSQL deferred indexing by two instances', () => {
  it('splits the backlog: what one instance claimed the other indexer skips, a search waits for, and every event is indexed once', async () => {
    const a = (await stores.open()) as PostgresStore;
    const b = await PostgresStore.open(DATABASE_URL, { schema: stores.schemaOf(a) });
    try {
      const event = (n: number): Resource =>
        ({ resourceType: 'AuditEvent', type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' }, recorded: '2026-11-25T10:00:00Z', agent: [{ requestor: true, altId: `split-${n % 2}` }], source: { observer: { display: 'carebridge' } } }) as unknown as Resource;
      await a.transaction(async (tx) => {
        for (let n = 0; n < 6; n++) {
          await tx.create(event(n), { deferIndex: true });
        }
      });
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      let claimed = -1;
      // Instance A claims the whole backlog and holds its transaction open.
      const first = a.runTransaction(undefined, async (tx) => {
        const items = await tx.prepareBacklog({ resourceType: 'AuditEvent', limit: 100, claim: 'skip' });
        claimed = items.length;
        await held;
        return tx.indexBacklog(items, true);
      });
      while (claimed < 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(claimed).toBe(6);
      // B's background indexer finds nothing it may take (no second extraction) and does not wait;
      // a search on B waits for A's batch instead of answering without those events.
      expect(await b.indexDeferred('AuditEvent')).toBe(0);
      const search = b.search(parseSearchRequest('AuditEvent?altid=split-0,split-1&_total=accurate'));
      await new Promise((resolve) => setTimeout(resolve, 50));
      release();
      expect(await first).toBe(6);
      expect((await search).total).toBe(6);
      expect(await b.indexDeferred('AuditEvent')).toBe(0);
    } finally {
      await b.close();
      await stores.dispose(a);
    }
  });
});

describe('PostgreSQL: an update racing the deferred indexer', () => {
  it('leaves no index rows of the version the indexer was writing', async () => {
    const a = (await stores.open()) as PostgresStore;
    const b = await PostgresStore.open(DATABASE_URL, { schema: stores.schemaOf(a) });
    try {
      const provenance = (target: string): Resource => ({ resourceType: 'Provenance', target: [{ reference: `Patient/${target}` }], recorded: '2026-11-25T10:00:00Z', agent: [{ who: { display: 'carebridge' } }] }) as Resource;
      const { version } = await a.transaction((tx) => tx.create(provenance('race-old'), { deferIndex: true }));
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      let claimed = false;
      // Instance A's indexer has read version 1 and is writing its rows...
      const indexing = a.runTransaction(undefined, async (tx) => {
        const items = await tx.prepareBacklog({ resourceType: 'Provenance', limit: 100, claim: 'skip' });
        claimed = true;
        await held;
        return tx.indexBacklog(items, true);
      });
      while (!claimed) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      // ...when instance B updates the resource.
      const updating = b.update({ ...provenance('race-new'), id: version.id } as Resource);
      await new Promise((resolve) => setTimeout(resolve, 100));
      release();
      await indexing;
      await updating;
      const ids = async (query: string): Promise<string[]> => (await b.search(parseSearchRequest(query))).resources.map((r) => r.id as string);
      expect(await ids('Provenance?target=Patient/race-new')).toEqual([version.id]);
      expect(await ids('Provenance?target=Patient/race-old')).toEqual([]);
    } finally {
      await b.close();
      await stores.dispose(a);
    }
  });
});
