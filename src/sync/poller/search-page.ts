// One page of a peer's search answer, checked before anything in it is used: a searchset Bundle
// whose matches are of the type asked for. Anything else is the peer answering another question,
// and the page is refused whole (PeerProtocolError): no resource of it stored, no cursor moved.
import type { Resource } from '@medplum/fhirtypes';

/** The peer answered something other than what was asked. */
export class PeerProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PeerProtocolError';
  }
}

/** A word from the peer fit to quote in carebridge's own messages (a type name, a code). */
export function quoted(value: unknown): string {
  return `"${String(value).replace(/[^A-Za-z0-9-]/g, '').slice(0, 40)}"`;
}

export interface SearchPage {
  /** The search's matches: resources of the type asked for. */
  matches: Resource[];
  /** Resources the peer added (_include): used to resolve references, stored when referenced. */
  included: Resource[];
  /** Entries without a resource, or with one that is not even an object: skipped. */
  broken: number;
  /** The peer's link to the next page, if it gave one. */
  next?: string;
  /** How many resources match the whole search (Bundle.total), when the peer says. */
  total?: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Checks a search answer's shape; throws PeerProtocolError when it is not a page of `resourceType`. */
export function readSearchPage(body: unknown, resourceType: string): SearchPage {
  if (!isObject(body) || body.resourceType !== 'Bundle') {
    throw new PeerProtocolError(`the peer answered a search of ${resourceType} with ${isObject(body) ? `a ${quoted(body.resourceType)}` : 'something'} instead of a Bundle`);
  }
  if (body.type !== 'searchset') {
    throw new PeerProtocolError(`the peer answered a search of ${resourceType} with a Bundle of type ${quoted(body.type)}, not a searchset`);
  }
  if (body.entry !== undefined && !Array.isArray(body.entry)) {
    throw new PeerProtocolError(`the peer's Bundle.entry is not a list`);
  }
  const page: SearchPage = { matches: [], included: [], broken: 0 };
  for (const entry of (body.entry ?? []) as unknown[]) {
    const resource = isObject(entry) ? entry.resource : undefined;
    const mode = isObject(entry) && isObject(entry.search) ? entry.search.mode : undefined;
    if (!isObject(resource) || typeof resource.resourceType !== 'string') {
      page.broken += 1;
      continue;
    }
    if (mode === 'outcome') {
      continue; // the peer's remarks on the search (an OperationOutcome), not data
    }
    if (mode === 'include') {
      page.included.push(resource as unknown as Resource);
      continue;
    }
    if (resource.resourceType !== resourceType) {
      throw new PeerProtocolError(`the peer answered a search of ${resourceType} with a ${quoted(resource.resourceType)} among its matches`);
    }
    page.matches.push(resource as unknown as Resource);
  }
  const links = Array.isArray(body.link) ? (body.link as unknown[]) : [];
  const next = links.find((l): l is { relation: string; url: string } => isObject(l) && l.relation === 'next' && typeof l.url === 'string');
  if (next) {
    page.next = next.url;
  }
  if (typeof body.total === 'number' && Number.isSafeInteger(body.total) && body.total >= 0) {
    page.total = body.total;
  }
  return page;
}

/** An R4 instant with a time zone (meta.lastUpdated). */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** The resource's meta.lastUpdated as the peer wrote it, and in ms; undefined when absent or not an instant. */
export function lastUpdatedOf(resource: Resource): { text: string; ms: number } | undefined {
  const text = resource.meta?.lastUpdated;
  if (typeof text !== 'string' || !INSTANT.test(text)) {
    return undefined;
  }
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : { text, ms };
}
