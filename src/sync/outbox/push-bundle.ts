// What carebridge sends a FHIR peer for one change: a transaction Bundle that writes the resource
// by conditional update on carebridge's identifier (a retry finds the same resource, never a
// second one) together with the resources it references, so the peer's references resolve. A
// resource that came from the peer is written to the peer's own id instead of a copy. Only
// resources the peer is sent anyway (its push types; for an agency also the Patient) travel along
// as entries; a reference to anything else goes by identifier (a logical reference: a Patient by
// its own identifier, e.g. the hospital's MRN, so an EHR finds its own patient rather than
// getting a copy; others by carebridge's), so a plan's change is a few entries, not its graph.
import type { Bundle, BundleEntry, Identifier, Reference, Resource } from '@medplum/fhirtypes';
import { v5 } from 'uuid';
import { CAREBRIDGE_RESOURCE_SYSTEM, carebridgeIdentifier } from '../identity.ts';
import { peerIdOf } from '../origin-identifier.ts';

const URN_NAMESPACE = '0d7c3b9e-2a4f-4e61-8f3d-5b1a9c7e2d40';
const RELATIVE_REFERENCE = /^([A-Z][A-Za-z]{1,63})\/([A-Za-z0-9\-.]{1,64})$/;
/** A resource referencing more than this sends the first ones as entries, the rest by identifier. */
const MAX_REFERENCED = 50;

export type ReadResource = (resourceType: string, id: string) => Promise<Resource | undefined>;
/** A ReadResource for one delivery: what the peer may see as that delivery starts. */
export type DeliveryReader = () => ReadResource;

/** The change: the resource as it is now, or its deletion. */
export interface PushedChange {
  resourceType: string;
  id: string;
  resource?: Resource;
}

function urnOf(resourceType: string, id: string): string {
  return `urn:uuid:${v5(`${resourceType}/${id}`, URN_NAMESPACE)}`;
}

/** Every Reference object inside a resource (not inside contained resources' own ids). */
function referencesIn(value: unknown, found: Reference[] = []): Reference[] {
  if (Array.isArray(value)) {
    for (const item of value) {
      referencesIn(item, found);
    }
  } else if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    if (typeof object.reference === 'string') {
      found.push(object as Reference);
    }
    for (const [key, child] of Object.entries(object)) {
      if (key !== 'contained') {
        referencesIn(child, found);
      }
    }
  }
  return found;
}

function target(reference: Reference): { resourceType: string; id: string } | undefined {
  const match = RELATIVE_REFERENCE.exec(reference.reference ?? '');
  return match ? { resourceType: match[1] as string, id: match[2] as string } : undefined;
}

/** Our copy as the peer gets it: no id or version of ours, carebridge's identifier added once. */
function outgoing(resource: Resource): Resource {
  const copy = structuredClone(resource) as Resource & { identifier?: { system?: string; value?: string }[] };
  delete copy.id;
  if (copy.meta) {
    const { versionId: _v, lastUpdated: _l, source: _s, ...meta } = copy.meta;
    copy.meta = meta;
    if (Object.keys(meta).length === 0) {
      delete copy.meta;
    }
  }
  const own = carebridgeIdentifier(resource.resourceType, resource.id as string);
  copy.identifier = [...(copy.identifier ?? []).filter((i) => i.system !== CAREBRIDGE_RESOURCE_SYSTEM), own];
  return copy;
}

function conditionalUrl(resourceType: string, id: string): string {
  const own = carebridgeIdentifier(resourceType, id);
  return `${resourceType}?identifier=${encodeURIComponent(`${own.system}|${own.value}`)}`;
}

/**
 * Points each reference at what the peer knows: an entry of the Bundle (its urn), the peer's own
 * resource (it came from there), or — for what is not sent along — carebridge's identifier.
 */
function rewrite(resource: Resource, inBundle: ReadonlyMap<string, string>, originIds: ReadonlyMap<string, string>, ownIdentifiers: ReadonlyMap<string, Identifier>): void {
  for (const reference of referencesIn(resource)) {
    const to = target(reference);
    if (!to) {
      continue; // absolute, contained (#x) or logical: the peer reads it as it is
    }
    const key = `${to.resourceType}/${to.id}`;
    const theirs = originIds.get(key);
    if (theirs) {
      reference.reference = `${to.resourceType}/${theirs}`;
    } else if (inBundle.has(key)) {
      reference.reference = inBundle.get(key);
    } else {
      delete reference.reference;
      reference.type ??= to.resourceType as Reference['type'];
      reference.identifier = ownIdentifiers.get(key) ?? carebridgeIdentifier(to.resourceType, to.id);
    }
  }
}

/** The transaction Bundle that brings `change` to the peer at `fhirBaseUrl`. */
export async function pushBundle(change: PushedChange, read: ReadResource, fhirBaseUrl: string, sentAlong: (resourceType: string) => boolean = () => true): Promise<Bundle> {
  const key = `${change.resourceType}/${change.id}`;
  if (!change.resource) {
    return { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'DELETE', url: conditionalUrl(change.resourceType, change.id) } }] };
  }
  const main = change.resource;
  const originIds = new Map<string, string>();
  const mainOrigin = peerIdOf(main, fhirBaseUrl);
  if (mainOrigin) {
    originIds.set(key, mainOrigin);
  }
  // The resources it references, read as they are now (one level: theirs point by identifier).
  const referenced: Resource[] = [];
  const ownIdentifiers = new Map<string, Identifier>();
  const inBundle = new Map<string, string>([[key, urnOf(change.resourceType, change.id)]]);
  for (const reference of referencesIn(main)) {
    const to = target(reference);
    const toKey = to ? `${to.resourceType}/${to.id}` : undefined;
    const along = to !== undefined && sentAlong(to.resourceType);
    if (!to || !toKey || inBundle.has(toKey) || originIds.has(toKey) || referenced.length >= MAX_REFERENCED || (!along && to.resourceType !== 'Patient')) {
      continue;
    }
    const resource = await read(to.resourceType, to.id);
    if (!resource) {
      continue;
    }
    const theirs = peerIdOf(resource, fhirBaseUrl);
    const own = (resource as { identifier?: Identifier[] }).identifier?.find((i) => i.system && i.value && i.system !== CAREBRIDGE_RESOURCE_SYSTEM);
    if (theirs) {
      originIds.set(toKey, theirs);
    } else if (!along) {
      if (own) {
        ownIdentifiers.set(toKey, own);
      }
    } else {
      inBundle.set(toKey, urnOf(to.resourceType, to.id));
      referenced.push(resource);
    }
  }
  const entries: BundleEntry[] = [main, ...referenced].map((resource) => {
    const copy = outgoing(resource);
    rewrite(copy, inBundle, originIds, ownIdentifiers);
    const resourceKey = `${resource.resourceType}/${resource.id}`;
    const theirs = originIds.get(resourceKey);
    return {
      fullUrl: theirs ? `${fhirBaseUrl.replace(/\/+$/, '')}/${resourceKey.split('/')[0]}/${theirs}` : inBundle.get(resourceKey),
      resource: theirs ? ({ ...copy, id: theirs } as Resource) : copy,
      request: { method: 'PUT', url: theirs ? `${resource.resourceType}/${theirs}` : conditionalUrl(resource.resourceType, resource.id as string) },
    };
  });
  return { resourceType: 'Bundle', type: 'transaction', entry: entries };
}
