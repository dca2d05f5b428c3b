// How a resource is known on both sides. carebridge's copy at a peer carries carebridge's id as an
// identifier (so a conditional update finds it again, and a retry never duplicates it); a resource
// that came from a peer carries the peer's id as an identifier whose system names the peer's base
// URL and type (so carebridge writes back to the peer's own resource instead of a copy; see
// origin-identifier.ts).
import type { Identifier } from '@medplum/fhirtypes';

/** The system of the identifier carebridge's copies at peers carry: "<Type>/<id>" of our resource. */
export const CAREBRIDGE_RESOURCE_SYSTEM = 'urn:carebridge:resource';

export function carebridgeIdentifier(resourceType: string, id: string): Identifier {
  return { system: CAREBRIDGE_RESOURCE_SYSTEM, value: `${resourceType}/${id}` };
}
