// Which query parameters a search understands, decided before anything is parsed: names, the
// modifiers each parameter type allows, chains, result controls and the _sort allow-list.
// What is not understood is reported (ignored with a warning, or 400 with handling=strict), never
// silently turned into something else ("gender:bogus=male" must not mean "gender=male").
import { OperationOutcomeError, parseSearchRequest } from '@medplum/core';
import type { SearchRequest } from '@medplum/core';
import { getSearchParameters } from '@medplum/core';
import { MAX_COUNT, splitValues } from '../../store/sql/search-sql.ts';
import { badRequestError } from './request.ts';
import { isSupportedType, searchParameterType } from './supported.ts';
import type { SupportedType } from './supported.ts';

export const RESULT_PARAMETERS = new Set(['_count', '_sort', '_include', '_revinclude', '_summary', '_elements', '_total', '_format', '_cursor', '_pretty']);
/** Parameters every type has, evaluated on the stored row or its meta. */
const COMMON = new Map([
  ['_id', 'token'],
  ['_lastUpdated', 'date'],
  ['_tag', 'token'],
  ['_profile', 'uri'],
]);
const MODIFIERS = new Map<string, Set<string>>(Object.entries({
  token: new Set(['not', 'missing', 'text']),
  string: new Set(['exact', 'contains', 'missing']),
  reference: new Set(['missing']),
  date: new Set(['missing']),
  number: new Set(['missing']),
  quantity: new Set(['missing']),
  uri: new Set(['below', 'missing']),
}));
const SORTABLE = new Set(['date', 'string']);
/** Longest accepted parameter value: a page of ids fits, a 1 MB payload does not. */
export const MAX_VALUE_LENGTH = 4096;
const MAX_PARAMETERS = 100;
/**
 * Values (comma-separated alternatives) one parameter, and a whole search, may name: each is a
 * condition of the query, and past ~1,000 of them SQLite refuses the expression as too deep.
 */
export const MAX_VALUES_PER_PARAMETER = 500;
const MAX_VALUES_PER_SEARCH = 1000;
const NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

function parameterType(type: string, name: string): string | undefined {
  const common = COMMON.get(name);
  if (common) {
    return common;
  }
  if (!isSupportedType(type) || !NAME.test(name)) {
    return undefined;
  }
  return searchParameterType(type as SupportedType, name);
}

/** Whether "name[:modifier][.chain…]" is something the store evaluates on `type`. */
export function understood(type: string, key: string): boolean {
  const dot = key.indexOf('.');
  const head = dot < 0 ? key : key.slice(0, dot);
  const [name = '', modifier, ...extra] = head.split(':');
  if (extra.length > 0) {
    return false;
  }
  const spType = parameterType(type, name);
  if (!spType) {
    return false;
  }
  if (dot >= 0) {
    // A chain: a reference parameter, its target type (given, or untyped: any target that has
    // the rest, as the store follows it), then a parameter of that type.
    if (spType !== 'reference') {
      return false;
    }
    const targets = (getSearchParameters(type)?.[name]?.target ?? []) as string[];
    const rest = key.slice(dot + 1);
    return modifier === undefined ? targets.some((target) => understood(target, rest)) : targets.includes(modifier) && understood(modifier, rest);
  }
  if (modifier === undefined) {
    return true;
  }
  if (spType === 'reference' && /^[A-Z][A-Za-z]+$/.test(modifier)) {
    return ((getSearchParameters(type)?.[name]?.target ?? []) as string[]).includes(modifier);
  }
  return MODIFIERS.get(spType)?.has(modifier) === true;
}

function checkSort(type: string, value: string): void {
  const keys = value.split(',');
  if (keys.length > 1) {
    throw badRequestError('_sort takes one key', '_sort');
  }
  const name = (keys[0] ?? '').replace(/^-/, '');
  const spType = name === '_id' || name === '_lastUpdated' ? 'ok' : parameterType(type, name);
  if (spType !== 'ok' && !SORTABLE.has(spType ?? '')) {
    throw badRequestError(`Cannot sort by "${name.slice(0, 40)}": sortable are _id, _lastUpdated and the date and string parameters of ${type}`, '_sort');
  }
}

function checkResultParameter(type: string, name: string, value: string): void {
  switch (name) {
    case '_count':
      if (!/^\d{1,5}$/.test(value) || Number(value) > MAX_COUNT) {
        throw badRequestError(`_count must be an integer from 0 to ${MAX_COUNT}`, '_count');
      }
      break;
    case '_summary':
      if (value !== 'count' && value !== 'false') {
        throw badRequestError('_summary supports count and false', '_summary');
      }
      break;
    case '_total':
      if (!['none', 'estimate', 'accurate'].includes(value)) {
        throw badRequestError('_total must be none, estimate or accurate', '_total');
      }
      break;
    case '_sort':
      checkSort(type, value);
      break;
    case '_include':
    case '_revinclude':
      if (!/^[A-Z][A-Za-z]+:[a-z][a-z0-9-]*(:[A-Z][A-Za-z]+)?$/.test(value)) {
        throw badRequestError(`${name} must look like Type:parameter (or Type:parameter:TargetType)`, name);
      }
      break;
    case '_elements':
      if (!/^[A-Za-z][A-Za-z0-9]*(,[A-Za-z][A-Za-z0-9]*)*$/.test(value)) {
        throw badRequestError('_elements must be a comma-separated list of element names', '_elements');
      }
      break;
    default:
  }
}

export interface ScreenedSearch {
  request: SearchRequest;
  /** Parameters not understood (left out of the search). */
  ignored: string[];
  /** How many criteria (not result parameters) the search has. */
  criteria: number;
}

/** Screens and parses the query of a search on `type`; throws 400 for unusable result parameters. */
export function screenSearch(type: string, query: [string, string][]): ScreenedSearch {
  if (query.length > MAX_PARAMETERS) {
    throw badRequestError(`At most ${MAX_PARAMETERS} search parameters`);
  }
  const kept: [string, string][] = [];
  const ignored: string[] = [];
  let criteria = 0;
  let values = 0;
  for (const [name, value] of query) {
    if (name.length > 200) {
      throw badRequestError(`A search parameter name is too long (${name.length} characters)`);
    }
    if (value.length > MAX_VALUE_LENGTH) {
      throw badRequestError(`The value of ${name.slice(0, 40)} is too long (at most ${MAX_VALUE_LENGTH} characters)`);
    }
    if (RESULT_PARAMETERS.has(name)) {
      checkResultParameter(type, name, value);
      if (name !== '_cursor' && name !== '_pretty' && name !== '_format') {
        kept.push([name, value]);
      }
    } else if (understood(type, name)) {
      const alternatives = splitValues(value).length;
      if (alternatives > MAX_VALUES_PER_PARAMETER) {
        throw badRequestError(`${name.slice(0, 40)} names ${alternatives} values: at most ${MAX_VALUES_PER_PARAMETER} values per parameter`);
      }
      values += alternatives;
      if (values > MAX_VALUES_PER_SEARCH) {
        throw badRequestError(`The search names more than ${MAX_VALUES_PER_SEARCH} values in all: at most ${MAX_VALUES_PER_PARAMETER} values per parameter, ${MAX_VALUES_PER_SEARCH} per search`);
      }
      kept.push([name, value]);
      criteria++;
    } else {
      ignored.push(name.slice(0, 80));
    }
  }
  let request: SearchRequest;
  try {
    request = parseSearchRequest(`${type}?${new URLSearchParams(kept).toString()}`);
  } catch (err) {
    throw badRequestError(`Invalid search: ${(err as Error).message}`);
  }
  if (kept.some(([k, v]) => k === '_summary' && v === 'count')) {
    request.count = 0;
    request.total = 'accurate';
  }
  return { request, ignored, criteria };
}

/**
 * The search of a condition (If-None-Exist, conditional update, conditional reference): it must
 * name at least one criterion and nothing the server does not understand, or it would match
 * resources the client never meant (an empty condition matches everything).
 */
export function conditionSearch(type: string, query: string): SearchRequest {
  const { request, ignored, criteria } = screenSearch(type, [...new URLSearchParams(query)]);
  if (ignored.length > 0) {
    throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported', details: { text: `The condition uses parameters carebridge does not search by: ${ignored.join(', ')}` } }] });
  }
  if (criteria === 0) {
    throw badRequestError('A condition needs at least one search criterion');
  }
  return { ...request, count: 2 };
}
