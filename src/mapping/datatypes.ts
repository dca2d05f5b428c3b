// Plan ⇄ FHIR for the small types every resource uses: names, addresses, telecom, identifiers, codes.
import type { Address, CodeableConcept, Coding, ContactPoint as FhirContactPoint, HumanName, Identifier, Organization } from '@medplum/fhirtypes';
import type { ContactPoint, OrganizationContactPoint, OrganizationRef, PersonName, PlanCoding, PlanIdentifier, PostalAddress } from '../model/transition-plan.ts';

/** Drops properties whose value is undefined, so mapped objects compare equal to their source. */
export function defined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) {
    if (value[key] === undefined) {
      delete value[key];
    }
  }
  return value;
}

/** An optional array: undefined stays undefined (not []), so a round trip keeps the plan's shape. */
export function mapOptional<A, B>(items: readonly A[] | undefined, fn: (a: A, i: number) => B): B[] | undefined {
  return items === undefined ? undefined : items.map(fn);
}

export function toIdentifier(id: PlanIdentifier): Identifier {
  return { system: id.system, value: id.value };
}

export function fromIdentifier(id: Identifier): PlanIdentifier {
  return { system: id.system ?? '', value: id.value ?? '' };
}

export function toHumanName(name: PersonName): HumanName {
  return defined({ use: 'official', family: name.family, given: [...name.given], prefix: name.prefix && [...name.prefix], suffix: name.suffix && [...name.suffix] });
}

export function fromHumanName(name: HumanName | undefined): PersonName {
  return defined({ family: name?.family ?? '', given: [...(name?.given ?? [])], prefix: name?.prefix && [...name.prefix], suffix: name?.suffix && [...name.suffix] });
}

export function nameText(name: PersonName): string {
  return [...(name.prefix ?? []), ...name.given, name.family, ...(name.suffix ?? [])].join(' ');
}

export function toAddress(a: PostalAddress): Address {
  return defined({ use: a.use, line: [...a.line], city: a.city, state: a.state, postalCode: a.postalCode, country: a.country });
}

export function fromAddress(a: Address): PostalAddress {
  return defined({ use: a.use as PostalAddress['use'], line: [...(a.line ?? [])], city: a.city ?? '', state: a.state, postalCode: a.postalCode, country: a.country });
}

export function toContactPoint(c: ContactPoint): FhirContactPoint {
  return defined({ system: c.system, value: c.value, use: c.use });
}

export function fromContactPoint(c: FhirContactPoint): ContactPoint {
  return defined({ system: c.system as ContactPoint['system'], value: c.value ?? '', use: c.use as ContactPoint['use'] });
}

export function toCoding(c: PlanCoding): Coding {
  return defined({ system: c.system, code: c.code, display: c.display });
}

export function fromCoding(c: Coding | undefined): PlanCoding {
  return defined({ system: c?.system ?? '', code: c?.code ?? '', display: c?.display });
}

export function concept(system: string, code: string, display?: string, ...more: Coding[]): CodeableConcept {
  return { coding: [defined({ system, code, display }), ...more] };
}

/** The code a CodeableConcept (or list of them) carries in `system`, if any. */
export function codeIn(cc: CodeableConcept | CodeableConcept[] | undefined, system: string): string | undefined {
  const list = Array.isArray(cc) ? cc : cc ? [cc] : [];
  for (const c of list) {
    const found = c.coding?.find((coding) => coding.system === system);
    if (found?.code !== undefined) {
      return found.code;
    }
  }
  return undefined;
}

export function toOrganization(org: OrganizationRef): Organization {
  return defined({
    resourceType: 'Organization',
    identifier: [toIdentifier(org.identifier)],
    active: true,
    name: org.name,
    telecom: mapOptional(org.telecom, toContactPoint),
  });
}

export function fromOrganization(org: Organization): OrganizationRef {
  return defined({
    identifier: fromIdentifier(org.identifier?.[0] ?? {}),
    name: org.name ?? '',
    telecom: mapOptional(org.telecom, (c) => fromContactPoint(c) as OrganizationContactPoint),
  });
}

export function organizationKey(org: OrganizationRef): string {
  return `Organization|${org.identifier.system}|${org.identifier.value}`;
}

/** Adds minutes to an ISO date-time and writes the result in the same UTC offset. */
export function addMinutes(dateTime: string, minutes: number): string {
  const m = /(?:Z|([+-])(\d{2}):?(\d{2}))$/i.exec(dateTime);
  const offset = m?.[1] ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
  const local = new Date(Date.parse(dateTime) + (minutes + offset) * 60_000).toISOString().slice(0, 19);
  if (!m?.[1]) {
    return `${local}Z`;
  }
  return `${local}${m[1]}${m[2]}:${m[3]}`;
}

/** Whole minutes from one ISO date-time to another. */
export function minutesBetween(start: string, end: string): number {
  return Math.round((Date.parse(end) - Date.parse(start)) / 60_000);
}
