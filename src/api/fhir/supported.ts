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
 * topics as Basic resources, in the Subscriptions Backport IG's R4 form (subscription-operations.ts),
 * and the definitions of its operations.
 */
export const DEFINITION_TYPES = [
  { type: 'Basic', interactions: ['read', 'search-type'] as TypeInteraction[] },
  // carebridge's OperationDefinitions, the canonicals its CapabilityStatement names (operation-definitions.ts).
  { type: 'OperationDefinition', interactions: ['read', 'search-type'] as TypeInteraction[] },
] as const;

export type TypeInteraction = 'read' | 'vread' | 'update' | 'delete' | 'history-instance' | 'history-type' | 'create' | 'search-type';
export type SystemInteraction = 'transaction' | 'batch' | 'history-system';

export const TYPE_INTERACTIONS: TypeInteraction[] = ['read', 'vread', 'update', 'delete', 'history-instance', 'history-type', 'create', 'search-type'];
export const SYSTEM_INTERACTIONS: SystemInteraction[] = ['transaction', 'batch', 'history-system'];

/** How an operation is invoked: "GET Patient/{id}/$coverage-status" (FHIR's own path notation). */
export type OperationRoute = `${'GET' | 'POST'} ${string}`;

export interface SupportedOperation {
  /** The operation's code, without "$". */
  name: string;
  /** Its OperationDefinition's id: GET /fhir/OperationDefinition/{id}, canonical {base}/OperationDefinition/{id}. */
  id: string;
  /** Where it is invoked, the router's routes (a {type} route: on every supported type). */
  routes: readonly OperationRoute[];
  /** The types it applies to (undefined: every supported type); a system operation has none. */
  types?: readonly string[];
  /** The standard definition carebridge implements a subset of (OperationDefinition.base). */
  base?: string;
}

/**
 * carebridge's operations, one row each: the routers register `routes` from here (operationPaths),
 * GET /fhir/metadata lists them with their definitions, and operation-definitions.ts defines each.
 */
export const OPERATIONS = [
  { name: 'validate', id: 'Resource-validate', routes: ['POST {type}/$validate', 'POST {type}/{id}/$validate'], base: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
  // The CarePlan and everything it references, as the caller may see it (api/transitions/router.ts).
  { name: 'transition', id: 'CarePlan-transition', routes: ['GET CarePlan/{id}/$transition'], types: ['CarePlan'] },
  // The TCM clock of the transition as Parameters (api/transitions/timeline.ts).
  { name: 'timeline', id: 'CarePlan-timeline', routes: ['GET CarePlan/{id}/$timeline'], types: ['CarePlan'] },
  // Subscriptions R5 Backport IG (api/fhir/subscription-operations.ts): the subscriber's own Subscriptions only.
  { name: 'status', id: 'Subscription-status', routes: ['GET Subscription/$status', 'GET Subscription/{id}/$status'], types: ['Subscription'], base: 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status' },
  { name: 'events', id: 'Subscription-events', routes: ['GET Subscription/{id}/$events'], types: ['Subscription'], base: 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-events' },
  // The case manager's coverage status and the payer eligibility check (api/fhir/coverage-operations.ts).
  { name: 'coverage-status', id: 'Patient-coverage-status', routes: ['GET Patient/{id}/$coverage-status'], types: ['Patient'] },
  { name: 'check-eligibility', id: 'Patient-check-eligibility', routes: ['POST Patient/{id}/$check-eligibility'], types: ['Patient'] },
  // Da Vinci Unsolicited Notifications: admit and discharge notifications from hospitals (process-message.ts).
  { name: 'process-message', id: 'MessageHeader-process-message', routes: ['POST $process-message'], base: 'http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message' },
] as const satisfies readonly SupportedOperation[];

export type OperationName = (typeof OPERATIONS)[number]['name'];
export type OperationId = (typeof OPERATIONS)[number]['id'];
const operations: readonly SupportedOperation[] = OPERATIONS;

/** Where an operation is invoked: on the system, a type, an instance. */
export function operationLevels(operation: SupportedOperation): { system: boolean; type: boolean; instance: boolean } {
  const paths = operation.routes.map((r) => r.slice(r.indexOf(' ') + 1));
  return { system: paths.some((p) => p.startsWith('$')), type: paths.some((p) => /^[^/]+\/\$/.test(p)), instance: paths.some((p) => /^[^/]+\/\{id\}\/\$/.test(p)) };
}

/** Operations on the whole system (POST /fhir/$name). */
export const SYSTEM_OPERATIONS: readonly SupportedOperation[] = operations.filter((op) => operationLevels(op).system);

/** The operations of a resource type in the CapabilityStatement. */
export function operationsOf(type: string): SupportedOperation[] {
  return operations.filter((op) => !operationLevels(op).system && (op.types === undefined || op.types.includes(type)));
}

/** An operation's definition as this server publishes it (a canonical under its base). */
export function operationDefinitionUrl(baseUrl: string, operation: Pick<SupportedOperation, 'id'>): string {
  return `${baseUrl}/OperationDefinition/${operation.id}`;
}

/** The express paths (under /fhir) of an operation's routes with this method: "{id}" → ":id", "$" escaped. */
export function operationPaths(name: OperationName, method: 'GET' | 'POST'): string[] {
  const operation = operations.find((op) => op.name === name) as SupportedOperation;
  return operation.routes.filter((r) => r.startsWith(`${method} `)).map((r) => `/${r.slice(method.length + 1).replace(/\{(\w+)\}/g, ':$1').replace('$', '\\$')}`);
}

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
