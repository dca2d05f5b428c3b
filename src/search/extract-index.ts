// Search index rows for one resource, extracted generically: every R4 SearchParameter of the
// resource's type is evaluated with its FHIRPath expression (parsed once per type and parameter,
// TECH-NOTES.md "Search index extraction") and each value becomes rows by the parameter's type.
// No search parameter is written by hand per resource type.
//
// Not indexed here:
// - `_id`, `_lastUpdated`, `_security`, `_source` come from the stored row / meta in the store;
//   Medplum's own `_compartment` and `_project` are not R4. `_profile` and `_tag` are indexed.
// - composite parameters (e.g. Observation code-value-quantity) and special ones (e.g. Location
//   near): they need their own tables; searches on them are refused or ignored by the store.
// - reference `:identifier` (a Reference with only an identifier gives no row yet), Range and
//   Money values of number/quantity parameters, Timing repeat bounds other than boundsPeriod.
import { evalFhirPathTyped, getSearchParameterDetails, getSearchParameters, isCodeableConcept, isCoding, isPeriod, isQuantity, toTypedValue } from '@medplum/core';
import type { FhirPathAtom, TypedValue } from '@medplum/core';
import type { Address, CodeableConcept, Coding, ContactPoint, HumanName, Identifier, Period, Quantity, Reference, Resource, Timing } from '@medplum/fhirtypes';
import { loadDefinitions } from '../validation/definitions.ts';
import { dateRange, MAX_DATE_MS, MIN_DATE_MS } from './date-range.ts';
import { emptyIndexRows } from './index-rows.ts';
import type { DateRow, IndexRows, NumberRow, ReferenceRow, StringRow, TokenRow, UriRow } from './index-rows.ts';

type RowKind = keyof IndexRows;

interface IndexedParameter {
  code: string;
  kind: RowKind;
  expression: FhirPathAtom;
  /**
   * The resource's elements the expression starts from, when it is only paths and filters on
   * them (see rootElements): without any of them it yields nothing, and is not evaluated. Most
   * of a resource type's ~25 parameters name elements a given resource does not have.
   */
  roots?: readonly string[];
}

/** SearchParameter.type → index table; composite and special have none. */
const KIND_BY_TYPE: Record<string, RowKind | undefined> = {
  token: 'token',
  string: 'string',
  reference: 'reference',
  date: 'date',
  number: 'number',
  quantity: 'number',
  uri: 'uri',
};

/** Of the parameters on every resource, the two that are values to index rather than store columns. */
const INDEXED_COMMON = new Set(['_profile', '_tag']);

const parametersByType = new Map<string, IndexedParameter[]>();
let skipped = 0;

/** How many (resource, parameter) evaluations failed and were skipped since the process started. */
export function skippedParameterCount(): number {
  return skipped;
}

function indexedParameters(resourceType: string): IndexedParameter[] {
  const cached = parametersByType.get(resourceType);
  if (cached) {
    return cached;
  }
  loadDefinitions();
  const result: IndexedParameter[] = [];
  for (const [code, sp] of Object.entries(getSearchParameters(resourceType) ?? {})) {
    const kind = KIND_BY_TYPE[sp.type];
    if (!kind || !sp.expression || (code.startsWith('_') && !INDEXED_COMMON.has(code))) {
      continue;
    }
    try {
      const roots = rootElements(resourceType, sp.expression);
      result.push({ code, kind, expression: getSearchParameterDetails(resourceType, sp).parsedExpression, ...(roots ? { roots } : {}) });
    } catch {
      skipped++;
    }
  }
  parametersByType.set(resourceType, result);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Which elements an expression starts from

/** Splits on `|` outside parentheses and quotes. */
function branches(expression: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === "'" && expression[i - 1] !== '\\') {
      quote = !quote;
    } else if (!quote && c === '(') {
      depth++;
    } else if (!quote && c === ')') {
      depth--;
    } else if (!quote && depth === 0 && c === '|') {
      out.push(expression.slice(start, i));
      start = i + 1;
    }
  }
  out.push(expression.slice(start));
  return out;
}

/** The index just after the parenthesis that closes the one at `open`, or -1. */
function closing(text: string, open: number): number {
  let depth = 0;
  let quote = false;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === "'" && text[i - 1] !== '\\') {
      quote = !quote;
    } else if (!quote && c === '(') {
      depth++;
    } else if (!quote && c === ')' && --depth === 0) {
      return i + 1;
    }
  }
  return -1;
}

const STEP = /^\.([a-z][A-Za-z0-9]*)(?![A-Za-z0-9(])/;
const OF_TYPE = /^\.ofType\([A-Za-z]+\)/;
const AS_TYPE = /^\s+as\s+[A-Za-z]+/;

/**
 * The first element of each branch of `expression` that applies to `resourceType`, when every
 * such branch is `Type.element` followed only by more elements, `.where(…)`, `.ofType(X)` or
 * `as X`: each of those yields nothing from nothing, so a resource without any of the elements
 * gives no value. Undefined when any branch is something else (`exists()`, `and`, a function of
 * the resource itself): such a parameter is always evaluated. Branches of other types
 * (`AllergyIntolerance.patient | CarePlan.subject…`) yield nothing on this type.
 */
export function rootElements(resourceType: string, expression: string): string[] | undefined {
  const roots = new Set<string>();
  for (const raw of branches(expression)) {
    let branch = raw.trim();
    while (branch.startsWith('(') && closing(branch, 0) === branch.length) {
      branch = branch.slice(1, -1).trim();
    }
    const head = /^([A-Z][A-Za-z]+)\.([a-z][A-Za-z0-9]*)(?![A-Za-z0-9(])/.exec(branch);
    if (!head || head[1] === 'Resource' || head[1] === 'DomainResource') {
      return undefined;
    }
    let rest = branch.slice(head[0].length);
    while (rest.length > 0) {
      const step = STEP.exec(rest) ?? OF_TYPE.exec(rest) ?? AS_TYPE.exec(rest);
      if (step) {
        rest = rest.slice(step[0].length);
      } else if (rest.startsWith('.where(')) {
        const end = closing(rest, '.where'.length);
        if (end < 0) {
          return undefined;
        }
        rest = rest.slice(end);
      } else {
        return undefined;
      }
    }
    if (head[1] === resourceType) {
      roots.add(head[2] as string);
    }
  }
  return [...roots];
}

/** Whether the resource has the element, as itself or as a choice (`value` → `valueQuantity`). */
function hasElement(resource: Record<string, unknown>, keys: readonly string[], element: string): boolean {
  if (resource[element] !== undefined) {
    return true;
  }
  return keys.some((key) => key.length > element.length && key.startsWith(element) && /[A-Z]/.test(key[element.length] as string));
}

export interface ExtractOptions {
  /** Evaluate every parameter, also those whose elements the resource lacks (tests compare the two). */
  evaluateAll?: boolean;
}

/** The index rows of every search parameter of the resource's type, without duplicates. */
export function extractIndexRows(resource: Resource, options: ExtractOptions = {}): IndexRows {
  const rows = new RowCollector();
  const root = toTypedValue(resource);
  const variables: Record<string, TypedValue> = { '%resource': root, '%context': root };
  const object = resource as unknown as Record<string, unknown>;
  const keys = Object.keys(object);
  for (const param of indexedParameters(resource.resourceType)) {
    if (param.roots && !options.evaluateAll && !param.roots.some((element) => hasElement(object, keys, element))) {
      continue;
    }
    try {
      const values = evalFhirPathTyped(param.expression, [root], variables);
      for (const value of values) {
        if (value.value !== undefined && value.value !== null) {
          ADD_VALUE[param.kind](rows, param.code, value);
        }
      }
    } catch {
      // A weird-but-valid value must not stop the write; the other parameters still index.
      skipped++;
    }
  }
  return rows.rows;
}

/** Index rows extracted ahead of the write (before the store's transaction), with what they were extracted from. */
export interface PreparedIndex {
  key: string;
  rows: IndexRows;
}

/**
 * What a resource's index rows depend on, as a string: the resource without its id and the
 * version metadata the store sets (none of them is indexed here, see the top of this file).
 */
export function indexKey(resource: Resource): string {
  const { id: _id, meta, ...rest } = resource as Resource & { meta?: Record<string, unknown> };
  const { versionId: _versionId, lastUpdated: _lastUpdated, ...kept } = meta ?? {};
  return JSON.stringify([rest, kept]);
}

export function prepareIndexRows(resource: Resource): PreparedIndex {
  return { key: indexKey(resource), rows: extractIndexRows(resource) };
}

/** The prepared rows when they were extracted from this same content, else extracted now. */
export function indexRowsOf(resource: Resource, prepared: PreparedIndex | undefined): IndexRows {
  return prepared !== undefined && prepared.key === indexKey(resource) ? prepared.rows : extractIndexRows(resource);
}

// ---------------------------------------------------------------------------------------------
// Rows, deduplicated per resource

class RowCollector {
  readonly rows = emptyIndexRows();
  private readonly seen = new Set<string>();

  /** `key` holds the row's columns; \u0001 marks null so that null and "null" differ. */
  private add<K extends RowKind>(kind: K, row: IndexRows[K][number], key: (string | number | null)[]): void {
    let id: string = kind;
    for (const part of key) {
      id += part === null ? '\u0000\u0001' : `\u0000${part}`;
    }
    if (!this.seen.has(id)) {
      this.seen.add(id);
      (this.rows[kind] as IndexRows[K][number][]).push(row);
    }
  }

  token(row: TokenRow): void {
    this.add('token', row, [row.code, row.system, row.value, row.text]);
  }
  string(row: StringRow): void {
    this.add('string', row, [row.code, row.exact]);
  }
  reference(row: ReferenceRow): void {
    this.add('reference', row, [row.code, row.targetType, row.targetId, row.url]);
  }
  date(row: DateRow): void {
    this.add('date', row, [row.code, row.startMs, row.endMs]);
  }
  number(row: NumberRow): void {
    this.add('number', row, [row.code, row.value, row.system, row.unit]);
  }
  uri(row: UriRow): void {
    this.add('uri', row, [row.code, row.value]);
  }
}

/** Short texts recently normalized: the same displays ("Patient", "Person", …) recur in every resource. */
const normalized = new Map<string, string>();
const NORMALIZED_CACHE_SIZE = 4096;
const NORMALIZED_CACHE_LENGTH = 64;

/** What `name=zoe` and `:text` compare against: lower case, accents removed. */
export function normalizeSearchText(value: string): string {
  let result = normalized.get(value);
  if (result === undefined) {
    result = value.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
    if (value.length <= NORMALIZED_CACHE_LENGTH) {
      if (normalized.size >= NORMALIZED_CACHE_SIZE) {
        normalized.clear();
      }
      normalized.set(value, result);
    }
  }
  return result;
}

const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';

/** An element's repeating child as an array, even when a sender wrote a single value. */
function list<T>(value: T[] | T | undefined | null): T[] {
  return Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
}

const ADD_VALUE: Record<RowKind, (rows: RowCollector, code: string, value: TypedValue) => void> = {
  token: addTokens,
  string: addStrings,
  reference: addReferences,
  date: addDates,
  number: addNumbers,
  uri: addUris,
};

// ---------------------------------------------------------------------------------------------
// token (https://hl7.org/fhir/R4/search.html#token)

function addTokens(rows: RowCollector, code: string, { type, value }: TypedValue): void {
  const token = (system: string | undefined, tokenValue: string, text?: string): void =>
    rows.token({ code, system: nonEmpty(system) ? system : null, value: tokenValue, text: nonEmpty(text) ? normalizeSearchText(text) : null });

  if (type === 'Identifier') {
    const identifier = value as Identifier;
    if (nonEmpty(identifier.value)) {
      token(identifier.system, identifier.value, identifier.type?.text);
    }
  } else if (type === 'ContactPoint') {
    // ContactPoint.system is a code (phone, email), not a URI: R4 matches the token on the
    // value only, so `phone=555-0100` and `telecom=555-0100` both find it. The system stays null.
    const contactPoint = value as ContactPoint;
    if (nonEmpty(contactPoint.value)) {
      token(undefined, contactPoint.value);
    }
  } else if (type === 'CodeableConcept' || (type !== 'Coding' && isCodeableConcept(value))) {
    addCodeableConceptTokens(token, value as CodeableConcept);
  } else if (type === 'Coding' || isCoding(value)) {
    addCodeableConceptTokens(token, { coding: [value as Coding] });
  } else if (typeof value === 'boolean' || typeof value === 'number') {
    token(undefined, String(value));
  } else if (nonEmpty(value)) {
    token(undefined, value);
  }
}

/**
 * One row per coding, its text the CodeableConcept.text or else the Coding.display; where both
 * exist and differ, a second row carries the display so `:text` finds either. A concept with text
 * and no coded coding gets one row with value '' so that `:text` still finds it.
 */
function addCodeableConceptTokens(token: (system: string | undefined, value: string, text?: string) => void, concept: CodeableConcept): void {
  let coded = false;
  const codings = list(concept.coding).filter((c): c is Coding => typeof c === 'object' && c !== null);
  for (const coding of codings) {
    if (!nonEmpty(coding.code)) {
      continue;
    }
    coded = true;
    token(coding.system, coding.code, concept.text ?? coding.display);
    if (nonEmpty(concept.text) && nonEmpty(coding.display) && concept.text !== coding.display) {
      token(coding.system, coding.code, coding.display);
    }
  }
  const text = concept.text ?? codings.find((c) => nonEmpty(c.display))?.display;
  if (!coded && nonEmpty(text)) {
    token(undefined, '', text);
  }
}

// ---------------------------------------------------------------------------------------------
// string: HumanName and Address by part, other strings as they are

function addStrings(rows: RowCollector, code: string, { type, value }: TypedValue): void {
  const add = (part: unknown): void => {
    if (nonEmpty(part)) {
      rows.string({ code, normalized: normalizeSearchText(part), exact: part });
    }
  };
  if (typeof value === 'string') {
    add(value);
  } else if (type === 'HumanName') {
    const name = value as HumanName;
    [name.family, ...list(name.given), ...list(name.prefix), ...list(name.suffix), name.text].forEach(add);
  } else if (type === 'Address') {
    const address = value as Address;
    [...list(address.line), address.city, address.district, address.state, address.postalCode, address.country, address.text].forEach(add);
  }
}

// ---------------------------------------------------------------------------------------------
// reference

/** Type/id, optionally /_history/vid: a reference to a resource on this server. */
const LOCAL_REFERENCE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/**
 * "Patient/123" (and "Patient/123/_history/2") → targetType/targetId. Anything else — absolute
 * URLs, urn:uuid, canonicals, "#contained" — is kept as written in `url` only: an absolute
 * "https://other/fhir/Patient/1" is not our Patient/1, so it gets no targetType/targetId (the
 * store may resolve URLs on its own base to Type/id before indexing).
 */
function addReferences(rows: RowCollector, code: string, { value }: TypedValue): void {
  let reference: unknown = value;
  if (typeof value === 'object') {
    const resource = value as Partial<Resource>;
    if (typeof resource.resourceType === 'string' && nonEmpty(resource.id)) {
      rows.reference({ code, targetType: resource.resourceType, targetId: resource.id, url: null });
      return;
    }
    // Identifier-only or display-only references give no row (`:identifier` is not supported yet).
    reference = (value as Reference).reference;
  }
  if (!nonEmpty(reference)) {
    return;
  }
  const local = LOCAL_REFERENCE.exec(reference);
  if (local) {
    rows.reference({ code, targetType: local[1] ?? null, targetId: local[2] ?? null, url: null });
  } else {
    rows.reference({ code, targetType: null, targetId: null, url: reference });
  }
}

// ---------------------------------------------------------------------------------------------
// date: UTC ranges with the precision of the value (date-range.ts)

function addDates(rows: RowCollector, code: string, { type, value }: TypedValue): void {
  const addPeriod = (period: Period): void => {
    const start = nonEmpty(period.start) ? dateRange(period.start) : undefined;
    const end = nonEmpty(period.end) ? dateRange(period.end) : undefined;
    if (start || end) {
      rows.date({ code, startMs: start ? start[0] : MIN_DATE_MS, endMs: end ? end[1] : MAX_DATE_MS });
    }
  };
  if (typeof value === 'string') {
    const range = dateRange(value);
    if (range) {
      rows.date({ code, startMs: range[0], endMs: range[1] });
    }
  } else if (type === 'Timing') {
    const timing = value as Timing;
    list(timing.event).forEach((event) => addDates(rows, code, { type: 'dateTime', value: event }));
    if (timing.repeat?.boundsPeriod) {
      addPeriod(timing.repeat.boundsPeriod);
    }
  } else if (type === 'Period' || isPeriod(value)) {
    addPeriod(value as Period);
  }
}

// ---------------------------------------------------------------------------------------------
// number and quantity

/**
 * A Quantity gives (value, system, code) — what `5.4|http://unitsofmeasure.org|mg` matches — and,
 * when its human unit differs from the code, also (value, null, unit) for `5.4||mg`.
 */
function addNumbers(rows: RowCollector, code: string, { type, value }: TypedValue): void {
  if (typeof value === 'number') {
    if (Number.isFinite(value)) {
      rows.number({ code, value, system: null, unit: null });
    }
    return;
  }
  if (type === 'Money' || type === 'Range' || !isQuantity(value)) {
    return;
  }
  const quantity = value as Quantity;
  if (typeof quantity.value !== 'number' || !Number.isFinite(quantity.value)) {
    return;
  }
  const system = nonEmpty(quantity.system) ? quantity.system : null;
  const unitCode = nonEmpty(quantity.code) ? quantity.code : nonEmpty(quantity.unit) ? quantity.unit : null;
  rows.number({ code, value: quantity.value, system, unit: unitCode });
  if (nonEmpty(quantity.unit) && unitCode !== quantity.unit) {
    rows.number({ code, value: quantity.value, system: null, unit: quantity.unit });
  }
}

// ---------------------------------------------------------------------------------------------
// uri

function addUris(rows: RowCollector, code: string, { value }: TypedValue): void {
  if (nonEmpty(value)) {
    rows.uri({ code, value });
  }
}
