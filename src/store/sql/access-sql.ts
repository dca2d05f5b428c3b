// What a caller may see, as SQL over the row aliased `alias` in `resources`: every read path
// (read, search, _include/_revinclude, chained targets, counts, history) adds this condition, so
// what is hidden never reaches a page, a total or a cursor.
import type { AccessScope, StoreCaller } from '../access.ts';
import { organizationKeyOf } from '../access.ts';
import type { SqlExecutor } from './executor.ts';

export interface ResolvedAccess {
  scope: AccessScope;
  /** The caller's organization key ("system|value"). */
  organizationKey: string;
  /** Ids of the Organization resources carrying the caller's organization identifier. */
  organizationIds: string[];
}

export interface AccessWhere {
  sql: string;
  params: unknown[];
}

/** The caller's Organization resources: grants from referrals and care teams name those. */
export async function resolveAccess(db: SqlExecutor, caller: StoreCaller | undefined): Promise<ResolvedAccess | undefined> {
  if (!caller?.access) {
    return undefined;
  }
  const rows = await db.all<{ resource_id: string }>(
    "SELECT DISTINCT t.resource_id FROM idx_token t JOIN resources o ON o.resource_type = t.resource_type AND o.id = t.resource_id AND o.deleted = 0 WHERE t.resource_type = 'Organization' AND t.code = 'identifier' AND t.system = ? AND t.value = ?",
    [caller.organization.system, caller.organization.value],
  );
  return { scope: caller.access, organizationKey: organizationKeyOf(caller), organizationIds: rows.map((r) => r.resource_id) };
}

/**
 * What the caller may change, as far as a search tells (SearchOptions.writable): the open types
 * only where its organization is the author, unless it writes others' resources (admins).
 */
export function writableAccess(access: ResolvedAccess | undefined): ResolvedAccess | undefined {
  const scope = access?.scope;
  if (!access || !scope || scope.writesOthers || scope.openTypes.length === 0) {
    return access;
  }
  const ownAuthoredTypes = scope.ownAuthored ? scope.ownAuthoredTypes : [...(scope.ownAuthoredTypes ?? []), ...scope.openTypes];
  return { ...access, scope: { ...scope, openTypes: [], ownAuthoredTypes } };
}

function list(values: readonly unknown[]): string {
  return values.map(() => '?').join(', ');
}

/** The visibility condition on `alias` (a row of `resources`). */
export function visibleWhere(access: ResolvedAccess, alias: string, dialect: SqlExecutor['dialect']): AccessWhere {
  const { scope } = access;
  const fence = dialect === 'postgres' ? ' OFFSET 0' : '';
  const readable = [...scope.readableTypes];
  const keys = [access.organizationKey, ...access.organizationIds.map((id) => `Organization/${id}`)];
  const opens: string[] = [];
  const params: unknown[] = [...readable];
  if (scope.openTypes.length > 0) {
    opens.push(`${alias}.resource_type IN (${list(scope.openTypes)})`);
    params.push(...scope.openTypes);
  }
  if (scope.ownAuthored) {
    opens.push(`${alias}.author_org = ?`);
    params.push(access.organizationKey);
  } else if (scope.ownAuthoredTypes && scope.ownAuthoredTypes.length > 0) {
    opens.push(`(${alias}.resource_type IN (${list(scope.ownAuthoredTypes)}) AND ${alias}.author_org = ?)`);
    params.push(...scope.ownAuthoredTypes, access.organizationKey);
  }
  if (scope.grantKinds.length > 0) {
    opens.push(
      `EXISTS (SELECT 1 FROM resource_patients vp JOIN access_grants vg ON vg.patient_id = vp.patient_id WHERE vp.resource_type = ${alias}.resource_type AND vp.resource_id = ${alias}.id AND vg.org_key IN (${list(keys)}) AND vg.kind IN (${list(scope.grantKinds)})${fence})`,
    );
    params.push(...keys, ...scope.grantKinds);
  }
  let sql = `${alias}.resource_type IN (${list(readable)}) AND (${opens.length > 0 ? opens.join(' OR ') : '1 = 0'})`;
  if (scope.foreignAssignments.length > 0) {
    const assignments = scope.foreignAssignments.map(() => '(vo.resource_type = ? AND vo.code = ?)').join(' OR ');
    const own = access.organizationIds.length > 0 ? ` AND vo.target_id NOT IN (${list(access.organizationIds)})` : '';
    sql += ` AND NOT EXISTS (SELECT 1 FROM idx_reference vo WHERE vo.resource_type = ${alias}.resource_type AND vo.resource_id = ${alias}.id AND (${assignments}) AND vo.target_type = 'Organization'${own}${fence})`;
    params.push(...scope.foreignAssignments.flatMap((a) => [a.resourceType, a.code]), ...access.organizationIds);
  }
  return { sql: `(${sql})`, params };
}
