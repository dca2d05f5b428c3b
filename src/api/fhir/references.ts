// Reference strings inside a resource, found in one walk: a transaction rewrites and resolves
// them, a single write refuses the ones only a transaction can resolve.
import type { Resource } from '@medplum/fhirtypes';

/** Type?query: resolved by a search, inside a transaction only. */
export const CONDITIONAL_REFERENCE = /^[A-Z][A-Za-z]+\?/;

/** Calls `visit` for each `reference` string, with the object that holds it (to rewrite it). */
export function forEachReference(value: unknown, visit: (reference: string, holder: Record<string, unknown>) => void): void {
  if (Array.isArray(value)) {
    value.forEach((v) => forEachReference(v, visit));
  } else if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    for (const [key, v] of Object.entries(object)) {
      if (key === 'reference' && typeof v === 'string') {
        visit(v, object);
      } else if (typeof v === 'object') {
        forEachReference(v, visit);
      }
    }
  }
}

/** Type/id, optionally /_history/vid: what follows the base in a URL of a resource on this server. */
const RESOURCE_PATH = /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/**
 * Rewrites, in place, absolute references to this server's own base (`baseUrl`, .../fhir) as
 * the relative Type/id they are (FHIR: a server treats its own base URL as local). Stored
 * absolute, they were indexed as foreign URLs: in no patient's compartment, so they escaped
 * the check that a tenant writes only about patients it may see.
 */
export function localizeReferences(resource: Resource, baseUrl: string): void {
  forEachReference(resource, referenceLocalizer(baseUrl));
}

/**
 * The visitor of localizeReferences, to join another walk over the same references. The base is
 * parsed at the first absolute reference only: most resources (a mapped plan's) hold none.
 */
export function referenceLocalizer(baseUrl: string): (reference: string, holder: Record<string, unknown>) => void {
  let base: { origin: string; prefix: string } | null | undefined;
  return (reference, holder) => {
    if (!/^https?:\/\//i.test(reference)) {
      return;
    }
    if (base === undefined) {
      const parsed = URL.parse(baseUrl);
      base = parsed ? { origin: parsed.origin, prefix: `${parsed.pathname.replace(/\/$/, '')}/` } : null;
    }
    const url = base ? URL.parse(reference) : null;
    if (!base || !url) {
      return;
    }
    const path = url.pathname.slice(base.prefix.length);
    if (url.origin === base.origin && url.pathname.startsWith(base.prefix) && !url.search && !url.hash && RESOURCE_PATH.test(path)) {
      holder.reference = path;
    }
  };
}

/** urn:uuid and conditional references mean something only inside a transaction Bundle. */
export function needsTransaction(reference: string): boolean {
  return reference.startsWith('urn:uuid:') || CONDITIONAL_REFERENCE.test(reference);
}

/**
 * Replaces every reference found in `map` (urn:uuid or Type?query → Type/id), in place; returns
 * the urn:uuid references that name no entry.
 */
export function rewriteReferences(resource: Resource | undefined, map: Map<string, string>): string[] {
  const unresolved: string[] = [];
  forEachReference(resource, (reference, holder) => {
    const target = map.get(reference);
    if (target !== undefined) {
      holder.reference = target;
    } else if (reference.startsWith('urn:uuid:')) {
      unresolved.push(reference);
    }
  });
  return unresolved;
}
