// GET /board/api/transitions?filter=overdue,no-agency&_count=&_cursor=: the board's list, the open
// transitions the caller may see (draft, active, on hold), newest first, a row each (summary.ts).
// The filters are judged on the rows, so the store's CarePlan pages are walked until `_count` rows
// match or MAX_SCAN_PAGES pages were read. Each further page asks only for the rows still missing,
// so every row read is answered or dropped, never left over: `next` (the store's keyset cursor after
// the last row read) continues exactly after the last row answered, and no list exceeds `_count`.
// GET /board/api/transitions/{id}: the one row, for the detail view.
import type { CarePlan, Resource } from '@medplum/fhirtypes';
import type { Principal } from '../../auth/principal.ts';
import { TRANSITION_CATEGORY, isTransitionCarePlan } from '../../mapping/careplan.ts';
import { SYSTEMS } from '../../model/terminology.ts';
import type { StoreTransaction } from '../../store/fhir-store.ts';
import { badRequestError } from '../fhir/request.ts';
import { readReferences, searchAll } from '../transitions/collect.ts';
import type { BoardList, BoardRow } from './board-api-types.ts';
import { boardRows } from './summary.ts';

export const BOARD_FILTERS = ['overdue', 'no-agency'] as const;
export type BoardFilter = (typeof BOARD_FILTERS)[number];
export const DEFAULT_BOARD_PAGE = 25;
export const MAX_BOARD_PAGE = 50;
/** Pages read per request at most when a filter drops rows: bounded work, then `next`. */
export const MAX_SCAN_PAGES = 4;
const OPEN_STATUSES = 'draft,active,on-hold';

/** The answer, and what it disclosed (for the AuditEvent). */
export interface DisclosedList extends BoardList {
  disclosed: Resource[];
}

interface BoardQuery {
  filters: BoardFilter[];
  count: number;
  cursor?: string;
}

function parseQuery(query: [string, string][]): BoardQuery {
  const out: BoardQuery = { filters: [], count: DEFAULT_BOARD_PAGE };
  for (const [name, value] of query) {
    switch (name) {
      case 'filter':
        for (const filter of value.split(',').filter(Boolean)) {
          if (!(BOARD_FILTERS as readonly string[]).includes(filter)) {
            throw badRequestError(`filter takes ${BOARD_FILTERS.join(', ')} (several separated by commas)`, 'filter');
          }
          out.filters.push(filter as BoardFilter);
        }
        break;
      case '_count':
        out.count = Number(value);
        if (!Number.isInteger(out.count) || out.count < 1 || out.count > MAX_BOARD_PAGE) {
          throw badRequestError(`_count must be an integer from 1 to ${MAX_BOARD_PAGE}`, '_count');
        }
        break;
      case '_cursor':
        if (value === '') {
          throw badRequestError('_cursor needs a value', '_cursor');
        }
        out.cursor = value;
        break;
      default:
        throw badRequestError(`Unknown parameter "${name.slice(0, 40)}": the board list takes filter, _count and _cursor`, name.slice(0, 40));
    }
  }
  return out;
}

const matches = (row: BoardRow, filters: readonly BoardFilter[]): boolean => filters.every((f) => (f === 'overdue' ? row.overdue : row.noAgency));

export async function boardList(store: StoreTransaction, principal: Principal, query: [string, string][], nowMs: number): Promise<DisclosedList> {
  const { filters, count, cursor: first } = parseQuery(query);
  const search: [string, string][] = [
    ['category', `${SYSTEMS.carePlanCategory}|${TRANSITION_CATEGORY}`],
    ['status', OPEN_STATUSES],
    ['_sort', '-_lastUpdated'],
  ];
  const items: BoardRow[] = [];
  const disclosed: Resource[] = [];
  let cursor = first;
  for (let page = 0; page < MAX_SCAN_PAGES; page += 1) {
    // A page of more rows than are missing could match too many, and the store's cursor can only
    // continue after a whole page: so ask for the missing ones only.
    const found = await searchAll(store, 'CarePlan', [...search, ['_count', String(count - items.length)]], cursor);
    // Only what is answered is disclosed: rows a filter dropped were read, not shown.
    for (const { row, disclosed: read } of await boardRows(store, principal, found.resources as CarePlan[], nowMs)) {
      if (matches(row, filters)) {
        items.push(row);
        disclosed.push(...read);
      }
    }
    cursor = found.next;
    if (cursor === undefined || items.length >= count) {
      break;
    }
  }
  return { items, ...(cursor !== undefined ? { next: cursor } : {}), disclosed };
}

/** The row of one transition, or undefined when the caller cannot see it (404). */
export async function boardRow(store: StoreTransaction, principal: Principal, id: string, nowMs: number): Promise<{ row: BoardRow; disclosed: Resource[] } | undefined> {
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) {
    return undefined;
  }
  const [carePlan] = (await readReferences(store, [`CarePlan/${id}`])) as CarePlan[];
  if (!carePlan || !isTransitionCarePlan(carePlan)) {
    return undefined;
  }
  const [only] = await boardRows(store, principal, [carePlan], nowMs);
  return only;
}
