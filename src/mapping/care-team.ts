// The care team: CareTeam with one participant per member. A family caregiver is a RelatedPerson
// of the patient; everyone else is a Practitioner acting for their organization. The member's
// plan-local id travels as the participant's element id.
import type { CareTeam, CareTeamParticipant, CodeableConcept, Organization, Practitioner, RelatedPerson } from '@medplum/fhirtypes';
import type { CareTeamMember, CareTeamRole, FamilyRelationship } from '../model/transition-plan.ts';
import { PROFILES } from '../model/profiles.ts';
import { CARE_TEAM_ROLES, FAMILY_RELATIONSHIPS, PLAN_ITEM_SYSTEM, SYSTEMS } from '../model/terminology.ts';
import { ref } from './bundle-builder.ts';
import type { BundleReader } from './bundle-reader.ts';
import {
  codeIn,
  defined,
  fromContactPoint,
  fromHumanName,
  fromIdentifier,
  fromOrganization,
  mapOptional,
  nameText,
  organizationKey,
  toContactPoint,
  toHumanName,
  toIdentifier,
  toOrganization,
} from './datatypes.ts';
import { planItemIdentifier } from './identifiers.ts';
import type { ToFhirState } from './state.ts';

export function roleConcept(role: CareTeamRole): CodeableConcept {
  const concept = CARE_TEAM_ROLES[role];
  return {
    coding: [{ system: SYSTEMS.careTeamRole, code: role, display: concept.display }, ...(concept.standard ? [{ ...concept.standard }] : [])],
    text: concept.display,
  };
}

function addMember(state: ToFhirState, member: CareTeamMember): string {
  const { builder, key } = state;
  const telecom = mapOptional(member.telecom, toContactPoint);
  if (member.role === 'family-caregiver') {
    const relationship = FAMILY_RELATIONSHIPS[member.relationship as FamilyRelationship];
    const person: RelatedPerson = defined({
      resourceType: 'RelatedPerson',
      identifier: [planItemIdentifier(key, 'member', member.id), ...(member.identifier ? [toIdentifier(member.identifier)] : [])],
      active: true,
      patient: ref(state.patient),
      relationship: [{ coding: [{ system: SYSTEMS.v3RoleCode, code: relationship.code, display: relationship.display }] }],
      name: [toHumanName(member.name)],
      telecom,
    });
    return builder.add(person, 'conditional-update');
  }
  const practitioner = (): Practitioner =>
    defined({
      resourceType: 'Practitioner',
      identifier: [member.identifier ? toIdentifier(member.identifier) : planItemIdentifier(key, 'member', member.id)],
      active: true,
      name: [toHumanName(member.name)],
      telecom,
    });
  // A clinician with a registry identifier (NPI) is one Practitioner across every plan.
  return member.identifier
    ? builder.addShared(`Practitioner|${member.identifier.system}|${member.identifier.value}`, practitioner)
    : builder.add(practitioner(), 'conditional-update');
}

/** Adds every member and the CareTeam; sets state.members. Returns the CareTeam's reference. */
export function addCareTeam(state: ToFhirState): string {
  const { builder, key, plan } = state;
  const participant: CareTeamParticipant[] = plan.careTeam.map((member) => {
    const reference = addMember(state, member);
    state.members.set(member.id, reference);
    const onBehalfOf = member.organization
      ? builder.addShared(organizationKey(member.organization), () => toOrganization(member.organization as NonNullable<CareTeamMember['organization']>))
      : undefined;
    return defined<CareTeamParticipant>({
      id: member.id,
      role: [roleConcept(member.role)],
      member: ref(reference, nameText(member.name)),
      onBehalfOf: onBehalfOf ? ref(onBehalfOf) : undefined,
    });
  });
  const careTeam: CareTeam = {
    resourceType: 'CareTeam',
    meta: { profile: [PROFILES.transitionCareTeam] },
    identifier: [planItemIdentifier(key, 'care-team', 'main')],
    status: 'active',
    name: 'Transition care team',
    subject: ref(state.patient),
    encounter: ref(state.encounter),
    participant,
    managingOrganization: [ref(state.hospital)],
  };
  return builder.add(careTeam, 'conditional-update');
}

/** Members of the CareTeam, and the member id of each person resource (for other mappers). */
export function fromCareTeam(careTeam: CareTeam, reader: BundleReader): { members: CareTeamMember[]; memberIds: Map<object, string> } {
  const memberIds = new Map<object, string>();
  const members = (careTeam.participant ?? []).map((p, i): CareTeamMember => {
    const path = `CareTeam.participant[${i}]`;
    const role = (codeIn(p.role, SYSTEMS.careTeamRole) ?? 'care-coordinator') as CareTeamRole;
    const person = reader.requireOneOf<Practitioner | RelatedPerson>(p.member, ['Practitioner', 'RelatedPerson'], `${path}.member`);
    const id = p.id ?? `member-${i + 1}`;
    memberIds.set(person, id);
    const identifier = person.identifier?.find((x) => x.system !== PLAN_ITEM_SYSTEM);
    const organization = reader.resolve<Organization>(p.onBehalfOf, 'Organization');
    const relationship = person.resourceType === 'RelatedPerson' ? relationshipOf(person) : undefined;
    return defined<CareTeamMember>({
      id,
      role,
      name: fromHumanName(person.name?.[0]),
      identifier: identifier ? fromIdentifier(identifier) : undefined,
      organization: organization ? fromOrganization(organization) : undefined,
      telecom: mapOptional(person.telecom, fromContactPoint),
      relationship,
    });
  });
  return { members, memberIds };
}

function relationshipOf(person: RelatedPerson): FamilyRelationship | undefined {
  const code = codeIn(person.relationship, SYSTEMS.v3RoleCode);
  const found = Object.entries(FAMILY_RELATIONSHIPS).find(([, r]) => r.code === code);
  return found ? (found[0] as FamilyRelationship) : undefined;
}
