// What one transaction or batch Bundle may cost: its GET entries share one budget of returned
// resources, and its entries stop running once the request's deadline has passed. Without them
// one 61 kB batch of 1,000 searches built ~1M resources and ran a worker out of heap.
import { OperationOutcomeError, serverTimeout } from '@medplum/core';
import type { Bundle } from '@medplum/fhirtypes';
import { MAX_COUNT, MAX_INCLUDED } from '../../store/sql/search-sql.ts';
import { UNPROCESSABLE_ID } from './handlers.ts';
import type { FhirRequest, FhirResponse } from './request.ts';
import { pastDeadline } from '../hardening/request-timeout.ts';

/**
 * 6,000: the largest single search page (MAX_COUNT matches and MAX_INCLUDED included), so any
 * search allowed on its own is allowed in a Bundle too, and a Bundle costs about one such page.
 */
export const MAX_BUNDLE_RESOURCES = MAX_COUNT + MAX_INCLUDED;

/** How many resources an entry's answer carries: a searchset's entries, or the one resource read. */
function resourcesIn(response: FhirResponse): number {
  const body = response.body;
  if (body?.resourceType === 'Bundle') {
    return (body as Bundle).entry?.length ?? 0;
  }
  return body ? 1 : 0;
}

/**
 * 422 (the business-rule id, which @medplum/core's getStatus maps), not 413: the request body is
 * within its limit; what it asks the server to return is not, and a smaller body need not help.
 */
function tooCostly(index: number, limit: number): OperationOutcomeError {
  return new OperationOutcomeError({
    resourceType: 'OperationOutcome',
    id: UNPROCESSABLE_ID,
    issue: [
      {
        severity: 'error',
        code: 'too-costly',
        details: { text: `The GET entries of one Bundle return at most ${limit} resources together; this one would pass that: page through the search instead` },
        expression: [`Bundle.entry[${index}]`],
      },
    ],
  });
}

export class BundleBudget {
  private spent = 0;
  private readonly request: FhirRequest;
  private readonly limit: number;

  constructor(request: FhirRequest, limit = MAX_BUNDLE_RESOURCES) {
    this.request = request;
    this.limit = limit;
  }

  /**
   * Before each entry: once the handler timeout has answered 504, nobody waits for the rest, so
   * it is not done (a transaction rolls back; a batch's entries already run stay done).
   */
  checkDeadline(index: number): void {
    if (pastDeadline(this.request.signal, this.request.deadlineAt)) {
      this.request.logger?.warn('bundle stopped at the deadline', { index });
      throw new OperationOutcomeError(serverTimeout('The request passed its deadline; the Bundle\'s remaining entries were not run'));
    }
  }

  /** Before a GET entry: refused without running once the budget is spent. */
  checkRemaining(index: number): void {
    if (this.spent >= this.limit) {
      throw tooCostly(index, this.limit);
    }
  }

  /**
   * After a GET entry: an answer that takes the Bundle past the budget is dropped, and the
   * budget counts as spent, so at most one page more than the budget is ever built.
   */
  charge(index: number, response: FhirResponse): FhirResponse {
    const spent = this.spent + resourcesIn(response);
    if (spent > this.limit) {
      this.spent = this.limit;
      throw tooCostly(index, this.limit);
    }
    this.spent = spent;
    return response;
  }
}
