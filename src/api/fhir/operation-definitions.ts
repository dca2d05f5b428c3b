// The OperationDefinitions of carebridge's operations, one per row of supported.ts's OPERATIONS,
// served at GET /fhir/OperationDefinition/{id} with a canonical under the server's base: what
// GET /fhir/metadata names. An operation carebridge implements only in part (a standard one:
// $validate, $process-message, the Subscriptions Backport IG's $status and $events) has its own
// definition with `base` naming the standard one, as R4 asks of a server that supports a subset.
import { OperationOutcomeError, notFound } from '@medplum/core';
import type { Bundle, OperationDefinition, OperationDefinitionParameter } from '@medplum/fhirtypes';
import type { FhirRequest, FhirResponse } from './request.ts';
import type { OperationId, SupportedOperation } from './supported.ts';
import { OPERATIONS, RESOURCE_TYPES, operationDefinitionUrl, operationLevels } from './supported.ts';

type Parameter = OperationDefinitionParameter;

const sd = (type: string): string => `http://hl7.org/fhir/StructureDefinition/${type}`;
const out = (name: string, type: string, min: number, max: string, documentation: string, targets?: string[]): Parameter => ({ name, use: 'out', min, max, type, documentation, ...(targets ? { targetProfile: targets.map(sd) } : {}) });
const inp = (name: string, type: string, min: number, max: string, documentation: string): Parameter => ({ name, use: 'in', min, max, type, documentation });
const part = (name: string, min: number, max: string, documentation: string, parts: Parameter[]): Parameter => ({ name, use: 'out', min, max, documentation, part: parts });

/** What each definition says beyond what the OPERATIONS row says (code, levels, types, base). */
const CONTENT: Record<OperationId, { name: string; title: string; description: string; affectsState: boolean; comment?: string; parameter: Parameter[] }> = {
  'Resource-validate': {
    name: 'Validate',
    title: 'Validate a resource against base R4 and the carebridge profile it claims',
    description: 'Checks a resource as a create or update would (base R4, the profile in meta.profile, carebridge\'s rules) and writes nothing.',
    affectsState: false,
    comment: 'POST only. The body is the resource, or Parameters with a "resource" parameter; the base operation\'s mode and profile parameters are not supported.',
    parameter: [inp('resource', 'Resource', 0, '1', 'The resource to check (else the body itself)'), out('return', 'OperationOutcome', 1, '1', 'Every issue found; none with severity error when the resource is valid')],
  },
  'CarePlan-transition': {
    name: 'CarePlanTransition',
    title: 'A transition of care with everything it references',
    description: 'The transition CarePlan and what it references, followed through (CareTeam and members, Goals, Conditions, Encounter, Patient, activities, the referral Tasks based on it, the plan\'s Coverage, Organizations), only what the caller may see.',
    affectsState: false,
    parameter: [out('return', 'Bundle', 1, '1', 'A searchset Bundle: the CarePlan (search.mode match), then the rest (include)')],
  },
  'CarePlan-timeline': {
    name: 'CarePlanTimeline',
    title: 'The transitional-care (TCM) clock of a transition',
    description: 'Each TCM deadline of the transition (interactive contact, face-to-face visit, medication reconciliation, end of the 30-day period): its due time, its state at the time of the call, when and by what evidence it was met, and the readmission, if any. The same as GET /transitions/{id}/timeline.',
    affectsState: false,
    parameter: [
      out('carePlan', 'Reference', 1, '1', 'The transition', ['CarePlan']),
      out('now', 'instant', 1, '1', 'The instant the clock was read at'),
      out('dischargedAt', 'dateTime', 0, '1', 'The discharge the deadlines run from'),
      part('deadline', 0, '*', 'One TCM deadline', [
        out('code', 'Coding', 1, '1', 'The deadline (CodeSystem tcm-deadline)'),
        out('task', 'Reference', 1, '1', 'The deadline Task', ['Task']),
        out('due', 'dateTime', 1, '1', 'The last second of the due day, in the hospital\'s time zone'),
        out('state', 'code', 1, '1', 'open | met | met-late | overdue | ended'),
        out('metAt', 'dateTime', 0, '1', 'When the evidence met it'),
        out('evidence', 'Reference', 0, '*', 'The Communication, Task or Appointment that met it (or the two unsuccessful attempts)', ['Communication', 'Task', 'Appointment']),
      ]),
      part('readmission', 0, '1', 'The first admission within the 30 days after the discharge', [
        out('encounter', 'Reference', 1, '1', 'The admission', ['Encounter']),
        out('admittedOn', 'date', 1, '1', 'The day of the admission'),
        out('daysAfterDischarge', 'unsignedInt', 1, '1', 'Days from the discharge day (0 to 29)'),
      ]),
    ],
  },
  'Subscription-status': {
    name: 'SubscriptionStatus',
    title: 'The status of the caller\'s Subscriptions (Subscriptions R5 Backport IG)',
    description: 'SubscriptionStatus Parameters (type query-status) of one Subscription, or of the caller\'s own Subscriptions filtered by id and status.',
    affectsState: false,
    comment: 'GET only; another tenant\'s Subscription does not exist for the caller.',
    parameter: [
      inp('id', 'id', 0, '*', 'Type level: the Subscriptions asked about (comma-separated or repeated)'),
      inp('status', 'code', 0, '*', 'Type level: only Subscriptions with these statuses'),
      out('return', 'Bundle', 1, '1', 'A searchset Bundle of SubscriptionStatus Parameters'),
    ],
  },
  'Subscription-events': {
    name: 'SubscriptionEvents',
    title: 'Events of a Subscription served again (Subscriptions R5 Backport IG)',
    description: 'The stored events of one of the caller\'s Subscriptions by event number, with their resources as they are now and as the caller may see them: how a subscriber fills a gap it detected.',
    affectsState: false,
    comment: 'At most 100 events a call; ask again from the next number.',
    parameter: [
      inp('eventsSinceNumber', 'string', 0, '1', 'The first event number (1 or more; default 1)'),
      inp('eventsUntilNumber', 'string', 0, '1', 'The last event number (default the latest)'),
      inp('content', 'code', 0, '1', 'empty | id-only | full-resource (default: the Subscription\'s)'),
      out('return', 'Bundle', 1, '1', 'A history Bundle whose first entry is SubscriptionStatus Parameters of type query-event'),
    ],
  },
  'Patient-coverage-status': {
    name: 'PatientCoverageStatus',
    title: 'Is the patient covered for the transition? (case managers)',
    description: 'Whether the patient is covered on the discharge date and through the 30-day window, by which payer and plan, whether that coverage is primary, covers home health and needs a prior authorization, and what is missing: one finding per line, read from the Coverages and the freshest CoverageEligibilityResponse the caller may see.',
    affectsState: false,
    parameter: [
      inp('carePlan', 'string', 0, '1', 'The id of one of the patient\'s transition CarePlans (default: the latest discharge)'),
      out('patient', 'Reference', 1, '1', 'The patient', ['Patient']),
      out('transition', 'Reference', 0, '1', 'The transition whose discharge was used', ['CarePlan']),
      out('discharge-date', 'date', 0, '1', 'The discharge day'),
      out('window', 'Period', 1, '1', 'The discharge day through day + 29'),
      out('covered-on-discharge', 'boolean', 1, '1', 'An active Coverage includes the discharge day'),
      out('covered-through-window', 'boolean', 1, '1', 'Active Coverages together cover every day of the window'),
      out('coverage', 'Reference', 0, '1', 'The primary Coverage', ['Coverage']),
      out('payer', 'Reference', 0, '1', 'Its payer', ['Organization']),
      out('plan', 'string', 0, '1', 'Its plan'),
      out('member-id', 'string', 0, '1', 'Its member id (identifier type MB, else subscriberId)'),
      out('primary', 'boolean', 0, '1', 'Its order makes it primary'),
      out('home-health-covered', 'boolean', 0, '1', 'The eligibility response covers home health (X12 service type 42 or 44)'),
      out('prior-authorization-required', 'boolean', 0, '1', 'Home health needs a prior authorization'),
      out('prior-authorization', 'string', 0, '1', 'The prior authorization on file'),
      out('eligibility', 'Reference', 0, '1', 'The freshest eligibility response about the primary coverage', ['CoverageEligibilityResponse']),
      out('eligibility-age', 'Duration', 0, '1', 'Its age in days'),
      part('finding', 0, '*', 'One finding per line', [
        out('code', 'code', 1, '1', 'What was found (covered-on-discharge, period-ends-in-window, member-id-missing, …)'),
        out('severity', 'code', 1, '1', 'information | warning | error'),
        out('text', 'string', 1, '1', 'The finding in words'),
        out('coverage', 'Reference', 0, '1', 'The Coverage it is about', ['Coverage']),
      ]),
    ],
  },
  'Patient-check-eligibility': {
    name: 'PatientCheckEligibility',
    title: 'Ask the payer whether the patient\'s coverage is in force and covers home health',
    description: 'Sends a CoverageEligibilityRequest (purpose validation and benefits, X12 service type 42) about the primary or named Coverage to the payer peer, stores the request and the answer (with a Provenance naming the payer) and returns the stored answer.',
    affectsState: true,
    comment: 'No payer peer for the Coverage: 422; the payer did not answer in time: 504; any other payer failure: 502 (nothing stored).',
    parameter: [inp('coverage', 'string', 0, '1', 'The id of the Coverage to check (default: the primary one)'), out('return', 'CoverageEligibilityResponse', 1, '1', 'The payer\'s answer as stored')],
  },
  'MessageHeader-process-message': {
    name: 'ProcessMessage',
    title: 'Receive an admit or discharge notification (Da Vinci Unsolicited Notifications)',
    description: 'A hospital\'s notification-admit or notification-discharge message Bundle, processed synchronously in one transaction: the Patient, the Organization and the Encounter recorded, a discharge opening (or updating) the stay\'s transition and its TCM deadlines, an admission within 30 days of a discharge flagged as a readmission.',
    affectsState: true,
    comment: 'Synchronous only: the base operation\'s async and response-url parameters are not supported, and no response message is returned; the answer is 200 with an informational OperationOutcome saying what was done.',
    parameter: [inp('content', 'Bundle', 1, '1', 'The message Bundle (type message, a MessageHeader first)'), out('return', 'OperationOutcome', 1, '1', 'What carebridge did with the message')],
  },
};

/** The OperationDefinition of one of carebridge's operations, its canonical under `baseUrl`. */
export function operationDefinition(baseUrl: string, operation: SupportedOperation): OperationDefinition {
  const content = CONTENT[operation.id as OperationId];
  const levels = operationLevels(operation);
  const types = levels.type || levels.instance ? (operation.types ?? RESOURCE_TYPES) : [];
  return {
    resourceType: 'OperationDefinition',
    id: operation.id,
    url: operationDefinitionUrl(baseUrl, operation),
    name: content.name,
    title: content.title,
    status: 'active',
    kind: 'operation',
    publisher: 'carebridge',
    description: content.description,
    affectsState: content.affectsState,
    code: operation.name,
    comment: `${content.comment ? `${content.comment} ` : ''}Invoked as ${operation.routes.map((r) => r.replace(' ', ' [base]/')).join(', ')}.`,
    ...(operation.base ? { base: operation.base } : {}),
    ...(types.length > 0 ? { resource: [...types] as OperationDefinition['resource'] } : {}),
    system: levels.system,
    type: levels.type,
    instance: levels.instance,
    parameter: content.parameter,
  };
}

/** Every definition, in the table's order. */
export function operationDefinitions(baseUrl: string): OperationDefinition[] {
  return OPERATIONS.map((op) => operationDefinition(baseUrl, op));
}

/** GET OperationDefinition/{id}. */
export function operationDefinitionRead(request: FhirRequest, id: string): FhirResponse {
  const operation = OPERATIONS.find((op) => op.id === id);
  if (!operation) {
    throw new OperationOutcomeError(notFound);
  }
  return { status: 200, body: operationDefinition(request.baseUrl, operation), headers: {} };
}

/** GET OperationDefinition[?url=|code=]: carebridge's definitions (its only OperationDefinitions), by canonical or code. */
export function operationDefinitionSearch(request: FhirRequest): FhirResponse {
  const wanted = (name: string): string[] => request.query.filter(([k]) => k === name).flatMap(([, v]) => v.split(','));
  const [urls, codes] = [wanted('url'), wanted('code')];
  const found = operationDefinitions(request.baseUrl).filter((d) => (urls.length === 0 || urls.includes(d.url as string)) && (codes.length === 0 || codes.includes(d.code)));
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    total: found.length,
    entry: found.map((resource) => ({ fullUrl: resource.url, resource, search: { mode: 'match' } })),
  };
  return { status: 200, body: bundle, headers: {} };
}
