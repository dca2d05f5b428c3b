// The search index rows carebridge stores for a resource, one table per kind of value. Values
// are extracted generically from the R4 SearchParameter definitions (extract-index.ts): no
// search parameter is written by hand per resource type.

/** token: Coding, CodeableConcept, Identifier, ContactPoint, code, boolean, id. */
export interface TokenRow {
  code: string;
  system: string | null;
  value: string;
  /** For :text — the display / CodeableConcept.text / Identifier.type text, lower-cased. */
  text: string | null;
}

/** string (and the text of HumanName / Address parts), normalised for prefix and :contains search. */
export interface StringRow {
  code: string;
  /** Lower-cased, accents removed: what `name=smi` matches by prefix. */
  normalized: string;
  /** As written: what `name:exact=Smith` matches. */
  exact: string;
}

/** reference: a target type and id for local references, or the URL for absolute/canonical ones. */
export interface ReferenceRow {
  code: string;
  targetType: string | null;
  targetId: string | null;
  /** The reference as written when it is not a local Type/id (absolute URL, canonical, urn). */
  url: string | null;
}

/** date: every date/dateTime/instant/Period/Timing as a UTC range [startMs, endMs] (inclusive). */
export interface DateRow {
  code: string;
  startMs: number;
  endMs: number;
}

/** quantity and number. */
export interface NumberRow {
  code: string;
  value: number;
  system: string | null;
  unit: string | null;
}

/** uri. */
export interface UriRow {
  code: string;
  value: string;
}

export interface IndexRows {
  token: TokenRow[];
  string: StringRow[];
  reference: ReferenceRow[];
  date: DateRow[];
  number: NumberRow[];
  uri: UriRow[];
}

export function emptyIndexRows(): IndexRows {
  return { token: [], string: [], reference: [], date: [], number: [], uri: [] };
}
