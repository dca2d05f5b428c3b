// The smallest valid R4 resource of each supported type, about a given patient where the type
// has a Patient compartment: what the authorization matrix creates, reads and updates.
import type { Resource } from '@medplum/fhirtypes';

const NOW = '2026-11-20T10:00:00Z';

export function minimalResource(type: string, patientId: string, extra: { organizationId?: string; appointmentId?: string } = {}): Resource {
  const patient = { reference: `Patient/${patientId}` };
  const org = { reference: `Organization/${extra.organizationId ?? 'unknown'}` };
  const code = { text: 'matrix' };
  const bodies: Record<string, Record<string, unknown>> = {
    Patient: { active: true },
    Encounter: { status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' }, subject: patient },
    Condition: { subject: patient, code },
    CarePlan: { status: 'active', intent: 'plan', subject: patient },
    CareTeam: { status: 'active', subject: patient },
    Goal: { lifecycleStatus: 'active', description: code, subject: patient },
    Task: { status: 'requested', intent: 'order', for: patient },
    ServiceRequest: { status: 'active', intent: 'order', subject: patient },
    Appointment: { status: 'proposed', participant: [{ actor: patient, status: 'accepted' }] },
    AppointmentResponse: { appointment: { reference: `Appointment/${extra.appointmentId ?? 'unknown'}` }, participantStatus: 'accepted', actor: patient },
    Coverage: { status: 'active', beneficiary: patient, payor: [org] },
    CoverageEligibilityRequest: { status: 'active', purpose: ['validation'], patient, created: NOW, insurer: org },
    CoverageEligibilityResponse: { status: 'active', purpose: ['validation'], patient, created: NOW, request: { reference: 'CoverageEligibilityRequest/unknown' }, outcome: 'complete', insurer: org },
    Observation: { status: 'final', code, subject: patient },
    Communication: { status: 'completed', subject: patient },
    MedicationRequest: { status: 'active', intent: 'order', medicationCodeableConcept: code, subject: patient },
    MedicationStatement: { status: 'active', medicationCodeableConcept: code, subject: patient },
    Practitioner: { active: true },
    PractitionerRole: { active: true },
    RelatedPerson: { patient },
    Organization: { active: true },
    Location: { status: 'active' },
    HealthcareService: { active: true, providedBy: org },
    Provenance: { target: [patient], recorded: NOW, agent: [{ who: org }] },
    AuditEvent: {
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
      recorded: NOW,
      agent: [{ requestor: true, who: org }],
      source: { observer: org },
      entity: [{ what: patient }],
    },
    // A subscriber's own: the CarePlan topic (every role reads CarePlans), to a local endpoint.
    Subscription: {
      status: 'requested',
      reason: 'matrix',
      criteria: 'https://carebridge.example/fhir/SubscriptionTopic/transition-careplan',
      channel: {
        type: 'rest-hook',
        endpoint: 'http://127.0.0.1:9/matrix',
        payload: 'application/fhir+json',
        _payload: { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content', valueCode: 'id-only' }] },
      },
    },
  };
  const body = bodies[type];
  if (!body) {
    throw new Error(`No minimal ${type}`);
  }
  return { resourceType: type, ...body } as Resource;
}
