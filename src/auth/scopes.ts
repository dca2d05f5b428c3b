// SMART on FHIR scopes for system clients: v2 "system/CarePlan.rs" (c create, r read, u update,
// d delete, s search) and the v1 forms "system/CarePlan.read|write|*", which map onto v2.
// Scopes with query restrictions ("system/Observation.rs?category=…") are not supported.

export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

export interface Scope {
  /** A resource type or "*". */
  resourceType: string;
  permissions: ReadonlySet<Permission>;
  /** The scope as written, for the token response. */
  text: string;
}

const V1: Record<string, Permission[]> = { read: ['r', 's'], write: ['c', 'u', 'd'], '*': ['c', 'r', 'u', 'd', 's'] };
const ORDER: Permission[] = ['c', 'r', 'u', 'd', 's'];

/** Parses one scope; undefined for anything that is not a system/ resource scope we support. */
export function parseScope(text: string): Scope | undefined {
  const match = /^system\/(\*|[A-Z][A-Za-z]{1,63})\.([a-z*]{1,5})$/.exec(text);
  if (!match) {
    return undefined;
  }
  const [, resourceType, rights] = match as unknown as [string, string, string];
  let permissions: Permission[] | undefined = V1[rights];
  if (!permissions) {
    // v2: letters in cruds order, each at most once.
    const letters = [...rights];
    const positions = letters.map((l) => ORDER.indexOf(l as Permission));
    if (positions.some((p) => p < 0) || positions.some((p, i) => i > 0 && p <= (positions[i - 1] as number))) {
      return undefined;
    }
    permissions = letters as Permission[];
  }
  return { resourceType, permissions: new Set(permissions), text };
}

/** Parses a space-separated scope string; returns the scopes understood and the ones not. */
export function parseScopes(text: string): { scopes: Scope[]; unknown: string[] } {
  const scopes: Scope[] = [];
  const unknown: string[] = [];
  for (const part of text.split(/\s+/).filter(Boolean)) {
    const scope = parseScope(part);
    if (scope) {
      scopes.push(scope);
    } else {
      unknown.push(part);
    }
  }
  return { scopes, unknown };
}

/** Does any scope grant `permission` on `resourceType`? */
export function allows(scopes: readonly Scope[], resourceType: string, permission: Permission): boolean {
  return scopes.some((s) => (s.resourceType === '*' || s.resourceType === resourceType) && s.permissions.has(permission));
}

/**
 * The part of `requested` that `allowed` covers, each scope narrowed to the permissions allowed
 * (system/*.cruds requested by a client allowed system/CarePlan.rs gives system/CarePlan.rs).
 */
export function grantScopes(requested: readonly Scope[], allowed: readonly Scope[]): Scope[] {
  const granted = new Map<string, Scope>();
  for (const want of requested) {
    for (const may of allowed) {
      const type = want.resourceType === '*' ? may.resourceType : may.resourceType === '*' || may.resourceType === want.resourceType ? want.resourceType : undefined;
      if (!type) {
        continue;
      }
      const permissions = ORDER.filter((p) => want.permissions.has(p) && may.permissions.has(p));
      if (permissions.length === 0) {
        continue;
      }
      const previous = granted.get(type);
      const merged = ORDER.filter((p) => permissions.includes(p) || previous?.permissions.has(p));
      granted.set(type, { resourceType: type, permissions: new Set(merged), text: `system/${type}.${merged.join('')}` });
    }
  }
  return [...granted.values()];
}
