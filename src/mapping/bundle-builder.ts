// Collects the entries of a transaction Bundle. Resources a plan owns are written with a
// conditional update on their plan-item identifier (a plan pushed again updates them in place);
// people and organizations shared with other plans use a conditional create, so a plan never
// overwrites what another source said about them.
import type { Bundle, BundleEntry, Identifier, Reference, Resource } from '@medplum/fhirtypes';
import type { MappingContext } from './context.ts';
import { identifierQuery } from './identifiers.ts';

export type WriteMode = 'create-if-none-exist' | 'conditional-update';

export class BundleBuilder {
  private readonly entries: BundleEntry[] = [];
  private readonly shared = new Map<string, string>();
  private readonly ctx: MappingContext;

  constructor(ctx: MappingContext) {
    this.ctx = ctx;
  }

  /**
   * Adds a resource, keyed by `key` (its first identifier if not given); returns its urn:uuid. A
   * conditional update keyed by several identifiers matches a resource that has any of them.
   */
  add(resource: Resource, mode: WriteMode, key: Identifier | readonly Identifier[] | undefined = firstIdentifier(resource)): string {
    const fullUrl = `urn:uuid:${this.ctx.newUuid()}`;
    const entry: BundleEntry = { fullUrl, resource };
    const [first, ...alternatives] = key === undefined ? [] : Array.isArray(key) ? key : [key as Identifier];
    if (!first) {
      entry.request = { method: 'POST', url: resource.resourceType };
    } else if (mode === 'conditional-update') {
      entry.request = { method: 'PUT', url: identifierQuery(resource.resourceType, first, ...alternatives) };
    } else {
      entry.request = { method: 'POST', url: resource.resourceType, ifNoneExist: identifierQuery(resource.resourceType, first).split('?')[1] };
    }
    this.entries.push(entry);
    return fullUrl;
  }

  /** Adds a shared resource once per `dedupKey`: later calls return the first one's urn:uuid. */
  addShared(dedupKey: string, make: () => Resource): string {
    const known = this.shared.get(dedupKey);
    if (known) {
      return known;
    }
    const fullUrl = this.add(make(), 'create-if-none-exist');
    this.shared.set(dedupKey, fullUrl);
    return fullUrl;
  }

  build(): Bundle {
    return { resourceType: 'Bundle', type: 'transaction', entry: this.entries };
  }
}

function firstIdentifier(resource: Resource): Identifier | undefined {
  const identifiers = (resource as { identifier?: Identifier | Identifier[] }).identifier;
  return Array.isArray(identifiers) ? identifiers[0] : identifiers;
}

/** A reference usable where any target type is expected (Reference<never> fits every Reference<T>). */
export function ref(reference: string, display?: string): Reference<never> {
  return display === undefined ? { reference } : { reference, display };
}
