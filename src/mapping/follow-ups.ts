// Follow-up visits: Appointment (booked) with the patient, the clinician and, for a visit that is
// not at home, a Location.
import type { Appointment, AppointmentParticipant, Location } from '@medplum/fhirtypes';
import type { FollowUp, FollowUpKind } from '../model/transition-plan.ts';
import { PROFILES } from '../model/profiles.ts';
import { FOLLOW_UP_KINDS, STANDARD_CODES, SYSTEMS } from '../model/terminology.ts';
import { ref } from './bundle-builder.ts';
import type { BundleReader } from './bundle-reader.ts';
import { addMinutes, codeIn, defined, fromAddress, minutesBetween, toAddress } from './datatypes.ts';
import { planItemIdentifier, readPlanItem } from './identifiers.ts';
import type { ToFhirState } from './state.ts';

export function addFollowUps(state: ToFhirState): void {
  for (const followUp of state.plan.followUps ?? []) {
    const kind = FOLLOW_UP_KINDS[followUp.kind];
    const participant: AppointmentParticipant[] = [
      { actor: ref(state.patient), required: 'required', status: 'accepted' },
      { actor: ref(state.members.get(followUp.with) as string), required: 'required', status: 'accepted' },
    ];
    if (followUp.location) {
      const location: Location = defined({
        resourceType: 'Location',
        identifier: [planItemIdentifier(state.key, 'location', followUp.id)],
        status: 'active',
        name: followUp.location.name,
        address: followUp.location.address ? toAddress(followUp.location.address) : undefined,
      });
      participant.push({ actor: ref(state.builder.add(location, 'conditional-update')), required: 'required', status: 'accepted' });
    }
    const appointment: Appointment = defined({
      resourceType: 'Appointment',
      meta: { profile: [PROFILES.followUpAppointment] },
      identifier: [planItemIdentifier(state.key, 'follow-up', followUp.id)],
      status: 'booked',
      serviceType: [{ coding: [{ system: SYSTEMS.followUpKind, code: followUp.kind, display: kind.display }, { ...STANDARD_CODES.followUpEncounter }], text: kind.display }],
      appointmentType: { coding: [{ ...STANDARD_CODES.followUpReason }] },
      reasonReference: state.conditions.slice(0, 1).map((c) => ref(c)),
      description: followUp.description,
      start: followUp.start,
      end: addMinutes(followUp.start, followUp.minutesDuration),
      minutesDuration: followUp.minutesDuration,
      created: state.plan.created,
      participant,
    });
    state.activities.push(state.builder.add(appointment, 'conditional-update'));
  }
}

export function fromAppointment(appointment: Appointment, reader: BundleReader, memberIds: Map<object, string>): FollowUp {
  let withId = '';
  let location: Location | undefined;
  for (const p of appointment.participant ?? []) {
    const actor = reader.lookup(p.actor);
    if (actor?.resourceType === 'Location') {
      location = actor;
    } else if (actor && memberIds.has(actor)) {
      withId = memberIds.get(actor) as string;
    }
  }
  const start = appointment.start ?? '';
  return defined<FollowUp>({
    id: readPlanItem(appointment.identifier)?.localId ?? appointment.id ?? '',
    kind: (codeIn(appointment.serviceType, SYSTEMS.followUpKind) ?? 'primary-care') as FollowUpKind,
    description: appointment.description,
    with: withId,
    location: location ? defined({ name: location.name ?? '', address: location.address ? fromAddress(location.address) : undefined }) : undefined,
    start,
    minutesDuration: appointment.minutesDuration ?? (appointment.end ? minutesBetween(start, appointment.end) : 0),
  });
}
