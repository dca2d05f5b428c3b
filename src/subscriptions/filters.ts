// Whether a written resource passes a Subscription's filters, evaluated as its search would be:
// on the index values carebridge extracts from the R4 SearchParameter definitions (owner,
// requester and patient as Type/id references, status as a code). Pure: no I/O.
import type { Resource } from '@medplum/fhirtypes';
import { extractIndexRows } from '../search/extract-index.ts';
import type { IndexRows } from '../search/index-rows.ts';
import type { SubscriptionFilter } from './subscription.ts';

/** The values of one search parameter of the resource, as filters compare them. */
function valuesOf(rows: IndexRows, name: string): Set<string> {
  const values = new Set<string>();
  for (const row of rows.reference) {
    if (row.code === name && row.targetType && row.targetId) {
      values.add(`${row.targetType}/${row.targetId}`);
    }
  }
  for (const row of rows.token) {
    if (row.code === name) {
      values.add(row.value);
    }
  }
  return values;
}

/** Index rows extracted once per written resource, however many Subscriptions look at it. */
export class FilterSubject {
  readonly resource: Resource;
  private rows: IndexRows | undefined;

  constructor(resource: Resource) {
    this.resource = resource;
  }

  /** Every filter has a value the resource has (AND of filters, OR of each filter's values). */
  passes(filters: readonly SubscriptionFilter[]): boolean {
    if (filters.length === 0) {
      return true;
    }
    this.rows ??= extractIndexRows(this.resource);
    const rows = this.rows;
    return filters.every((filter) => {
      const values = valuesOf(rows, filter.name);
      return filter.values.some((value) => values.has(value));
    });
  }
}
