// How a resource that came from a peer's FHIR server keeps the peer's id: an identifier whose
// system is the peer's base URL and the type ("https://ehr.example/fhir/Encounter"), whose value
// is the peer's id. Our copy is found again by it (never a duplicate), and writeback finds the
// EHR's own id by it.
import type { Identifier, Resource } from '@medplum/fhirtypes';

/** The peer's base URL as one spelling: lower-case scheme and host, no query, no trailing slash. */
export function normalizeBaseUrl(fhirBaseUrl: string): string {
  const url = new URL(fhirBaseUrl);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** The identifier system of a peer's resources of one type: "<base>/<Type>". */
export function originSystem(fhirBaseUrl: string, resourceType: string): string {
  return `${normalizeBaseUrl(fhirBaseUrl)}/${resourceType}`;
}

export function originIdentifier(fhirBaseUrl: string, resourceType: string, peerId: string): Identifier {
  return { system: originSystem(fhirBaseUrl, resourceType), value: peerId };
}

/** The peer's id of our copy, if it came from that peer. */
export function peerIdOf(resource: Resource, fhirBaseUrl: string): string | undefined {
  const system = originSystem(fhirBaseUrl, resource.resourceType);
  const identifiers = (resource as { identifier?: Identifier[] }).identifier ?? [];
  return identifiers.find((i) => i.system === system)?.value;
}

/** A FHIR id (R4: 1-64 of [A-Za-z0-9-.]). */
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const TYPE = /^[A-Z][A-Za-z]{1,63}$/;

export type PeerReference =
  /** One of the peer's own resources. */
  | { kind: 'peer'; resourceType: string; id: string }
  /** Inside the resource (#contained), on another server, or not a literal reference: kept as it is. */
  | { kind: 'other' };

/**
 * What a reference in a peer's resource points at: "Patient/123", "Patient/123/_history/2" and
 * "<base>/Patient/123" are the peer's; "#x", URLs on other servers, urn:… are not.
 */
export function parsePeerReference(reference: string, fhirBaseUrl: string): PeerReference {
  const base = `${normalizeBaseUrl(fhirBaseUrl)}/`;
  let path: string;
  if (/^[a-z][a-z0-9+.-]*:/i.test(reference)) {
    let url: URL;
    try {
      url = new URL(reference);
    } catch {
      return { kind: 'other' };
    }
    const absolute = `${url.origin}${url.pathname}`;
    if (!absolute.startsWith(base) || url.search !== '' || url.hash !== '') {
      return { kind: 'other' };
    }
    path = absolute.slice(base.length);
  } else {
    path = reference;
  }
  const parts = path.split('/');
  const [type, id, history, version] = parts;
  const plain = parts.length === 2;
  const versioned = parts.length === 4 && history === '_history' && ID.test(version ?? '');
  if ((plain || versioned) && TYPE.test(type ?? '') && ID.test(id ?? '')) {
    return { kind: 'peer', resourceType: type as string, id: id as string };
  }
  return { kind: 'other' };
}
