// Writeback for EHRs that take news as a message rather than as their resources changed: each
// change (an agency accepted or declined a referral, a visit was done, a reading reported) becomes
// one Communication about the resource, created once (If-None-Exist on the delivery's event id,
// so a retry never makes a second one), pointing at the EHR's own patient and resource where the
// EHR is where they came from.
import type { Appointment, Communication, Identifier, Observation, Patient, Reference, Resource, Task } from '@medplum/fhirtypes';
import type { StoredVersion } from '../../store/fhir-store.ts';
import type { Delivery } from '../../store/outbox.ts';
import type { PeerClient } from '../connectors/peer-client.ts';
import { PeerError } from '../connectors/peer-client.ts';
import { carebridgeIdentifier } from '../identity.ts';
import { peerIdOf } from '../origin-identifier.ts';
import type { Deliverer } from './deliverer.ts';
import { EVENT_ID_HEADER } from './deliverer.ts';
import type { DeliveryReader } from './push-bundle.ts';

/** The system of the Communication's identifier: the delivery's event id. */
export const EVENT_SYSTEM = 'urn:carebridge:event';

function quantity(observation: Observation): string {
  const q = observation.valueQuantity;
  if (q?.value !== undefined) {
    return `${q.value}${q.unit ? ` ${q.unit}` : ''}`;
  }
  return observation.valueString ?? observation.valueCodeableConcept?.text ?? observation.valueCodeableConcept?.coding?.[0]?.display ?? '';
}

/** One line saying what happened, for the person reading the EHR's inbox. */
export function changeSummary(resource: Resource | undefined, resourceType: string): string {
  if (!resource) {
    return `${resourceType} withdrawn`;
  }
  switch (resource.resourceType) {
    case 'Task': {
      const task = resource as Task;
      const what = task.intent === 'order' ? 'Referral' : (task.description ?? task.code?.text ?? 'Task');
      const reason = task.statusReason?.text ?? task.statusReason?.coding?.[0]?.display;
      return `${what}: ${task.status}${reason ? ` (${reason})` : ''}${task.owner?.display ? ` — ${task.owner.display}` : ''}`;
    }
    case 'Observation': {
      const observation = resource as Observation;
      const name = observation.code.text ?? observation.code.coding?.[0]?.display ?? 'Observation';
      return `${name}: ${quantity(observation)}${observation.effectiveDateTime ? ` at ${observation.effectiveDateTime}` : ''}`.trim();
    }
    case 'Appointment': {
      const appointment = resource as Appointment;
      return `Appointment ${appointment.status}${appointment.start ? ` (${appointment.start})` : ''}${appointment.description ? `: ${appointment.description}` : ''}`;
    }
    default:
      return `${resource.resourceType} ${(resource as { status?: string }).status ?? 'updated'}`;
  }
}

export class CommunicationWriteback implements Deliverer {
  private readonly client: PeerClient;
  private readonly reader: DeliveryReader;

  constructor(client: PeerClient, reader: DeliveryReader) {
    this.client = client;
    this.reader = reader;
  }

  /** The EHR's own resource when it came from there; otherwise carebridge's identifier (and the resource's own, for a Patient's MRN). */
  private referenceTo(resource: Resource | undefined, resourceType: string, id: string): Reference {
    const theirs = resource ? peerIdOf(resource, this.client.peer.fhirBaseUrl as string) : undefined;
    if (theirs) {
      return { reference: `${resourceType}/${theirs}` };
    }
    const own = (resource as { identifier?: Identifier[] } | undefined)?.identifier?.find((i) => i.system && i.value && resourceType === 'Patient');
    return { type: resourceType as Reference['type'], identifier: own ?? carebridgeIdentifier(resourceType, id) };
  }

  async deliver(delivery: Delivery, current: StoredVersion | undefined): Promise<{ sentVersionId: string }> {
    const resource = current && !current.deleted ? current.resource : undefined;
    const patient = delivery.patientId ? ((await this.reader()('Patient', delivery.patientId)) as Patient | undefined) : undefined;
    const communication: Communication = {
      resourceType: 'Communication',
      identifier: [{ system: EVENT_SYSTEM, value: delivery.eventId }],
      status: 'completed',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/communication-category', code: 'notification' }], text: 'Care transition update' }],
      ...(patient ? { subject: this.referenceTo(patient, 'Patient', delivery.patientId) as Reference<Patient> } : {}),
      about: [this.referenceTo(resource, delivery.resourceType, delivery.resourceId)],
      sent: new Date().toISOString(),
      payload: [{ contentString: changeSummary(resource, delivery.resourceType) }],
    };
    const answer = await this.client.request('POST', {
      path: 'Communication',
      body: communication,
      headers: { [EVENT_ID_HEADER]: delivery.eventId, 'if-none-exist': `identifier=${EVENT_SYSTEM}|${delivery.eventId}` },
    });
    if ((answer.body as Resource | undefined)?.resourceType !== undefined && (answer.body as Resource).resourceType !== 'Communication') {
      throw new PeerError(`peer ${this.client.peer.name} answered with a ${(answer.body as Resource).resourceType}, not the Communication it was sent`, 'retry', { status: answer.status });
    }
    return { sentVersionId: current?.versionId ?? delivery.versionId };
  }
}
