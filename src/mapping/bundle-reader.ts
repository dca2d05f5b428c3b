// Reads a Bundle back: resolves references by fullUrl (urn:uuid in a transaction) or by
// Type/id (a stored copy), whichever the Bundle uses.
import { OperationOutcomeError, badRequest } from '@medplum/core';
import type { Bundle, Reference, Resource, ResourceType } from '@medplum/fhirtypes';

export class BundleReader {
  private readonly byUrl = new Map<string, Resource>();
  readonly resources: Resource[] = [];

  constructor(bundle: Bundle) {
    for (const entry of bundle.entry ?? []) {
      const resource = entry.resource;
      if (!resource) {
        continue;
      }
      this.resources.push(resource);
      if (entry.fullUrl) {
        this.byUrl.set(entry.fullUrl, resource);
      }
      if (resource.id) {
        this.byUrl.set(`${resource.resourceType}/${resource.id}`, resource);
        if (entry.fullUrl && !entry.fullUrl.startsWith('urn:')) {
          // An absolute fullUrl (http://server/fhir/Patient/1) is also reachable by its tail.
          this.byUrl.set(entry.fullUrl.split('/').slice(-2).join('/'), resource);
        }
      }
    }
  }

  /** The resource a reference points at, of whatever type; undefined if absent. */
  lookup(reference: Reference | undefined): Resource | undefined {
    return reference?.reference ? this.byUrl.get(reference.reference) : undefined;
  }

  /** The resource a reference points at, checked to be of `type`; undefined if absent. */
  resolve<T extends Resource>(reference: Reference | undefined, type: T['resourceType']): T | undefined {
    if (!reference?.reference) {
      return undefined;
    }
    const found = this.byUrl.get(reference.reference);
    if (!found) {
      return undefined;
    }
    if (found.resourceType !== type) {
      throw new OperationOutcomeError(badRequest(`${reference.reference} is a ${found.resourceType}, expected ${type}`));
    }
    return found as T;
  }

  /** Like resolve, but the reference must resolve. */
  require<T extends Resource>(reference: Reference | undefined, type: T['resourceType'], path: string): T {
    const found = this.resolve<T>(reference, type);
    if (!found) {
      throw new OperationOutcomeError(badRequest(`${path} does not resolve to a ${type} in the Bundle`, path));
    }
    return found;
  }

  /** The resource a reference points at, which must resolve to one of `types`. */
  requireOneOf<T extends Resource>(reference: Reference | undefined, types: T['resourceType'][], path: string): T {
    const found = this.lookup(reference);
    if (!found || !types.includes(found.resourceType as T['resourceType'])) {
      throw new OperationOutcomeError(badRequest(`${path} does not resolve to a ${types.join(' or ')} in the Bundle`, path));
    }
    return found as T;
  }

  ofType<T extends Resource>(type: ResourceType): T[] {
    return this.resources.filter((r) => r.resourceType === type) as T[];
  }
}
