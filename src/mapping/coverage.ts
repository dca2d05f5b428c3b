// Coverage as the case manager reads it: payer, plan, member id, subscriber and relationship,
// period, and its order (1 = primary). The type carries the PHIN Source of Payment Typology code
// US Core uses, next to carebridge's finer kind (Part A vs Part B, waiver vs plain Medicaid).
import type { Coverage, Organization } from '@medplum/fhirtypes';
import type { CoverageInfo, CoverageKind, SubscriberRelationship } from '../model/transition-plan.ts';
import { PROFILES } from '../model/profiles.ts';
import { COVERAGE_KINDS, STANDARD_CODES, SYSTEMS } from '../model/terminology.ts';
import { ref } from './bundle-builder.ts';
import type { BundleReader } from './bundle-reader.ts';
import { codeIn, defined, fromOrganization, organizationKey, toOrganization } from './datatypes.ts';
import { planItemIdentifier, readPlanItem } from './identifiers.ts';
import type { ToFhirState } from './state.ts';

export function addCoverage(state: ToFhirState): void {
  for (const coverage of state.plan.coverage ?? []) {
    const kind = COVERAGE_KINDS[coverage.kind];
    const payer = state.builder.addShared(organizationKey(coverage.payer), () => toOrganization(coverage.payer));
    const resource: Coverage = defined({
      resourceType: 'Coverage',
      meta: { profile: [PROFILES.transitionCoverage] },
      identifier: [planItemIdentifier(state.key, 'coverage', coverage.id), { type: { coding: [{ ...STANDARD_CODES.memberNumber }] }, value: coverage.memberId }],
      status: 'active',
      type: { coding: [...(kind.standard ? [{ ...kind.standard }] : []), { system: SYSTEMS.coverageKind, code: coverage.kind, display: kind.display }], text: kind.display },
      subscriber: coverage.relationship === 'self' ? ref(state.patient) : undefined,
      subscriberId: coverage.subscriberId,
      beneficiary: ref(state.patient),
      relationship: { coding: [{ system: SYSTEMS.subscriberRelationship, code: coverage.relationship }] },
      period: defined({ start: coverage.period.start, end: coverage.period.end }),
      payor: [ref(payer, coverage.payer.name)],
      class: [{ type: { coding: [{ ...STANDARD_CODES.planClass }] }, value: coverage.planName, name: coverage.planName }],
      order: coverage.order,
    });
    state.builder.add(resource, 'conditional-update');
  }
}

export function fromCoverage(coverage: Coverage, reader: BundleReader): CoverageInfo {
  const payer = reader.require<Organization>(coverage.payor[0], 'Organization', 'Coverage.payor[0]');
  const memberId = coverage.identifier?.find((id) => codeIn(id.type, SYSTEMS.v2IdentifierType) === 'MB')?.value;
  return defined<CoverageInfo>({
    id: readPlanItem(coverage.identifier)?.localId ?? coverage.id ?? '',
    kind: (codeIn(coverage.type, SYSTEMS.coverageKind) ?? 'commercial') as CoverageKind,
    payer: fromOrganization(payer),
    planName: coverage.class?.find((c) => codeIn(c.type, SYSTEMS.coverageClass) === 'plan')?.name ?? '',
    memberId: memberId ?? coverage.subscriberId ?? '',
    subscriberId: coverage.subscriberId,
    relationship: (codeIn(coverage.relationship, SYSTEMS.subscriberRelationship) ?? 'self') as SubscriberRelationship,
    period: defined({ start: coverage.period?.start ?? '', end: coverage.period?.end }),
    order: coverage.order,
  });
}
