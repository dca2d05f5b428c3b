// transaction()'s validation of the written resources: full unless the caller names the mapped
// tier for an entry (POST /transitions, for its mapper's own output), whatever the request says;
// batch() validates each entry as its own request.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OperationOutcomeError, getStatus } from '@medplum/core';
import type { Bundle, BundleEntry, Task } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batch, transaction } from '../../../src/api/fhir/transaction.ts';
import type { TransactionOptions } from '../../../src/api/fhir/transaction.ts';
import type { FhirRequest } from '../../../src/api/fhir/request.ts';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../../../src/validation/definitions.ts';

const REQUEST: FhirRequest = { method: 'POST', path: '', query: [], headers: {}, baseUrl: 'http://carebridge.test/fhir' };
/** A request that claims its body was validated, as FhirRequest once could: no request from outside decides that. */
const SAYS_VALIDATED = { ...REQUEST, bodyValidated: true } as FhirRequest;

/** Valid but for Task inv-1 (lastModified before authoredOn), which only full validation holds. */
const lateTask = (): Task => ({ resourceType: 'Task', status: 'requested', intent: 'order', authoredOn: '2026-03-02T10:00:00Z', lastModified: '2026-03-01T10:00:00Z' });
const entry = (resource: Task): BundleEntry => ({ resource, request: { method: 'POST', url: 'Task' } });

describe('transaction and batch validation', () => {
  let dir: string;
  let store: SqliteStore;

  beforeAll(async () => {
    loadDefinitions();
    dir = mkdtempSync(join(tmpdir(), 'carebridge-transaction-'));
    store = await SqliteStore.open(join(dir, 'carebridge.db'));
  });

  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The status of the transaction and its entries, or of its failure with the first issue's expression and invariant. */
  async function outcomeOf(request: FhirRequest, entries: BundleEntry[], options?: TransactionOptions): Promise<(number | string | undefined)[]> {
    try {
      const response = await transaction(store, request, { resourceType: 'Bundle', type: 'transaction', entry: entries }, options);
      return [response.status, ...((response.body as Bundle).entry ?? []).map((e) => e.response?.status)];
    } catch (err) {
      if (!(err instanceof OperationOutcomeError)) {
        throw err;
      }
      const issue = err.outcome.issue?.[0];
      return [getStatus(err.outcome), issue?.expression?.[0], issue?.details?.text?.match(/inv-1/)?.[0]];
    }
  }

  it('validates every written resource fully when the caller names no tier: 422 naming the entry', async () => {
    expect(await outcomeOf(REQUEST, [entry({ ...lateTask(), lastModified: '2026-03-03T10:00:00Z' }), entry(lateTask())])).toEqual([422, 'Bundle.entry[1].resource', 'inv-1']);
  });

  it('validates an entry with the tier the caller names for it', async () => {
    expect(await outcomeOf(REQUEST, [entry(lateTask())], { tierOf: () => 'mapped' })).toEqual([200, '201']);
    const full = entry(lateTask());
    expect(await outcomeOf(REQUEST, [entry(lateTask()), full], { tierOf: (e) => (e === full ? 'full' : 'mapped') })).toEqual([422, 'Bundle.entry[1].resource', 'inv-1']);
  });

  it('validates a request that says its body was validated all the same', async () => {
    expect(await outcomeOf(SAYS_VALIDATED, [entry(lateTask())])).toEqual([422, 'Bundle.entry[0].resource', 'inv-1']);
  });

  it('validates each entry of a batch whose request says its body was validated: 422 for the invalid one', async () => {
    const valid = entry({ ...lateTask(), lastModified: '2026-03-03T10:00:00Z' });
    const response = await batch(store, SAYS_VALIDATED, { resourceType: 'Bundle', type: 'batch', entry: [valid, entry(lateTask())] });
    const answers = (response.body as Bundle).entry ?? [];
    expect(answers.map((e) => [e.response?.status, e.response?.outcome?.issue?.[0]?.details?.text?.match(/inv-1/)?.[0]])).toEqual([
      ['201', undefined],
      ['422', 'inv-1'],
    ]);
  });
});
