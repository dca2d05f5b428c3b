// FHIR search → SQL over the generic index tables. Every value is a bound parameter; parameter
// names and modifiers only ever select among fixed SQL fragments, never enter the SQL text.
import { OperationOutcomeError, Operator, badRequest, getSearchParameters } from '@medplum/core';
import type { Filter, SearchRequest } from '@medplum/core';
import type { Resource, SearchParameter } from '@medplum/fhirtypes';
import type { SearchOptions, SearchResult } from '../fhir-store.ts';
import type { ResolvedAccess } from './access-sql.ts';
import { visibleWhere } from './access-sql.ts';
import type { SqlExecutor } from './executor.ts';
import { AUDIT_REFERENCE_TERMS, auditTermQuery } from './audit-terms.ts';
import { AUDIT_INDEXED_TYPES, AUDIT_INSTANT_SPAN_MS, auditWideDate, indexTable } from './schema.ts';
import { SPARSE_DATE_PARAMETERS } from '../../model/search-parameters.ts';
import { dateRange } from '../../search/date-range.ts';
// Queries must normalise text exactly as the index did.
import { normalizeSearchText } from '../../search/extract-index.ts';

/** _count default and ceiling: a page is a page, not a dump. */
export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;
/** Resources _include / _revinclude may add to one page. */
export const MAX_INCLUDED = 5000;

/** Sortable: ids, last update, and every date or string search parameter. */
const SORTABLE_TYPES = new Set(['date', 'string']);

interface Where {
  sql: string;
  params: unknown[];
}

/**
 * A filter in the two forms the query can use: `check` tests one candidate row (correlated
 * EXISTS), `drive` lists the matching ids from the index (`alias.id IN (…)`), which lets the
 * database start from the few matches instead of walking every resource of the type.
 * `selectivity` ranks how few ids `drive` is likely to yield (0: never drive).
 */
interface Condition {
  check: Where;
  drive?: Where;
  selectivity: number;
  /** A filter on an audit instant: its conditions on the event's one row of the parameter. */
  instant?: InstantSeek;
}

/**
 * Date parameters of the audit trail whose value is one instant (AuditEvent.recorded, 1..1): one
 * index row per event, so several filters on it are conditions on that one row, and the row's
 * start is the event's sort value.
 */
const AUDIT_INSTANTS: ReadonlySet<string> = new Set(['AuditEvent:date']);

/** A search by an audit instant as conditions on its row (alias `d`) of the audit_date table. */
interface InstantSeek {
  resourceType: string;
  table: string;
  code: string;
  /** Bounds on d.start_ms that the lookup index (code, start_ms, …) seeks by, and the exact test. */
  row: Where;
  /**
   * The exact test alone, for one event's row. Its columns are "+d.start_ms": as a bare column
   * SQLite checked "date=lt…" through the lookup index, a scan of the range for every candidate,
   * instead of the event's own rows by primary key.
   */
  exact: Where;
  /** Whether the row's start is bounded from below: the trail only grows, so an upper bound alone matches most of it. */
  bounded: boolean;
}

/** Below this a filter is not worth driving the query (status=active matches half the store). */
const DRIVE_THRESHOLD = 2;

interface Cursor {
  /** Sort value of the row the page starts after (null when sorting by ordinal only). */
  v: number | string | null;
  /** Ordinal of that row. */
  o: number;
  /** "p": the page before that row (a previous link); absent: the page after it. */
  d?: 'p';
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Splits on commas not escaped with a backslash, and unescapes \, \| \$ \\. */
export function splitValues(value: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (c === '\\' && i + 1 < value.length) {
      current += c + (value[i + 1] as string);
      i++;
    } else if (c === ',') {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

/** Splits system|code on the first unescaped bar; unescapes both halves. */
export function splitToken(value: string): [string | undefined, string] {
  let i = 0;
  while (i < value.length) {
    if (value[i] === '\\') {
      i += 2;
      continue;
    }
    if (value[i] === '|') {
      return [unescape(value.slice(0, i)), unescape(value.slice(i + 1))];
    }
    i++;
  }
  return [undefined, unescape(value)];
}

function unescape(value: string): string {
  return value.replace(/\\([\\|,$])/g, '$1');
}

/** A reference search value: a local Type/id, a bare id, or else the URL it is stored as. */
function referenceValue(value: string): { targetType?: string; targetId: string } | { url: string } {
  const local = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(value);
  if (local) {
    return { targetType: local[1] as string, targetId: local[2] as string };
  }
  return /^[A-Za-z0-9\-.]{1,64}$/.test(value) ? { targetId: value } : { url: value };
}

/**
 * Alternatives joined by OR as a balanced tree: SQLite refuses an expression deeper than 1,000,
 * and a flat chain of a few hundred alternatives was (its parameters stay in order).
 */
function anyOfSql(parts: readonly string[]): string {
  if (parts.length <= 8) {
    return parts.map((sql) => `(${sql})`).join(' OR ');
  }
  const middle = parts.length >> 1;
  return `(${anyOfSql(parts.slice(0, middle))}) OR (${anyOfSql(parts.slice(middle))})`;
}

function searchParameter(resourceType: string, code: string): SearchParameter | undefined {
  const all = getSearchParameters(resourceType);
  // Own properties only: "toString" or "__proto__" are not search parameters.
  return all && Object.hasOwn(all, code) ? all[code] : undefined;
}

function prefixOf(operator: string): string {
  return ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'].includes(operator) ? operator : 'eq';
}

class WhereBuilder {
  readonly ignored: string[] = [];
  /**
   * Ends each per-candidate check. PostgreSQL flattens EXISTS into a semi-join and, without
   * statistics on a freshly loaded table, scans every matching index row for each candidate;
   * "OFFSET 0" keeps it a per-row subplan that seeks by resource id (105 ms → 1 ms per search).
   */
  private readonly fence: string;
  private readonly dialect: SqlExecutor['dialect'];
  /** The caller's visibility: a chain only follows references to what the caller may see. */
  private readonly access: ResolvedAccess | undefined;

  constructor(dialect: SqlExecutor['dialect'], access?: ResolvedAccess) {
    this.fence = dialect === 'postgres' ? ' OFFSET 0' : '';
    this.dialect = dialect;
    this.access = access;
  }

  /** The condition of one filter on the resources row aliased `alias` (`r`, or a chain's `c`). */
  filter(resourceType: string, filter: Filter, alias: string): Condition | undefined {
    const [code, ...modifierParts] = filter.code.split(':');
    if (filter.code.includes('.')) {
      return this.chained(resourceType, filter, alias);
    }
    const name = code as string;
    const modifier = modifierParts.join(':') || undefined;
    if (name === '_id') {
      const ids = splitValues(filter.value).map(unescape);
      const sql = `${alias}.id IN (${ids.map(() => '?').join(', ')})`;
      const negated = filter.operator === 'not' || filter.operator === 'ne';
      const where = { sql: negated ? `NOT (${sql})` : sql, params: ids };
      return { check: where, selectivity: negated ? 0 : 5, ...(negated ? {} : { drive: where }) };
    }
    if (name === '_lastUpdated') {
      return { check: this.dateCondition(`${alias}.last_updated_ms`, `${alias}.last_updated_ms`, filter), selectivity: 0 };
    }
    const sp = name === '_tag' ? ({ type: 'token' } as SearchParameter) : name === '_profile' ? ({ type: 'uri' } as SearchParameter) : searchParameter(resourceType, name);
    if (!sp || name === '_compartment' || name === '_project') {
      this.ignored.push(filter.code);
      return undefined;
    }
    const type = sp.type as string;
    const kind = ({ token: 'token', string: 'string', reference: 'reference', date: 'date', number: 'number', quantity: 'number', uri: 'uri' } as const)[type as 'token'];
    const table = kind ? indexTable(resourceType, kind) : undefined;
    if (!table) {
      this.ignored.push(filter.code);
      return undefined;
    }
    if (filter.operator === 'missing' || modifier === 'missing') {
      const any = `EXISTS (SELECT 1 FROM ${table} x WHERE x.resource_type = ${alias}.resource_type AND x.resource_id = ${alias}.id AND x.code = ?${this.fence})`;
      return { check: { sql: filter.value === 'true' ? `NOT ${any}` : any, params: [name] }, selectivity: 0 };
    }
    const alternatives = splitValues(filter.value).map((value) => this.valueCondition(type, filter.operator, value));
    const anyOf: Where = { sql: anyOfSql(alternatives.map((a) => a.sql)), params: alternatives.flatMap((a) => a.params) };
    const exists: Where = {
      sql: `EXISTS (SELECT 1 FROM ${table} x WHERE x.resource_type = ${alias}.resource_type AND x.resource_id = ${alias}.id AND x.code = ? AND (${anyOf.sql})${this.fence})`,
      params: [name, ...anyOf.params],
    };
    if (filter.operator === 'not') {
      return { check: { sql: `NOT ${exists.sql}`, params: exists.params }, selectivity: 0 };
    }
    if (type === 'date' && alternatives.length === 1 && AUDIT_INSTANTS.has(`${resourceType}:${name}`)) {
      return this.instantCondition(this.instantSeek(resourceType, table, name, filter.operator, filter.value), alias);
    }
    const selectivity = selectivityOf(resourceType, type, name, filter.operator, alternatives.length);
    const drive: Where = {
      sql: `${alias}.id IN (SELECT x.resource_id FROM ${table} x WHERE x.resource_type = ? AND x.code = ? AND (${anyOf.sql}))`,
      params: [resourceType, name, ...anyOf.params],
    };
    if (type === 'reference' && this.auditTerms(resourceType)) {
      const driveByTerms = this.auditTermsDrive(name, filter.value, alias, exists, drive);
      return { check: exists, selectivity, ...(driveByTerms ? { drive: driveByTerms } : {}) };
    }
    return { check: exists, drive, selectivity };
  }

  /** SQLite keeps the audit trail's references in an FTS5 term index, not a b-tree keyed by target (audit-terms.ts). */
  private auditTerms(resourceType: string): boolean {
    return this.dialect === 'sqlite' && AUDIT_INDEXED_TYPES.has(resourceType);
  }

  /**
   * The candidates whose terms name one of the targets, each then checked exactly. URLs drive
   * through their own index; a mix of URLs and ids does not drive.
   */
  private auditTermsDrive(name: string, value: string, alias: string, exists: Where, byUrl: Where): Where | undefined {
    const targets = splitValues(value).map((v) => referenceValue(unescape(v)));
    const ids = targets.flatMap((t) => ('targetId' in t ? [t.targetId] : []));
    if (ids.length === targets.length) {
      return {
        sql: `${alias}.ordinal IN (SELECT rowid FROM ${AUDIT_REFERENCE_TERMS} WHERE ${AUDIT_REFERENCE_TERMS} MATCH ?) AND ${exists.sql}`,
        params: [auditTermQuery(name, ids), ...exists.params],
      };
    }
    return ids.length === 0 ? byUrl : undefined;
  }

  /**
   * The bounds on the row's start that each prefix implies, beside its exact test. A prefix that
   * bounds the end from below (ge, gt, ap) bounds the start of an instant's row too, a second
   * earlier; a wider row (stored without validation) can start anywhere before, so the seek starts
   * from the earliest such row that qualifies, found in audit_date_wide (empty in practice).
   * "MIN(+w.start_ms)": PostgreSQL without statistics took that MIN from the lookup index in
   * order, filtering every row of the code (13 ms at 34k events), not from the partial index.
   */
  private instantSeek(resourceType: string, table: string, code: string, operator: string, value: string): InstantSeek {
    const test = { code, operator: operator as Filter['operator'], value };
    const exact = this.dateCondition('d.start_ms', 'd.end_ms', test);
    const [qs, qe] = dateRange(value) as [number, number];
    const least = this.dialect === 'postgres' ? 'LEAST' : 'MIN';
    const fromEnd = (end: number): Where => ({
      sql: `d.start_ms >= ${least}(?, COALESCE((SELECT MIN(+w.start_ms) FROM ${table} w WHERE w.code = ? AND ${auditWideDate('w')} AND w.end_ms >= ?), ?))`,
      params: [end - AUDIT_INSTANT_SPAN_MS, code, end, end - AUDIT_INSTANT_SPAN_MS],
    });
    const bounds: Where[] = [];
    switch (prefixOf(operator)) {
      case 'eq':
        bounds.push({ sql: 'd.start_ms >= ? AND d.start_ms <= ?', params: [qs, qe] });
        break;
      case 'ge':
        bounds.push(fromEnd(qs));
        break;
      case 'gt':
        bounds.push(fromEnd(qe + 1));
        break;
      case 'sa':
        bounds.push({ sql: 'd.start_ms > ?', params: [qe] });
        break;
      case 'ap':
        bounds.push(fromEnd(qs), { sql: 'd.start_ms <= ?', params: [qe] });
        break;
      case 'le':
      case 'lt':
        // The exact test bounds the start already; eb and ne bound nothing the index holds.
        break;
    }
    const row = [...bounds, exact];
    return { resourceType, table, code, exact: this.dateCondition('+d.start_ms', '+d.end_ms', test), row: { sql: row.map((w) => `(${w.sql})`).join(' AND '), params: row.flatMap((w) => w.params) }, bounded: bounds.length > 0 };
  }

  /** The check and drive forms of conditions on an event's instant row; drives when the row's start is bounded from below. */
  instantCondition(instant: InstantSeek, alias: string): Condition {
    const { resourceType, table, code, row } = instant;
    return {
      check: { sql: `EXISTS (SELECT 1 FROM ${table} d WHERE d.resource_type = ${alias}.resource_type AND d.resource_id = ${alias}.id AND d.code = ? AND ${instant.exact.sql}${this.fence})`, params: [code, ...instant.exact.params] },
      ...(instant.bounded ? { drive: { sql: `${alias}.id IN (SELECT d.resource_id FROM ${table} d WHERE d.code = ? AND ${row.sql} AND d.resource_type = ?)`, params: [code, ...row.params, resourceType] } } : {}),
      // Below references and identifiers (an event of one patient is rarer than one of the last hours), above everything else.
      selectivity: instant.bounded ? 3 : 0,
      instant,
    };
  }

  private valueCondition(type: string, operator: string, value: string): Where {
    switch (type) {
      case 'token': {
        if (operator === 'text') {
          return { sql: "x.text LIKE ? ESCAPE '\\'", params: [`${escapeLike(normalizeSearchText(value))}%`] };
        }
        const [system, code] = splitToken(value);
        if (system === undefined) {
          // Text-only concepts are indexed with an empty value (for :text); "code=" matches nothing.
          return code === '' ? { sql: '1 = 0', params: [] } : { sql: 'x.value = ?', params: [code] };
        }
        if (system === '') {
          return { sql: 'x.system IS NULL AND x.value = ?', params: [code] };
        }
        return code === '' ? { sql: 'x.system = ?', params: [system] } : { sql: 'x.system = ? AND x.value = ?', params: [system, code] };
      }
      case 'string': {
        const v = unescape(value);
        if (operator === 'exact') {
          return { sql: 'x.exact = ?', params: [v] };
        }
        if (operator === 'contains') {
          return { sql: "x.normalized LIKE ? ESCAPE '\\'", params: [`%${escapeLike(normalizeSearchText(v))}%`] };
        }
        return { sql: "x.normalized LIKE ? ESCAPE '\\'", params: [`${escapeLike(normalizeSearchText(v))}%`] };
      }
      case 'reference': {
        const target = referenceValue(unescape(value));
        if ('url' in target) {
          return { sql: 'x.url = ?', params: [target.url] };
        }
        return target.targetType ? { sql: 'x.target_type = ? AND x.target_id = ?', params: [target.targetType, target.targetId] } : { sql: 'x.target_id = ?', params: [target.targetId] };
      }
      case 'uri':
        return operator === 'below' ? { sql: "x.value LIKE ? ESCAPE '\\'", params: [`${escapeLike(unescape(value))}%`] } : { sql: 'x.value = ?', params: [unescape(value)] };
      case 'date':
        return this.dateCondition('x.start_ms', 'x.end_ms', { code: '', operator: operator as Filter['operator'], value });
      case 'number':
      case 'quantity':
        return this.numberCondition(operator, value);
      default:
        throw new OperationOutcomeError(badRequest(`Unsupported search parameter type ${type}`));
    }
  }

  private dateCondition(startColumn: string, endColumn: string, filter: Filter): Where {
    const range = dateRange(filter.value);
    if (!range) {
      throw new OperationOutcomeError(badRequest(`Invalid date "${filter.value}" for ${filter.code || 'a date parameter'}`));
    }
    const [qs, qe] = range;
    switch (prefixOf(filter.operator)) {
      case 'ne':
        return { sql: `NOT (${startColumn} >= ? AND ${endColumn} <= ?)`, params: [qs, qe] };
      case 'gt':
        return { sql: `${endColumn} > ?`, params: [qe] };
      case 'ge':
        return { sql: `${endColumn} >= ?`, params: [qs] };
      case 'lt':
        return { sql: `${startColumn} < ?`, params: [qs] };
      case 'le':
        return { sql: `${startColumn} <= ?`, params: [qe] };
      case 'sa':
        return { sql: `${startColumn} > ?`, params: [qe] };
      case 'eb':
        return { sql: `${endColumn} < ?`, params: [qs] };
      case 'ap':
        return { sql: `${startColumn} <= ? AND ${endColumn} >= ?`, params: [qe, qs] };
      default:
        return { sql: `${startColumn} >= ? AND ${endColumn} <= ?`, params: [qs, qe] };
    }
  }

  private numberCondition(operator: string, raw: string): Where {
    const [number, system, unit] = raw.split('|');
    const value = Number(number);
    if (number === undefined || number.trim() === '' || !Number.isFinite(value)) {
      throw new OperationOutcomeError(badRequest(`Invalid number "${raw}"`));
    }
    const ops: Record<string, string> = { eq: '=', ne: '<>', gt: '>', lt: '<', ge: '>=', le: '<=', sa: '>', eb: '<', ap: '=' };
    const parts: Where = { sql: `x.value ${ops[prefixOf(operator)] ?? '='} ?`, params: [value] };
    if (system) {
      parts.sql += ' AND x.system = ?';
      parts.params.push(system);
    }
    if (unit) {
      parts.sql += ' AND x.unit = ?';
      parts.params.push(unit);
    }
    return parts;
  }

  /**
   * subject:Patient.identifier=sys|val: the reference's targets must match the inner filter.
   * Untyped (owner.identifier=…) when the parameter targets several types: any target type that
   * has the inner parameter (a filter silently dropped would answer with everything).
   */
  private chained(resourceType: string, filter: Filter, alias: string): Condition | undefined {
    const dot = filter.code.indexOf('.');
    const [name, targetType] = filter.code.slice(0, dot).split(':') as [string, string | undefined];
    const rest = filter.code.slice(dot + 1);
    const sp = searchParameter(resourceType, name);
    const targets = (sp?.target ?? []) as string[];
    const innerName = rest.split(/[.:]/)[0] as string;
    const candidates = targetType !== undefined ? [targetType] : targets.filter((t) => innerName.startsWith('_') || searchParameter(t, innerName) !== undefined);
    if (!sp || sp.type !== 'reference' || candidates.length === 0 || candidates.some((t) => !targets.includes(t))) {
      this.ignored.push(filter.code);
      return undefined;
    }
    const visible = this.access ? visibleWhere(this.access, 'c', this.dialect) : undefined;
    const branches: Where[] = [];
    let selectivity = Infinity;
    for (const target of candidates) {
      const inner = this.filter(target, { ...filter, code: rest }, 'c');
      if (!inner) {
        return undefined;
      }
      const innerWhere = inner.drive && inner.selectivity >= DRIVE_THRESHOLD ? inner.drive : inner.check;
      branches.push({
        sql: `(x.target_type = ? AND x.target_id IN (SELECT c.id FROM resources c WHERE c.resource_type = ? AND c.deleted = 0 AND (${innerWhere.sql})${visible ? ` AND ${visible.sql}` : ''}))`,
        params: [target, target, ...innerWhere.params, ...(visible?.params ?? [])],
      });
      selectivity = Math.min(selectivity, inner.selectivity);
    }
    const targetsSql = branches.map((b) => b.sql).join(' OR ');
    const targetsParams = branches.flatMap((b) => b.params);
    const check: Where = {
      sql: `EXISTS (SELECT 1 FROM ${indexTable(resourceType, 'reference')} x WHERE x.resource_type = ${alias}.resource_type AND x.resource_id = ${alias}.id AND x.code = ? AND (${targetsSql})${this.fence})`,
      params: [name, ...targetsParams],
    };
    if (this.auditTerms(resourceType)) {
      // No index by target to drive from: each event is checked (chains on the audit trail are rare).
      return { check, selectivity };
    }
    return {
      check,
      drive: {
        sql: `${alias}.id IN (SELECT x.resource_id FROM ${indexTable(resourceType, 'reference')} x WHERE x.resource_type = ? AND x.code = ? AND (${targetsSql}))`,
        params: [resourceType, name, ...targetsParams],
      },
      selectivity,
    };
  }
}

/**
 * Filters on the same audit instant become one condition on the event's one row of it, so a range
 * (date=ge…&date=le…) seeks between its two bounds instead of from one of them to the end.
 */
function mergeInstants(builder: WhereBuilder, conditions: Condition[]): Condition[] {
  const byCode = new Map<string, Condition[]>();
  for (const c of conditions) {
    if (c.instant) {
      byCode.set(c.instant.code, [...(byCode.get(c.instant.code) ?? []), c]);
    }
  }
  const merged = new Map<Condition, Condition | undefined>();
  for (const group of byCode.values()) {
    if (group.length < 2) {
      continue;
    }
    const seeks = group.map((c) => c.instant as InstantSeek);
    const first = seeks[0] as InstantSeek;
    const one = builder.instantCondition(
      {
        ...first,
        row: { sql: seeks.map((s) => `(${s.row.sql})`).join(' AND '), params: seeks.flatMap((s) => s.row.params) },
        exact: { sql: seeks.map((s) => `(${s.exact.sql})`).join(' AND '), params: seeks.flatMap((s) => s.exact.params) },
        bounded: seeks.some((s) => s.bounded),
      },
      'r',
    );
    group.forEach((c, i) => merged.set(c, i === 0 ? one : undefined));
  }
  return conditions.flatMap((c) => (merged.has(c) ? [merged.get(c)].filter((m): m is Condition => m !== undefined) : [c]));
}

/** How few resources one filter is likely to match, by what it compares (see Condition). */
function selectivityOf(resourceType: string, type: string, name: string, operator: string, alternatives: number): number {
  if (alternatives > 20) {
    return 1;
  }
  switch (type) {
    case 'reference':
      return 4;
    case 'token':
      return name === 'identifier' || name.endsWith('-identifier') || name === '_tag' ? 4 : 1;
    case 'uri':
      return operator === 'below' ? 1 : 3;
    case 'date':
      // A date parameter whose index holds few rows by design (open deadlines only) drives its search.
      return SPARSE_DATE_PARAMETERS.has(`${resourceType}:${name}`) ? 3 : 0;
    case 'string':
      return operator === 'contains' ? 0 : 2;
    default:
      return 0;
  }
}

function sortExpression(resourceType: string, code: string): { sql: string; params: unknown[] } | undefined {
  if (code === '_lastUpdated') {
    return { sql: 'r.last_updated_ms', params: [] };
  }
  if (code === '_id') {
    return { sql: 'r.id', params: [] };
  }
  const sp = searchParameter(resourceType, code);
  if (!sp || !SORTABLE_TYPES.has(sp.type as string)) {
    throw new OperationOutcomeError(badRequest(`Cannot sort by "${code}": sortable are _id, _lastUpdated and the date and string parameters of ${resourceType}`, '_sort'));
  }
  const column = sp.type === 'date' ? 'start_ms' : 'normalized';
  const table = indexTable(resourceType, sp.type === 'date' ? 'date' : 'string');
  // Resources without the value sort last; the sentinel keeps the keyset comparison total.
  const sentinel = sp.type === 'date' ? String(Number.MAX_SAFE_INTEGER) : "'\uffff'";
  // "+": for MIN over an audit table SQLite walked the lookup index (code, start_ms, …) in order until
  // it met the event, a scan of the trail for every row sorted, instead of the event's rows by key.
  const value = sp.type === 'date' && AUDIT_INDEXED_TYPES.has(resourceType) ? `+s.${column}` : `s.${column}`;
  return { sql: `COALESCE((SELECT MIN(${value}) FROM ${table} s WHERE s.resource_type = r.resource_type AND s.resource_id = r.id AND s.code = ?), ${sentinel})`, params: [code] };
}

function decodeCursor(cursor: string | undefined): Cursor | undefined {
  if (!cursor) {
    return undefined;
  }
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Cursor;
    if (typeof value.o === 'number' && (value.v === null || typeof value.v === 'number' || typeof value.v === 'string') && (value.d === undefined || value.d === 'p')) {
      return value;
    }
  } catch {
    // fall through
  }
  throw new OperationOutcomeError(badRequest('Invalid paging cursor', '_cursor'));
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

interface Row {
  id: string;
  content: string;
  ordinal: number | string;
  sort_value?: number | string | null;
}

export async function runSearch(db: SqlExecutor, request: SearchRequest, options: SearchOptions, access?: ResolvedAccess): Promise<SearchResult> {
  const type = request.resourceType;
  const builder = new WhereBuilder(db.dialect, access);
  const conditions = mergeInstants(
    builder,
    (request.filters ?? []).map((f) => builder.filter(type, f, 'r')).filter((c): c is Condition => c !== undefined),
  );
  // The most selective filter drives (its ids from the index); the others check each candidate.
  const driver = conditions.reduce<Condition | undefined>((best, c) => (c.drive && c.selectivity >= DRIVE_THRESHOLD && c.selectivity > (best?.selectivity ?? 0) ? c : best), undefined);
  const others: Where[] = conditions.filter((c) => c !== driver).map((c) => c.check);
  if (access) {
    others.push(visibleWhere(access, 'r', db.dialect));
  }
  const ofType: Where = { sql: 'r.resource_type = ? AND r.deleted = 0', params: [type] };
  const where: Where[] = [ofType, ...(driver ? [driver.drive as Where] : []), ...others];
  const count = Math.min(request.count ?? DEFAULT_COUNT, MAX_COUNT);
  const whereSql = where.map((w) => `(${w.sql})`).join(' AND ');
  const whereParams = where.flatMap((w) => w.params);

  let total: number | undefined;
  if (request.total === 'accurate' || request.total === 'estimate' || count === 0) {
    const [row] = await db.all<{ n: number | string }>(`SELECT COUNT(*) AS n FROM resources r WHERE ${whereSql}`, whereParams);
    total = Number(row?.n ?? 0);
  }
  if (count === 0) {
    return { resources: [], included: [], total, ignored: builder.ignored };
  }

  const sortRule = request.sortRules?.[0];
  // Sorted by the audit instant that drives: the page is read in the order of the lookup index,
  // joined to the events, and stops after a page (no sort value computed for every match).
  const joined = driver?.instant && sortRule?.code === driver.instant.code ? driver.instant : undefined;
  const sort = joined ? { sql: 'd.start_ms', params: [] } : sortRule ? sortExpression(type, sortRule.code) : undefined;
  const descending = sortRule?.descending === true;
  const cursor = decodeCursor(options.cursor);
  // A previous page is read backwards from the first row of the page after it, then reversed.
  const backwards = cursor?.d === 'p';
  const cmp = descending !== backwards ? '<' : '>';
  const pageWhere: Where[] = joined ? [ofType, { sql: `d.code = ? AND d.resource_type = r.resource_type AND d.resource_id = r.id AND ${joined.row.sql}`, params: [joined.code, ...joined.row.params] }, ...others] : [...where];
  if (cursor) {
    pageWhere.push(
      sort
        ? { sql: `(${sort.sql} ${cmp} ? OR (${sort.sql} = ? AND r.ordinal ${cmp} ?))`, params: [...sort.params, cursor.v, ...sort.params, cursor.v, cursor.o] }
        : { sql: `r.ordinal ${cmp} ?`, params: [cursor.o] },
    );
    if (joined) {
      // The same bound again, in a form the index seeks by.
      pageWhere.push({ sql: `d.start_ms ${cmp}= ?`, params: [cursor.v] });
    }
  }
  const direction = descending !== backwards ? 'DESC' : 'ASC';
  // With a driving filter, "+r.ordinal" keeps SQLite from walking the ordinal index instead
  // (sorting a few matches is cheaper than scanning the type in order).
  const ordinal = driver && db.dialect === 'sqlite' ? '+r.ordinal' : 'r.ordinal';
  const orderSql = sort ? `sort_value ${direction}, ${ordinal} ${direction}` : `${ordinal} ${direction}`;
  const select = sort ? `r.id, r.content, r.ordinal, ${sort.sql} AS sort_value` : 'r.id, r.content, r.ordinal';
  // CROSS JOIN: SQLite keeps the index row as the outer loop.
  const from = joined ? `${joined.table} d CROSS JOIN resources r` : 'resources r';
  const rows = await db.all<Row>(`SELECT ${select} FROM ${from} WHERE ${pageWhere.map((w) => `(${w.sql})`).join(' AND ')} ORDER BY ${orderSql} LIMIT ?`, [
    ...(sort?.params ?? []),
    ...pageWhere.flatMap((w) => w.params),
    count + 1,
  ]);
  const more = rows.length > count;
  const page = rows.slice(0, count);
  if (backwards) {
    page.reverse();
  }
  const keyOf = (row: Row | undefined, d?: 'p'): string | undefined =>
    row ? encodeCursor({ v: sort ? (row.sort_value ?? null) : null, o: Number(row.ordinal), ...(d ? { d } : {}) }) : undefined;
  const first = page[0];
  const last = page[page.length - 1];
  // Going forwards there is a next page when a row was left over, and a previous one when we
  // came from somewhere; going backwards, the page we came from is next.
  const next = backwards ? (cursor ? keyOf(last) : undefined) : more ? keyOf(last) : undefined;
  const previous = backwards ? (more ? keyOf(first, 'p') : undefined) : cursor && page.length > 0 ? keyOf(first, 'p') : undefined;
  const resources = page.map((r) => JSON.parse(r.content) as Resource);
  const included = await includes(db, request, resources, access);
  return { resources, included, total, next, previous, ignored: builder.ignored };
}

async function fetchByIds(db: SqlExecutor, pairs: { type: string; id: string }[], access: ResolvedAccess | undefined): Promise<Resource[]> {
  const visible = access ? visibleWhere(access, 'r', db.dialect) : undefined;
  const out: Resource[] = [];
  const byType = new Map<string, Set<string>>();
  for (const { type, id } of pairs) {
    byType.set(type, (byType.get(type) ?? new Set()).add(id));
  }
  for (const [type, ids] of byType) {
    const list = [...ids];
    for (let i = 0; i < list.length; i += 500) {
      const chunk = list.slice(i, i + 500);
      const rows = await db.all<{ content: string }>(
        `SELECT r.content FROM resources r WHERE r.resource_type = ? AND r.deleted = 0 AND r.id IN (${chunk.map(() => '?').join(', ')})${visible ? ` AND ${visible.sql}` : ''}`,
        [type, ...chunk, ...(visible?.params ?? [])],
      );
      out.push(...rows.map((r) => JSON.parse(r.content) as Resource));
    }
  }
  return out;
}

/** _include (what the results point at) and _revinclude (what points at the results). */
async function includes(db: SqlExecutor, request: SearchRequest, resources: Resource[], access: ResolvedAccess | undefined): Promise<Resource[]> {
  if (resources.length === 0 || (!request.include?.length && !request.revInclude?.length)) {
    return [];
  }
  const seen = new Set(resources.map((r) => `${r.resourceType}/${r.id}`));
  const wanted: { type: string; id: string }[] = [];
  const ids = resources.map((r) => r.id as string);
  const idList = ids.map(() => '?').join(', ');
  for (const include of request.include ?? []) {
    const targetFilter = include.targetType ? ' AND target_type = ?' : '';
    // From the page's ids through the owner index (resource_type, resource_id, code, targets);
    // duplicates are dropped below (SQLite's DISTINCT builds a temporary b-tree each time).
    const rows = await db.all<{ target_type: string; target_id: string }>(
      `SELECT target_type, target_id FROM ${indexTable(include.resourceType, 'reference')} WHERE resource_type = ? AND resource_id IN (${idList}) AND code = ? AND target_id IS NOT NULL${targetFilter}`,
      [include.resourceType, ...ids, include.searchParam, ...(include.targetType ? [include.targetType] : [])],
    );
    rows.forEach((r) => wanted.push({ type: r.target_type, id: r.target_id }));
  }
  for (const rev of request.revInclude ?? []) {
    // What points at the page is a search by that reference: the same index paths (on SQLite the
    // audit trail's term index) as Type?param=Type/id1,Type/id2,…
    const pointing = new WhereBuilder(db.dialect).filter(rev.resourceType, { code: rev.searchParam, operator: Operator.EQUALS, value: ids.map((id) => `${request.resourceType}/${id}`).join(',') }, 'r');
    const where = pointing?.drive ?? pointing?.check;
    if (!where) {
      continue;
    }
    const rows = await db.all<{ id: string }>(`SELECT r.id FROM resources r WHERE r.resource_type = ? AND (${where.sql}) LIMIT ?`, [rev.resourceType, ...where.params, MAX_INCLUDED]);
    rows.forEach((r) => wanted.push({ type: rev.resourceType, id: r.id }));
  }
  const fresh = wanted.filter((w) => !seen.has(`${w.type}/${w.id}`) && (seen.add(`${w.type}/${w.id}`), true)).slice(0, MAX_INCLUDED);
  return fetchByIds(db, fresh, access);
}
