// How a resource is known on both sides. carebridge's copy at a peer carries carebridge's id as an
// identifier (so a conditional update finds it again, and a retry never duplicates it); a resource
// that came from a peer carries the peer's id as an identifier whose system names the peer's base
// URL and type (so carebridge writes back to the peer's own resource instead of a copy).
import type { Identifier, Resource } from '@medplum/fhirtypes';

/** The system of the identifier carebridge's copies at peers carry: "<Type>/<id>" of our resource. */
export const CAREBRIDGE_RESOURCE_SYSTEM = 'urn:carebridge:resource';

export function carebridgeIdentifier(resourceType: string, id: string): Identifier {
  return { system: CAREBRIDGE_RESOURCE_SYSTEM, value: `${resourceType}/${id}` };
}

/** The system under which a peer's own id of a resource of `resourceType` is kept on our copy. */
export function originSystem(fhirBaseUrl: string, resourceType: string): string {
  return `${fhirBaseUrl.replace(/\/+$/, '')}/${resourceType}`;
}

/** The peer's own id of our resource, when the resource came from that peer. */
export function originIdAt(resource: Resource, fhirBaseUrl: string): string | undefined {
  const system = originSystem(fhirBaseUrl, resource.resourceType);
  const identifiers = (resource as { identifier?: Identifier[] }).identifier;
  return identifiers?.find((i) => i.system === system && typeof i.value === 'string')?.value;
}
