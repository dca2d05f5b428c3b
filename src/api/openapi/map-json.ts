// A deep copy of a JSON value in which every object is passed through `each` once its members are
// copied: how a schema's $refs are rewritten (and, in tests, its objects closed) without touching the original.
export type JsonObject = Record<string, unknown>;

export function mapJson(value: unknown, each: (object: JsonObject) => JsonObject): unknown {
  if (Array.isArray(value)) {
    return value.map((item) => mapJson(item, each));
  }
  if (value === null || typeof value !== 'object') {
    return value;
  }
  return each(Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, mapJson(inner, each)])));
}
