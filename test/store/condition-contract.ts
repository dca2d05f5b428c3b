// Conditional entries of a transaction Bundle, on every store adapter: the conditions a Bundle
// names are looked up together (conditionCandidates) and only those with candidates searched, so
// these check that each entry still gets what its own search would give it: 0 matches → create,
// 1 → that resource, several → 412, also when two entries share a condition or an entry's match
// is written earlier in the same Bundle. sqlite-store.test.ts and postgres-store.int.test.ts run it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OperationOutcomeError, getStatus, parseSearchRequest } from '@medplum/core';
import type { Bundle, BundleEntry, Observation, Patient } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { MAX_ENTRIES, transaction } from '../../src/api/fhir/transaction.ts';
import type { FhirRequest } from '../../src/api/fhir/request.ts';
import { createLogger } from '../../src/log/logger.ts';
import type { FhirStore, StoreTransaction } from '../../src/store/fhir-store.ts';
import { loadDefinitions } from '../../src/validation/definitions.ts';
import type { StoreFactory } from './store-contract.ts';

const MRN = 'urn:carebridge-test:mrn';
const REQUEST: FhirRequest = { method: 'POST', path: '', query: [], headers: {}, baseUrl: 'http://carebridge.test/fhir' };

const patient = (value: string, family = 'Okafor'): Patient => ({ resourceType: 'Patient', identifier: [{ system: MRN, value }], name: [{ family }] });
const observation = (value: string, subject: string): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  identifier: [{ system: MRN, value }],
  code: { text: 'weight' },
  subject: { reference: subject },
});

function post(resource: Patient | Observation, ifNoneExist?: string, fullUrl?: string): BundleEntry {
  return { ...(fullUrl ? { fullUrl } : {}), resource, request: { method: 'POST', url: resource.resourceType, ...(ifNoneExist ? { ifNoneExist } : {}) } };
}

function put(resource: Patient | Observation, query: string, fullUrl?: string): BundleEntry {
  return { ...(fullUrl ? { fullUrl } : {}), resource, request: { method: 'PUT', url: `${resource.resourceType}?${query}` } };
}

export function describeConditionContract(name: string, factory: StoreFactory): void {
  describe(`${name} store, conditional entries of a transaction`, () => {
    let store: FhirStore;

    beforeAll(async () => {
      loadDefinitions();
      store = await factory.open();
    });

    afterAll(async () => {
      await factory.dispose(store);
    });

    async function run(entries: BundleEntry[]): Promise<BundleEntry[]> {
      const response = await transaction(store, REQUEST, { resourceType: 'Bundle', type: 'transaction', entry: entries });
      return (response.body as Bundle).entry ?? [];
    }

    async function statusOf(entries: BundleEntry[]): Promise<number> {
      try {
        await run(entries);
        return 200;
      } catch (err) {
        if (err instanceof OperationOutcomeError) {
          return getStatus(err.outcome);
        }
        throw err;
      }
    }

    async function idsOf(type: string, value: string): Promise<string[]> {
      return (await store.search(parseSearchRequest(`${type}?identifier=${MRN}|${value}`))).resources.map((r) => r.id as string).sort();
    }

    it('names the candidates of each condition, and none only where no stored resource can match', async () => {
      const value = randomUUID();
      const id = (await store.create(patient(value))).version.id;
      const candidates = await store.conditionCandidates(
        [
          `identifier=${MRN}|${value}`,
          `identifier=${MRN}|${value}-absent`,
          `identifier=${MRN}|${value}-absent,${MRN}|${value}`,
          `identifier=${value}`,
          `identifier=other-system|${value}`,
          `identifier=${MRN}|`,
          'family=Okafor',
        ].map((query) => parseSearchRequest(`Patient?${query}`)),
      );
      // A token value stored under another system is only a candidate: its search says no.
      expect(candidates).toEqual([[id], [], [id], [id], [id], undefined, undefined]);
      expect(await store.transaction((tx) => tx.conditionCandidates([parseSearchRequest(`Observation?identifier=${MRN}|${value}`)]))).toEqual([[]]);
    });

    it('updates and finds what exists, creates what does not, in one Bundle', async () => {
      const [stored, storedByAlternative, fresh] = [randomUUID(), randomUUID(), randomUUID()];
      const existing = (await store.create(patient(stored))).version.id;
      const other = (await store.create(patient(storedByAlternative))).version.id;
      const answers = await run([
        put(patient(stored, 'Updated'), `identifier=${MRN}|${stored}`),
        post(patient(fresh), `identifier=${MRN}|${fresh}`, 'urn:uuid:0d4c2a4e-0000-4000-8000-000000000001'),
        post(patient(storedByAlternative), `identifier=${MRN}|${randomUUID()},${MRN}|${storedByAlternative}`, 'urn:uuid:0d4c2a4e-0000-4000-8000-000000000002'),
        post(observation(fresh, 'urn:uuid:0d4c2a4e-0000-4000-8000-000000000002'), `identifier=${MRN}|${fresh}`),
      ]);
      expect(answers.map((a) => a.response?.status)).toEqual(['200', '201', '200', '201']);
      expect(answers[0]?.resource).toMatchObject({ id: existing, name: [{ family: 'Updated' }] });
      expect(answers[2]?.resource?.id).toBe(other);
      expect((answers[3]?.resource as Observation).subject?.reference).toBe(`Patient/${other}`);
      expect(await idsOf('Patient', fresh)).toEqual([answers[1]?.resource?.id]);
    });

    it('gives two POST entries with one If-None-Exist one resource', async () => {
      const value = randomUUID();
      const answers = await run([
        post(patient(value), `identifier=${MRN}|${value}`, 'urn:uuid:0d4c2a4e-0000-4000-8000-000000000011'),
        post(patient(value), `identifier=${MRN}|${value}`, 'urn:uuid:0d4c2a4e-0000-4000-8000-000000000012'),
      ]);
      const ids = await idsOf('Patient', value);
      expect(ids).toHaveLength(1);
      expect(answers.map((a) => a.resource?.id)).toEqual([ids[0], ids[0]]);
    });

    it('gives two conditional PUT entries with one query one resource', async () => {
      const value = randomUUID();
      const answers = await run([put(patient(value, 'First'), `identifier=${MRN}|${value}`), put(patient(value, 'Second'), `identifier=${MRN}|${value}`)]);
      const ids = await idsOf('Patient', value);
      expect(ids).toHaveLength(1);
      expect(answers.map((a) => a.resource?.id)).toEqual([ids[0], ids[0]]);
      expect((await store.read('Patient', ids[0] as string))?.resource).toMatchObject({ name: [{ family: 'Second' }] });
    });

    it('gives a full Bundle of conditional creates over ten conditions one resource per condition', async () => {
      const values = Array.from({ length: 10 }, () => randomUUID());
      const condition = (i: number): string => values[i % values.length] as string;
      const answers = await run(Array.from({ length: MAX_ENTRIES }, (_, i) => post(patient(condition(i)), `identifier=${MRN}|${condition(i)}`, `urn:uuid:${randomUUID()}`)));
      const created = new Map<string, string>();
      for (const value of values) {
        const ids = await idsOf('Patient', value);
        expect(ids).toHaveLength(1);
        created.set(value, ids[0] as string);
      }
      expect(answers).toHaveLength(MAX_ENTRIES);
      // The first entry of each condition creates; every later one finds what it created.
      expect(answers.map((a, i) => [a.response?.status, a.resource?.id, a.response?.location?.includes(`/Patient/${created.get(condition(i))}/`)])).toEqual(
        Array.from({ length: MAX_ENTRIES }, (_, i) => [i < values.length ? '201' : '200', created.get(condition(i)), true]),
      );
    });

    it('gives a full Bundle of conditional updates over ten conditions one resource per condition, as the last entry wrote it', async () => {
      const values = Array.from({ length: 10 }, () => randomUUID());
      const condition = (i: number): string => values[i % values.length] as string;
      const answers = await run(Array.from({ length: MAX_ENTRIES }, (_, i) => put(patient(condition(i), `Family${i}`), `identifier=${MRN}|${condition(i)}`)));
      const created = new Map<string, string>();
      for (const [n, value] of values.entries()) {
        const ids = await idsOf('Patient', value);
        expect(ids).toHaveLength(1);
        created.set(value, ids[0] as string);
        expect((await store.read('Patient', ids[0] as string))?.resource).toMatchObject({ name: [{ family: `Family${MAX_ENTRIES - values.length + n}` }] });
      }
      expect(answers.map((a) => [a.response?.status, a.resource?.id])).toEqual(Array.from({ length: MAX_ENTRIES }, (_, i) => [i < values.length ? '201' : '200', created.get(condition(i))]));
    });

    it('decides conditions on what was stored before the Bundle: an entry written earlier in it is no match', async () => {
      const value = randomUUID();
      const id = randomUUID();
      // The PUT Type/id is written first (entries run in order within a method), yet the
      // conditional PUT was decided before any write: it creates a resource of its own.
      const answers = await run([{ resource: { ...patient(value, 'ById'), id }, request: { method: 'PUT', url: `Patient/${id}` } }, put(patient(value, 'ByCondition'), `identifier=${MRN}|${value}`)]);
      const ids = await idsOf('Patient', value);
      expect(ids).toHaveLength(2);
      expect(ids).toContain(id);
      expect(answers.map((a) => a.response?.status)).toEqual(['201', '201']);
      expect(answers[1]?.resource?.id).not.toBe(id);
    });

    it('answers 412 for a condition that matches several, and writes none of the Bundle', async () => {
      const [twin, fresh] = [randomUUID(), randomUUID()];
      await store.create(patient(twin));
      await store.create(patient(twin));
      const entries = (last: BundleEntry): BundleEntry[] => [post(patient(fresh), `identifier=${MRN}|${fresh}`), put(observation(fresh, 'Patient/example'), `identifier=${MRN}|${fresh}`), last];
      expect(await statusOf(entries(put(patient(twin), `identifier=${MRN}|${twin}`)))).toBe(412);
      expect(await statusOf(entries(post(patient(twin), `identifier=${MRN}|${twin}`)))).toBe(412);
      expect(await statusOf(entries(post(patient(twin), `identifier=${MRN}|${randomUUID()},${MRN}|${twin}`)))).toBe(412);
      expect(await idsOf('Patient', fresh)).toEqual([]);
      expect(await idsOf('Observation', fresh)).toEqual([]);
    });

    describe('when what was committed before the transaction is not what it finds', () => {
      // transaction() guesses each condition's match from what is committed, before the write
      // transaction, to prepare references and index rows; the transaction itself decides.
      const subject = 'urn:uuid:0d4c2a4e-0000-4000-8000-000000000031';
      const entries = (value: string): BundleEntry[] => [post(patient(value), `identifier=${MRN}|${value}`, subject), post(observation(value, subject))];

      it('points references at a match that appeared after the guess', async () => {
        const value = randomUUID();
        let appeared: string | undefined;
        // The match is written in the same database transaction, just before the Bundle's work.
        const late = new Proxy(store, {
          get: (target, key) =>
            key === 'transaction'
              ? <T>(work: Parameters<FhirStore['transaction']>[0]) =>
                  target.transaction(async (tx) => {
                    appeared = (await tx.create(patient(value, 'Late'))).version.id;
                    return (await work(tx)) as T;
                  })
              : Reflect.get(target, key, target),
        });
        const response = await transaction(late, REQUEST, { resourceType: 'Bundle', type: 'transaction', entry: entries(value) });
        const answers = (response.body as Bundle).entry ?? [];
        expect(answers.map((a) => a.response?.status)).toEqual(['200', '201']);
        expect(answers[0]?.resource?.id).toBe(appeared);
        expect((answers[1]?.resource as Observation).subject?.reference).toBe(`Patient/${appeared}`);
        expect((await store.search(parseSearchRequest(`Observation?subject=Patient/${appeared}`))).resources.map((r) => r.id)).toEqual([answers[1]?.resource?.id]);
      });

      it('creates, and points references at the new resource, when the guessed match is gone', async () => {
        const value = randomUUID();
        const gone = (await store.create(patient(value))).version.id;
        const stale = new Proxy(store, {
          get: (target, key) =>
            key === 'transaction'
              ? (work: Parameters<FhirStore['transaction']>[0]) =>
                  target.transaction(async (tx) => {
                    await tx.delete('Patient', gone);
                    return work(tx);
                  })
              : Reflect.get(target, key, target),
        });
        const response = await transaction(stale, REQUEST, { resourceType: 'Bundle', type: 'transaction', entry: entries(value) });
        const answers = (response.body as Bundle).entry ?? [];
        expect(answers.map((a) => a.response?.status)).toEqual(['201', '201']);
        const created = answers[0]?.resource?.id as string;
        expect(created).not.toBe(gone);
        expect((answers[1]?.resource as Observation).subject?.reference).toBe(`Patient/${created}`);
        expect(await idsOf('Patient', value)).toEqual([created]);
        expect((await store.search(parseSearchRequest(`Observation?subject=Patient/${created}`))).resources.map((r) => r.id)).toEqual([answers[1]?.resource?.id]);
      });
    });

    describe('when the look before the transaction fails', () => {
      const subject = 'urn:uuid:0d4c2a4e-0000-4000-8000-000000000041';
      const entries = (value: string): BundleEntry[] => [post(patient(value), `identifier=${MRN}|${value}`, subject), post(observation(value, subject))];
      /** A database error that quotes the value it refused, as some do. */
      const failure = (value: string): Error => Object.assign(new Error(`lookup of ${value} failed`), { code: 'XX000' });
      const failing = (target: FhirStore, error: Error): FhirStore =>
        new Proxy(target, { get: (t, key) => (key === 'conditionCandidates' ? () => Promise.reject(error) : Reflect.get(t, key, t)) });

      it('decides as without a guess, and logs the kind of error without its message', async () => {
        const value = randomUUID();
        const existing = (await store.create(patient(value))).version.id;
        const lines: string[] = [];
        const logger = createLogger({ stream: new Writable({ write: (chunk: Buffer, _encoding, done) => done(void lines.push(chunk.toString('utf8'))) }) });
        const response = await transaction(failing(store, failure(value)), { ...REQUEST, logger }, { resourceType: 'Bundle', type: 'transaction', entry: entries(value) });
        const answers = (response.body as Bundle).entry ?? [];
        expect(answers.map((a) => a.response?.status)).toEqual(['200', '201']);
        expect(answers[0]?.resource?.id).toBe(existing);
        expect((answers[1]?.resource as Observation).subject?.reference).toBe(`Patient/${existing}`);
        await new Promise((resolve) => setImmediate(resolve));
        expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([expect.objectContaining({ level: 'warn', message: 'transaction id guess failed', errorName: 'Error', code: 'XX000' })]);
        expect(lines.join('')).not.toContain(value);
      });

      it("fails with the store's error when the transaction's own look fails too, and writes nothing", async () => {
        const value = randomUUID();
        const error = failure(value);
        const broken = new Proxy(failing(store, error), {
          get: (target, key) =>
            key === 'transaction'
              ? (work: Parameters<FhirStore['transaction']>[0]) => store.transaction((tx) => work(new Proxy(tx, { get: (t, k) => (k === 'conditionCandidates' ? () => Promise.reject(error) : Reflect.get(t, k, t)) }) as StoreTransaction))
              : Reflect.get(target, key, target),
        });
        await expect(transaction(broken, REQUEST, { resourceType: 'Bundle', type: 'transaction', entry: entries(value) })).rejects.toBe(error);
        expect(await idsOf('Patient', value)).toEqual([]);
        expect(await idsOf('Observation', value)).toEqual([]);
      });
    });

    it('searches a condition the index cannot rule out (a string parameter)', async () => {
      const family = `Fam${randomUUID().slice(0, 8)}`;
      const existing = (await store.create(patient(randomUUID(), family))).version.id;
      const answers = await run([put(patient(randomUUID(), family), `family=${family}`)]);
      expect(answers[0]?.resource?.id).toBe(existing);
    });
  });
}
