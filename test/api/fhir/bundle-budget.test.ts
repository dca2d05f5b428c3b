// What one Bundle may cost, over real HTTP: the GET entries of a batch or transaction share one
// budget of returned resources, and a Bundle stops running entries once its deadline has passed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Bundle, BundleEntry, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { MAX_BUNDLE_RESOURCES } from '../../../src/api/fhir/bundle-budget.ts';
import type { FhirStore, StoreTransaction } from '../../../src/store/fhir-store.ts';
import type { TestServer } from '../support/server.ts';
import { fhirFetch, startSqliteServer } from '../support/server.ts';

const FAMILY = 'Budgetfam';
/** Patients each search entry returns: enough entries of them pass the budget by one page. */
const PAGE = 100;
const PAGES_IN_BUDGET = MAX_BUNDLE_RESOURCES / PAGE;

function newPatient(value: string): Patient {
  return { resourceType: 'Patient', name: [{ family: FAMILY }], identifier: [{ system: 'urn:carebridge-test:mrn', value }] };
}

const searchEntry: BundleEntry = { request: { method: 'GET', url: `Patient?family=${FAMILY}&_count=${PAGE}` } };

function expectTooCostly(outcome: OperationOutcome | undefined): void {
  expect(outcome).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'too-costly' }] });
  expect(outcome?.issue?.[0]?.details?.text).toContain(`at most ${MAX_BUNDLE_RESOURCES} resources`);
}

describe(`the GET entries of one Bundle return at most ${MAX_BUNDLE_RESOURCES} resources together`, () => {
  let server: TestServer;
  let someId: string;
  beforeAll(async () => {
    server = await startSqliteServer();
    const seed: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: Array.from({ length: PAGE }, () => ({ resource: newPatient(randomUUID()), request: { method: 'POST', url: 'Patient' } })) };
    const seeded = await fhirFetch(server, '', { method: 'POST', json: seed });
    expect(seeded.status).toBe(200);
    someId = seeded.body.entry?.[0]?.resource?.id as string;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('a batch answers each entry past the budget 422 too-costly, without running it, and the server stays healthy', async () => {
    expect(Number.isInteger(PAGES_IN_BUDGET)).toBe(true);
    const entry = [...Array.from({ length: PAGES_IN_BUDGET + 1 }, () => searchEntry), { request: { method: 'GET' as const, url: `Patient/${someId}` } }];
    const response = await fhirFetch(server, '', { method: 'POST', json: { resourceType: 'Bundle', type: 'batch', entry } });
    expect(response.status).toBe(200);
    const answers = response.body.entry ?? [];
    expect(answers).toHaveLength(PAGES_IN_BUDGET + 2);
    // Exactly the budget is allowed: every page up to it is answered in full.
    for (const answer of answers.slice(0, PAGES_IN_BUDGET)) {
      expect(answer.response?.status).toBe('200');
      expect((answer.resource as Bundle).entry).toHaveLength(PAGE);
    }
    for (const answer of answers.slice(PAGES_IN_BUDGET)) {
      expect(answer.response?.status).toBe('422');
      expect(answer.resource).toBeUndefined();
      expectTooCostly(answer.response?.outcome as OperationOutcome);
    }
    expect((answers[PAGES_IN_BUDGET]?.response?.outcome as OperationOutcome).issue?.[0]?.expression).toEqual([`Bundle.entry[${PAGES_IN_BUDGET}]`]);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    await health.text();
  });

  it('a transaction past the budget fails whole with 422 too-costly and writes nothing', async () => {
    const value = randomUUID();
    const entry: BundleEntry[] = [{ resource: newPatient(value), request: { method: 'POST', url: 'Patient' } }, ...Array.from({ length: PAGES_IN_BUDGET + 1 }, () => searchEntry)];
    const response = await fhirFetch<OperationOutcome>(server, '', { method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', entry } });
    expect(response.status).toBe(422);
    expectTooCostly(response.body);
    const written = await fhirFetch(server, `Patient?identifier=${encodeURIComponent(`urn:carebridge-test:mrn|${value}`)}&_summary=count`);
    expect(written.body.total).toBe(0);
  });
});

const TIMEOUT_MS = 300;
const SLOW_MS = 900;
const SLOW_ENTRIES = 5;

/** A store whose reads of Patient/slow-* inside a transaction take SLOW_MS each; `reads` counts them. */
function slowTransactionReads(store: FhirStore, reads: string[]): FhirStore {
  const slowTx = (tx: StoreTransaction): StoreTransaction =>
    new Proxy(tx, {
      get(target, prop) {
        if (prop === 'read') {
          return async (type: string, id: string) => {
            if (id.startsWith('slow')) {
              reads.push(id);
              await delay(SLOW_MS);
            }
            return target.read(type, id);
          };
        }
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'transaction') {
        return <T>(work: (tx: StoreTransaction) => Promise<T>) => target.transaction((tx) => work(slowTx(tx)));
      }
      if (prop === 'forCaller') {
        return (caller: Parameters<FhirStore['forCaller']>[0]) => slowTransactionReads(target.forCaller(caller), reads);
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe(`a batch still running at the handler timeout (${TIMEOUT_MS} ms)`, () => {
  let server: TestServer;
  const reads: string[] = [];
  beforeAll(async () => {
    server = await startSqliteServer('warn', { limits: { requestTimeoutMs: TIMEOUT_MS }, wrapStore: (store) => slowTransactionReads(store, reads) });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('answers 504 and runs none of its entries after the deadline', async () => {
    const entry = Array.from({ length: SLOW_ENTRIES }, (_, i) => ({ request: { method: 'GET' as const, url: `Patient/slow-${i}` } }));
    const response = await fhirFetch<OperationOutcome>(server, '', { method: 'POST', json: { resourceType: 'Bundle', type: 'batch', entry } });
    expect(response.status).toBe(504);
    expect(response.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'timeout' }] });
    // Until the batch has stopped, or would have read every entry.
    for (let waited = 0; waited < SLOW_ENTRIES * SLOW_MS && !server.logs.some((l) => l.includes('bundle stopped at the deadline')); waited += 50) {
      await delay(50);
    }
    expect(server.logs.map((l) => JSON.parse(l) as Record<string, unknown>)).toContainEqual(expect.objectContaining({ level: 'warn', message: 'bundle stopped at the deadline', index: 1 }));
    // The entry running at the deadline finished; none after it started.
    expect(reads).toEqual(['slow-0']);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    await health.text();
  });
});

describe('a SQLite transaction still running at the handler timeout (100 ms)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startSqliteServer('warn', { limits: { requestTimeoutMs: 100 } });
    // Names for :contains to scan: each search below reads them all and matches none.
    await server.store.transaction(async (tx) => {
      for (let i = 0; i < 500; i++) {
        await tx.create({ resourceType: 'Patient', name: [{ family: `Family${i}` }] });
      }
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('stops between entries by the clock, though its synchronous entries never let the timer fire', async () => {
    // A thousand searches that match nothing: free against the budget, each a scan of the names.
    const entry = Array.from({ length: 1000 }, (_, i) => ({ request: { method: 'GET' as const, url: `Patient?family:contains=nobody${i}&_count=1` } }));
    const response = await fhirFetch<OperationOutcome>(server, '', { method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', entry } });
    expect(response.status).toBe(504);
    expect(response.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'timeout' }] });
    const stopped = server.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.message === 'bundle stopped at the deadline');
    expect(stopped).toBeDefined();
    // Stopped before the end (where depends on the machine's speed; a loaded one may not start any).
    expect(stopped?.index as number).toBeLessThan(1000);
    // Not logged as a failure: the deadline is the timeout's to report.
    expect(server.logs.some((l) => l.includes('FHIR request failed'))).toBe(false);
  });
});

