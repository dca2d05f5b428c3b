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

/** Up to 2 ids of resources that have a row of each key in `table`, by the key's position, in one statement. */
async function idsWithRows(db: SqlExecutor, table: string, keys: TokenKey[]): Promise<string[][]> {
  const sql =
    db.dialect === 'postgres'
      ? `SELECT k.i - 1 AS i, (SELECT string_agg(s.resource_id, ' ') FROM (SELECT DISTINCT x.resource_id FROM ${table} x
           WHERE x.resource_type = k.e->>0 AND x.code = k.e->>1 AND x.value = k.e->>2 LIMIT 2) s) AS ids
         FROM jsonb_array_elements(?::jsonb) WITH ORDINALITY AS k(e, i)`
      : `SELECT k.key AS i, (SELECT group_concat(s.resource_id, ' ') FROM (SELECT DISTINCT x.resource_id FROM ${table} x
           WHERE x.resource_type = json_extract(k.value, '$[0]') AND x.code = json_extract(k.value, '$[1]') AND x.value = json_extract(k.value, '$[2]') LIMIT 2) s) AS ids
         FROM json_each(?) k`;
  const rows = await db.all<{ i: number | string; ids: string | null }>(sql, [JSON.stringify(keys)]);
  const ids = keys.map((): string[] => []);
  for (const row of rows) {
    // Ids never hold a space (ID_PATTERN).
    ids[Number(row.i)] = row.ids ? row.ids.split(' ') : [];
  }
  return ids;
}

/**
 * For each condition, resources that may match it: [] when none can (whoever asks: what a caller
 * may see is a part of what exists); else up to 2 ids per value it names, which match only if its
 * search says so. Undefined where the index cannot tell (search the condition).
 */
export async function conditionCandidatesSql(db: SqlExecutor, conditions: readonly SearchRequest[]): Promise<(string[] | undefined)[]> {
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
  const candidates = needed.map((need) => (need ? new Set<string>() : undefined));
  for (const [table, { keys, owners }] of byTable) {
    (await idsWithRows(db, table, keys)).forEach((ids, position) => ids.forEach((id) => candidates[owners[position] as number]?.add(id)));
  }
  return candidates.map((ids) => (ids ? [...ids] : undefined));
}
