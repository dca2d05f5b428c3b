// The JSON bodies of carebridge's non-FHIR HTTP API as JSON Schema 2020-12 (OpenAPI 3.1 components).
// Enumerations come from the code's own tables; each `satisfies Record<T, true>` below fails the
// type check when a value is added to T and not here. test/api/openapi/openapi.test.ts validates
// real answers against these schemas with every object closed, so a field the code adds and the
// document leaves out fails there.
import type { CheckName } from '../../observability/readiness.ts';
import type { OAuthErrorCode } from '../../auth/token-request.ts';
import type { FhirStore } from '../../store/fhir-store.ts';
import type { DeliveryState } from '../../store/outbox.ts';
import type { Criterion } from '../../workflow/agency-matching.ts';
import type { DeadlineState } from '../../workflow/tcm-evidence.ts';
import type { ReportBack } from '../transitions/state.ts';
import { HOME_HEALTH_SERVICES } from '../../model/terminology.ts';
import { DEADLINE_KINDS } from '../../workflow/tcm-clock.ts';
import type { Schema } from './plan-components.ts';
import { PLAN_COMPONENT } from './plan-components.ts';

export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const text = (description?: string): Schema => ({ type: 'string', ...(description ? { description } : {}) });
const int = (description?: string): Schema => ({ type: 'integer', ...(description ? { description } : {}) });
const nullable = (schema: Schema): Schema => ({ anyOf: [schema, { type: 'null' }] });
const list = (items: Schema, description?: string): Schema => ({ type: 'array', items, ...(description ? { description } : {}) });
const object = (required: string[], properties: Record<string, Schema>, description?: string): Schema => ({
  type: 'object',
  ...(description ? { description } : {}),
  ...(required.length > 0 ? { required } : {}),
  properties,
});
const oneOfValues = (values: Record<string, true>, description?: string): Schema => ({ type: 'string', enum: Object.keys(values), ...(description ? { description } : {}) });
const reference = (type: string, description?: string): Schema => ({ type: 'string', pattern: `^${type}/[A-Za-z0-9\\-.]{1,64}$`, ...(description ? { description } : {}) });

export const DELIVERY_STATES = { pending: true, delivered: true, superseded: true, dead: true } satisfies Record<DeliveryState, true>;
const DEADLINE_STATES = { open: true, met: true, 'met-late': true, overdue: true, ended: true } satisfies Record<DeadlineState, true>;
const CRITERIA = { service: true, 'service-area': true, payer: true, capacity: true } satisfies Record<Criterion, true>;
const OAUTH_ERRORS = { invalid_request: true, invalid_client: true, invalid_grant: true, unauthorized_client: true, unsupported_grant_type: true, invalid_scope: true } satisfies Record<OAuthErrorCode, true>;
const READINESS_CHECKS = { shutdown: true, store: true, migrations: true, definitions: true } satisfies Record<CheckName, true>;
const STORE_KINDS = { sqlite: true, postgres: true } satisfies Record<FhirStore['kind'], true>;
const REPORT_BACK_KINDS = { observation: true, communication: true, referral: true } satisfies Record<ReportBack['kind'], true>;
export const HOME_HEALTH_SERVICE_CODES = Object.keys(HOME_HEALTH_SERVICES);

const identifier: Schema = object([], { system: text(), value: text() });
const fhirResource = (type?: string, description?: string): Schema => ({
  type: 'object',
  description: description ?? 'A FHIR R4 resource (see /fhir/metadata).',
  required: ['resourceType'],
  properties: { resourceType: type ? { const: type } : text() },
  additionalProperties: true,
});

/** Every component but the plan's (plan-components.ts). */
export function apiSchemas(): Record<string, Schema> {
  return {
    OperationOutcome: object(
      ['resourceType', 'issue'],
      {
        resourceType: { const: 'OperationOutcome' },
        id: text(),
        issue: list(
          object(['severity', 'code'], {
            severity: { enum: ['fatal', 'error', 'warning', 'information'] },
            code: text('FHIR issue type (invalid, required, forbidden, not-found, conflict, …)'),
            details: object([], { text: text(), coding: list({ type: 'object', additionalProperties: true }) }),
            diagnostics: text(),
            location: list(text(), 'JSON pointers into the request body'),
            expression: list(text(), 'FHIRPath-style paths'),
          }),
        ),
      },
      'Every error carebridge answers (but the token endpoint\'s, which are OAuth JSON): each problem at once, as a FHIR OperationOutcome.',
    ),
    FhirBundle: fhirResource('Bundle', 'A FHIR R4 Bundle.'),
    AgencyRef: object([], { identifier, display: text() }, 'A home-care agency, by its Organization identifier (NPI) and name.'),
    Reference: object([], { reference: text(), display: text(), identifier }, 'A FHIR Reference.'),
    Readmission: object(['encounter', 'admittedOn', 'daysAfterDischarge'], {
      encounter: reference('Encounter'),
      admittedOn: { type: 'string', format: 'date', description: 'The admission day as the sender wrote it (its own time zone).' },
      daysAfterDischarge: { type: 'integer', minimum: 0, maximum: 29 },
    }),
    PushAnswer: object(['id', 'carePlan', 'referrals', 'transactionResponse'], {
      id: text('The transition: the CarePlan id.'),
      carePlan: reference('CarePlan'),
      referrals: list(object(['task', 'agency', 'status'], { task: reference('Task'), agency: ref('AgencyRef'), status: text('The referral Task status.') })),
      transactionResponse: ref('FhirBundle'),
    }),
    TransitionState: object(['id', 'carePlan', 'status', 'referrals', 'acceptedBy', 'appointments', 'caregiverTasks', 'lastReportBack', 'readmission'], {
      id: text(),
      carePlan: reference('CarePlan'),
      versionId: text(),
      lastUpdated: { type: 'string', format: 'date-time' },
      plan: { ...ref(PLAN_COMPONENT), description: 'The plan as sent, read back from what the caller may see (an agency: with its own referral only).' },
      planProblem: text('Why there is no `plan` (a discharge notification opened the transition; a plan edited through /fhir no longer reads as one).'),
      status: text('The CarePlan status.'),
      referrals: list(
        object(['task', 'agency', 'status'], {
          id: text('The plan-local referral id.'),
          task: reference('Task'),
          agency: ref('AgencyRef'),
          status: text(),
          statusReason: text(),
          businessStatus: text(),
          lastUpdated: { type: 'string', format: 'date-time' },
        }),
      ),
      acceptedBy: nullable(object(['task'], { task: reference('Task'), identifier, display: text() }, 'The agency whose referral is accepted, in progress or completed.')),
      appointments: list(
        object(['appointment', 'responses'], {
          followUp: text('The plan-local follow-up id.'),
          appointment: reference('Appointment'),
          status: text(),
          start: { type: 'string', format: 'date-time' },
          responses: list(object([], { actor: text(), participantStatus: text(), comment: text() })),
        }),
      ),
      caregiverTasks: list(object(['task'], { id: text(), task: reference('Task'), status: text(), businessStatus: text() })),
      lastReportBack: nullable(
        object(
          ['resource', 'kind', 'at', 'agency', 'summary'],
          { resource: text(), kind: oneOfValues(REPORT_BACK_KINDS), at: { type: 'string', format: 'date-time', description: 'When carebridge received it.' }, agency: ref('AgencyRef'), summary: text() },
          'The newest Observation or Communication of a referred agency, or referral answer.',
        ),
      ),
      readmission: nullable(ref('Readmission')),
    }),
    TransitionList: object(['items', 'links'], {
      items: list(
        object(['id', 'carePlan', 'status', 'referrals'], {
          id: text(),
          carePlan: reference('CarePlan'),
          patient: text(),
          title: text(),
          status: text(),
          created: text(),
          lastUpdated: { type: 'string', format: 'date-time' },
          referrals: list(object(['task', 'agency', 'status'], { task: reference('Task'), agency: ref('AgencyRef'), status: text() })),
        }),
        'Newest first.',
      ),
      links: object(['self'], { self: text(), next: text(), previous: text() }, 'Keyset paging: follow next/previous as they are.'),
    }),
    Timeline: object(['id', 'carePlan', 'now', 'deadlines', 'readmission'], {
      id: text(),
      carePlan: reference('CarePlan'),
      now: { type: 'string', format: 'date-time', description: 'The instant the clock was read at.' },
      dischargedAt: { type: 'string', format: 'date-time' },
      deadlines: list(
        object(['kind', 'display', 'task', 'due', 'state', 'evidence', 'recorded'], {
          kind: { type: 'string', enum: [...DEADLINE_KINDS] },
          display: text(),
          task: reference('Task'),
          due: { type: 'string', format: 'date-time' },
          state: oneOfValues(DEADLINE_STATES),
          metAt: { type: 'string', format: 'date-time' },
          evidence: list(object(['resource', 'type', 'at', 'outcome'], { resource: text(), type: { enum: ['Communication', 'Task', 'Appointment'] }, at: text(), outcome: { enum: ['met', 'attempt'] } })),
          recorded: object(['status'], { status: text(), businessStatus: text() }, 'The deadline Task as stored: what the sweep last recorded.'),
        }),
      ),
      readmission: nullable(ref('Readmission')),
    }),
    AgencyOptions: object(['transition', 'at', 'criteria', 'options'], {
      transition: text(),
      at: { type: 'string', format: 'date-time', description: 'The clock capacity and coverage were judged at.' },
      criteria: object(['services', 'payers'], {
        services: list({ type: 'string', enum: HOME_HEALTH_SERVICE_CODES }),
        zip: text('The patient\'s home ZIP code.'),
        payers: list(object([], { system: text(), value: text(), display: text() })),
      }),
      options: list(
        object(['rank', 'organization', 'eligible', 'matched', 'missing'], {
          rank: int(),
          organization: reference('Organization'),
          identifier,
          name: text(),
          eligible: { type: 'boolean', description: 'Every requested service offered in the patient\'s ZIP, for a payer of theirs, with capacity.' },
          matched: list(ref('MatchReason')),
          missing: list(ref('MatchReason')),
        }),
        'Eligible first, then fewest missing, most matched.',
      ),
    }),
    MatchReason: object(['criterion', 'text'], { criterion: oneOfValues(CRITERIA), service: { type: 'string', enum: HOME_HEALTH_SERVICE_CODES }, text: text(), healthcareService: reference('HealthcareService') }),
    AgencyChoiceRequest: object(['chosen', 'shown'], {
      chosen: reference('Organization', 'The agency chosen: one of `shown`.'),
      shown: { type: 'array', items: reference('Organization'), minItems: 1, uniqueItems: true, description: 'Every option shown to the patient, in the order shown.' },
      reason: { type: 'string', maxLength: 1000 },
    }),
    AgencyChoice: object(['provenance', 'recorded', 'shown', 'by'], {
      provenance: reference('Provenance'),
      recorded: { type: 'string', format: 'date-time' },
      chosen: ref('Reference'),
      shown: list(ref('Reference')),
      reason: text(),
      by: list(ref('Reference'), 'The discharge planner (for the hospital), then the client that recorded it.'),
    }),
    AgencyChoices: object(['transition', 'choices'], { transition: text(), choices: list(ref('AgencyChoice'), 'Newest first.') }),
    OutboxSummary: object(['destinations'], {
      destinations: list(
        object(['destination', 'pending', 'dead', 'delivered', 'superseded'], {
          destination: text('A peer\'s name, or subscription/<id>.'),
          pending: int(),
          dead: int(),
          delivered: int(),
          superseded: int(),
          oldestPendingMs: int('Creation time of the oldest pending delivery (ms since the epoch).'),
          oldestPendingAgeSeconds: int('How far behind the destination is.'),
        }),
      ),
    }),
    Delivery: object(['id', 'eventId', 'destination', 'patientId', 'resourceType', 'resourceId', 'versionId', 'state', 'attempts', 'createdMs', 'windowStartMs', 'nextAttemptMs'], {
      id: int(),
      eventId: text('Sent as X-Carebridge-Event-Id: stable for the change and destination.'),
      destination: text(),
      patientId: text(),
      resourceType: text(),
      resourceId: text(),
      versionId: text(),
      eventNumber: int('A subscription event\'s eventsSinceSubscriptionStart.'),
      state: oneOfValues(DELIVERY_STATES),
      attempts: int(),
      createdMs: int(),
      windowStartMs: int(),
      nextAttemptMs: int(),
      lastError: text(),
      lastStatus: int(),
      doneMs: int(),
    }),
    DeliveryPage: object(['deliveries'], { deliveries: list(ref('Delivery')), next: object(['after'], { after: int() }, 'Present when the page is full: pass `after` for the next one.') }),
    ReplayRequest: {
      description: 'Exactly one of: one delivery, a destination\'s dead deliveries, every dead delivery.',
      oneOf: [
        { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 0 } }, additionalProperties: false },
        { type: 'object', required: ['peer'], properties: { peer: text('A peer name or subscription/<id>.') }, additionalProperties: false },
        { type: 'object', required: ['all'], properties: { all: { const: true } }, additionalProperties: false },
      ],
    },
    ReplayResult: object(['replayed'], { replayed: int('Deliveries made due again.') }),
    TokenRequest: object(['grant_type'], {
      grant_type: { const: 'client_credentials' },
      client_assertion_type: { const: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' },
      client_assertion: text('A JWT signed RS384 or ES384 by a key of the client: iss = sub = client id, aud = the token URL, exp at most 5 minutes ahead, a jti never used before.'),
      scope: text('SMART system scopes, space-separated (system/CarePlan.rs system/Task.rus).'),
      client_id: text('Development mode only: a keyless client (carebridge-dev, carebridge-dev-hospital, carebridge-dev-agency-1..3).'),
    }),
    TokenResponse: object(['access_token', 'token_type', 'expires_in', 'scope'], { access_token: text(), token_type: { const: 'bearer' }, expires_in: int(), scope: text() }),
    OAuthError: object(['error'], { error: oneOfValues(OAUTH_ERRORS), error_description: text() }),
    SmartConfiguration: object(['issuer', 'token_endpoint', 'token_endpoint_auth_methods_supported', 'token_endpoint_auth_signing_alg_values_supported', 'grant_types_supported', 'scopes_supported', 'capabilities'], {
      issuer: text(),
      token_endpoint: text(),
      token_endpoint_auth_methods_supported: list(text()),
      token_endpoint_auth_signing_alg_values_supported: list(text()),
      grant_types_supported: list(text()),
      scopes_supported: list(text()),
      capabilities: list(text()),
    }),
    Health: object(['status'], { status: { const: 'ok' } }),
    Readiness: object(['status'], {
      status: { enum: ['ready', 'unavailable'] },
      failed: list(oneOfValues(READINESS_CHECKS), 'The checks that did not pass.'),
      checks: object([], Object.fromEntries(Object.keys(READINESS_CHECKS).map((name) => [name, text('"ok", or why not.')]))),
      store: oneOfValues(STORE_KINDS),
      schemaVersion: int('The store\'s migration level.'),
    }),
    OpenApiDocument: { type: 'object', description: 'This document.', additionalProperties: true },
  };
}
