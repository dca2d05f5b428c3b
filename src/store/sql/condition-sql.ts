// Conditions (If-None-Exist, conditional update) ruled out in one statement: a transaction Bundle
// names dozens, and a plan pushed for the first time matches none of them. A condition on a token
// parameter can only match a resource that has an index row with one of its values, so where the
// index holds no such row the condition matches nothing; where it does, the caller searches it.
import { Operator, getSearchParameters } from '@medplum/core';
import type { SearchRequest } from '@medplum/core';
import { DEFERRABLE_TYPES } from '../fhir-store.ts';
import type { SqlExecutor } from './executor.ts';
import { indexTable } from './schema.ts';
import { splitToken, splitValues } from './search-sql.ts';

/** [resource_type, code, value]: an index row that any match of the condition must have one of. */
type TokenKey = [string, string, string];

/**
 * The token rows a condition needs one of, from one of its filters: a plain token parameter
 * (no modifier, no chain) whose every alternative names a code. Undefined when the condition has
 * no such filter, or its type's index rows may be written later (the audit trail's).
 */
function neededTokens(condition: SearchRequest): { table: string; keys: TokenKey[] } | undefined {
  const type = condition.resourceType;
  if (DEFERRABLE_TYPES.has(type)) {
    return undefined;
  }
  const table = indexTable(type, 'token');
  for (const filter of condition.filters ?? []) {
    const parameters = getSearchParameters(type);
    const parameter = parameters && Object.hasOwn(parameters, filter.code) ? parameters[filter.code] : undefined;
    if (filter.operator !== Operator.EQUALS || parameter?.type !== 'token' || !table) {
      continue;
    }
    const codes = splitValues(filter.value).map((value) => splitToken(value)[1]);
    if (codes.every((code) => code !== '')) {
      return { table, keys: codes.map((code) => [type, filter.code, code]) };
    }
  }
  return undefined;
}

/** The positions of the keys that have at least one row in `table`, in one statement. */
async function keysWithRows(db: SqlExecutor, table: string, keys: TokenKey[]): Promise<Set<number>> {
  const sql =
    db.dialect === 'postgres'
      ? `SELECT k.i - 1 AS i FROM jsonb_array_elements(?::jsonb) WITH ORDINALITY AS k(e, i)
         WHERE EXISTS (SELECT 1 FROM ${table} x WHERE x.resource_type = k.e->>0 AND x.code = k.e->>1 AND x.value = k.e->>2)`
      : `SELECT k.key AS i FROM json_each(?) k
         WHERE EXISTS (SELECT 1 FROM ${table} x WHERE x.resource_type = json_extract(k.value, '$[0]') AND x.code = json_extract(k.value, '$[1]') AND x.value = json_extract(k.value, '$[2]'))`;
  const rows = await db.all<{ i: number | string }>(sql, [JSON.stringify(keys)]);
  return new Set(rows.map((row) => Number(row.i)));
}

/**
 * For each condition, true when it certainly matches no resource (whoever asks: what a caller
 * may see is a part of what exists); false when it may match, and must be searched.
 */
export async function conditionsWithoutCandidates(db: SqlExecutor, conditions: readonly SearchRequest[]): Promise<boolean[]> {
  const needed = conditions.map(neededTokens);
  const byTable = new Map<string, { keys: TokenKey[]; owners: number[] }>();
  needed.forEach((need, index) => {
    if (need) {
      const group = byTable.get(need.table) ?? { keys: [], owners: [] };
      group.keys.push(...need.keys);
      group.owners.push(...need.keys.map(() => index));
      byTable.set(need.table, group);
    }
  });
  const mayMatch = new Set<number>();
  for (const [table, { keys, owners }] of byTable) {
    for (const position of await keysWithRows(db, table, keys)) {
      mayMatch.add(owners[position] as number);
    }
  }
  return needed.map((need, index) => need !== undefined && !mayMatch.has(index));
}
