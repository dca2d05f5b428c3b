// The referral to a home-care agency, as the Gravity SDOH referral pattern has it: a ServiceRequest
// (what is asked for, from when) and a Task (intent "order", code "fulfill") that the agency
// owns and answers. A plan may refer several agencies at once: one pair per agency.
import type { Organization, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { AgencyReferral, HomeHealthService } from '../model/transition-plan.ts';
import { PROFILES } from '../model/profiles.ts';
import { HOME_HEALTH_SERVICES, STANDARD_CODES, SYSTEMS } from '../model/terminology.ts';
import { ref } from './bundle-builder.ts';
import type { BundleReader } from './bundle-reader.ts';
import { defined, fromOrganization, organizationKey, toOrganization } from './datatypes.ts';
import { planItemIdentifier, readPlanItem } from './identifiers.ts';
import type { ToFhirState } from './state.ts';

export function addReferrals(state: ToFhirState, carePlan: string): void {
  for (const referral of state.plan.referrals ?? []) {
    const agency = state.builder.addShared(organizationKey(referral.agency), () => toOrganization(referral.agency));
    const request: ServiceRequest = defined({
      resourceType: 'ServiceRequest',
      meta: { profile: [PROFILES.referralRequest] },
      identifier: [planItemIdentifier(state.key, 'referral', referral.id)],
      basedOn: [ref(carePlan)],
      status: 'active',
      intent: 'order',
      code: { coding: [{ ...STANDARD_CODES.referralToHomeHealth }] },
      orderDetail: referral.services.map((service) => {
        const concept = HOME_HEALTH_SERVICES[service];
        return { coding: [{ system: SYSTEMS.homeHealthService, code: service, display: concept.display }, ...(concept.standard ? [{ ...concept.standard }] : [])], text: concept.display };
      }),
      subject: ref(state.patient),
      encounter: ref(state.encounter),
      occurrencePeriod: { start: referral.requestedStartOfCare },
      authoredOn: state.plan.created,
      requester: ref(state.members.get(state.plan.author) as string),
      performer: [ref(agency, referral.agency.name)],
      reasonReference: state.conditions.map((c) => ref(c)),
      note: referral.note === undefined ? undefined : [{ text: referral.note }],
    });
    const requestRef = state.builder.add(request, 'conditional-update');
    state.activities.push(requestRef);
    const task: Task = {
      resourceType: 'Task',
      meta: { profile: [PROFILES.referralTask] },
      identifier: [planItemIdentifier(state.key, 'referral-task', referral.id)],
      basedOn: [ref(carePlan)],
      status: 'requested',
      intent: 'order',
      code: { coding: [{ ...STANDARD_CODES.fulfill }] },
      focus: ref(requestRef),
      for: ref(state.patient),
      encounter: ref(state.encounter),
      authoredOn: state.plan.created,
      requester: ref(state.hospital),
      owner: ref(agency, referral.agency.name),
    };
    state.builder.add(task, 'conditional-update');
  }
}

export function fromServiceRequest(request: ServiceRequest, reader: BundleReader): AgencyReferral {
  const agency = reader.require<Organization>(request.performer?.[0], 'Organization', 'ServiceRequest.performer[0]');
  const services = (request.orderDetail ?? [])
    .map((cc) => cc.coding?.find((c) => c.system === SYSTEMS.homeHealthService)?.code)
    .filter((code): code is HomeHealthService => code !== undefined && code in HOME_HEALTH_SERVICES);
  return defined<AgencyReferral>({
    id: readPlanItem(request.identifier)?.localId ?? request.id ?? '',
    agency: fromOrganization(agency),
    services,
    requestedStartOfCare: request.occurrencePeriod?.start ?? request.occurrenceDateTime ?? '',
    note: request.note?.[0]?.text,
  });
}
