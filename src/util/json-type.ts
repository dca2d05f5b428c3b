// The name JSON gives a value's type, for messages about untrusted input ("expected string, but
// got object"): null and arrays are their own, unlike typeof.
export function jsonTypeOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}
