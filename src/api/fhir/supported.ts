// What carebridge's FHIR API supports, in one table: the router registers routes from it and
// GET /fhir/metadata describes exactly it, so the CapabilityStatement never lies.
import { getSearchParameters } from '@medplum/core';

export const RESOURCE_TYPES = [
  'Patient', 'Encounter', 'Condition', 'CarePlan', 'CareTeam', 'Goal', 'Task', 'ServiceRequest',
  'Appointment', 'AppointmentResponse', 'Coverage', 'CoverageEligibilityRequest', 'CoverageEligibilityResponse',
  'Observation', 'Communication', 'MedicationRequest', 'MedicationStatement', 'Practitioner', 'PractitionerRole',
  'RelatedPerson', 'Organization', 'Location', 'HealthcareService', 'Provenance', 'AuditEvent', 'Subscription',
] as const;

export type SupportedType = (typeof RESOURCE_TYPES)[number];

/**
 * Types carebridge serves read-only from its own definitions, not from the store: the subscription
 * topics as Basic resources, in the Subscriptions Backport IG's R4 form (subscription-operations.ts).
 */
export const DEFINITION_TYPES = [{ type: 'Basic', interactions: ['read', 'search-type'] as TypeInteraction[] }] as const;

export type TypeInteraction = 'read' | 'vread' | 'update' | 'delete' | 'history-instance' | 'history-type' | 'create' | 'search-type';
export type SystemInteraction = 'transaction' | 'batch' | 'history-system';

export const TYPE_INTERACTIONS: TypeInteraction[] = ['read', 'vread', 'update', 'delete', 'history-instance', 'history-type', 'create', 'search-type'];
export const SYSTEM_INTERACTIONS: SystemInteraction[] = ['transaction', 'batch', 'history-system'];

/** Operations, each with where it applies (`types`: only on these resource types; else on all). */
export const OPERATIONS: { name: string; definition: string; level: string; types?: readonly string[] }[] = [
  { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate', level: 'type and instance' },
  // GET /fhir/CarePlan/{id}/$transition (api/transitions/router.ts): the CarePlan and everything it references, as the caller may see it.
  { name: 'transition', definition: 'https://carebridge.example/fhir/OperationDefinition/CarePlan-transition', level: 'instance', types: ['CarePlan'] },
  // GET /fhir/CarePlan/{id}/$timeline (api/transitions/timeline.ts): the TCM clock of the transition as Parameters.
  { name: 'timeline', definition: 'https://carebridge.example/fhir/OperationDefinition/CarePlan-timeline', level: 'instance', types: ['CarePlan'] },
  // Subscriptions R5 Backport IG (api/fhir/subscription-operations.ts): the subscriber's own Subscriptions only.
  { name: 'status', definition: 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status', level: 'type and instance', types: ['Subscription'] },
  // The case manager's coverage status and the payer eligibility check (api/fhir/coverage-operations.ts).
  { name: 'coverage-status', definition: 'https://carebridge.example/fhir/OperationDefinition/Patient-coverage-status', level: 'instance', types: ['Patient'] },
  { name: 'check-eligibility', definition: 'https://carebridge.example/fhir/OperationDefinition/Patient-check-eligibility', level: 'instance', types: ['Patient'] },
  { name: 'events', definition: 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-events', level: 'instance', types: ['Subscription'] },
];

/** Operations on the whole system (POST /fhir/$name), registered by router.ts. */
export const SYSTEM_OPERATIONS: { name: string; definition: string }[] = [
  // Da Vinci Unsolicited Notifications: admit and discharge notifications from hospitals (process-message.ts).
  { name: 'process-message', definition: 'http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message' },
];

/** The CapabilityStatements carebridge's API conforms to as well as R4 itself. */
export const INSTANTIATES = [
  // The Da Vinci Notification Receiver: $process-message, JSON, this CapabilityStatement.
  'http://hl7.org/fhir/us/davinci-alerts/CapabilityStatement/notification-receiver',
];

/** Search parameters carebridge does not evaluate (Medplum-only, composite, special). */
const UNSUPPORTED_SEARCH_TYPES = new Set(['composite', 'special']);
const UNSUPPORTED_CODES = new Set(['_compartment', '_project', '_security', '_source', '_text', '_content', '_list', '_has', '_query', '_filter']);

export function isSupportedType(type: string): type is SupportedType {
  return (RESOURCE_TYPES as readonly string[]).includes(type);
}

export interface SupportedSearchParameter {
  name: string;
  type: string;
  definition?: string;
}

const byType = new Map<SupportedType, SupportedSearchParameter[]>();

/** The search parameters of a type that the store evaluates (computed once per type). */
export function searchParametersOf(type: SupportedType): SupportedSearchParameter[] {
  let list = byType.get(type);
  if (!list) {
    const all = getSearchParameters(type) ?? {};
    list = Object.entries(all)
      .filter(([code, sp]) => !UNSUPPORTED_CODES.has(code) && !UNSUPPORTED_SEARCH_TYPES.has(sp.type as string))
      .map(([code, sp]) => ({ name: code, type: sp.type as string, definition: sp.url }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    byType.set(type, list);
  }
  return list;
}

const typesByName = new Map<SupportedType, Map<string, string>>();

/** name → parameter type, for checking every parameter of every search without a scan. */
export function searchParameterType(type: SupportedType, name: string): string | undefined {
  let types = typesByName.get(type);
  if (!types) {
    types = new Map(searchParametersOf(type).map((sp) => [sp.name, sp.type]));
    typesByName.set(type, types);
  }
  return types.get(name);
}
