// The JSON bodies of carebridge's non-FHIR HTTP API as JSON Schema 2020-12 (OpenAPI 3.1 components).
// Enumerations come from the code's own tables; each `satisfies Record<T, true>` below fails the
// type check when a value is added to T and not here. test/api/openapi/openapi.test.ts validates
// real answers against these schemas with every object closed, so a field the code adds and the
// document leaves out fails there.
import type { CheckName } from '../../observability/readiness.ts';
import type { SessionErrorCode } from '../../auth/board-session.ts';
import type { ClientRole } from '../../auth/principal.ts';
import type { OAuthErrorCode } from '../../auth/token-request.ts';
import type { FhirStore } from '../../store/fhir-store.ts';
import type { DeliveryState } from '../../store/outbox.ts';
import type { Criterion } from '../../workflow/agency-matching.ts';
import type { FindingCode } from '../../workflow/coverage-status.ts';
import type { DeadlineState } from '../../workflow/tcm-evidence.ts';
import type { BoardDeadlineState, BoardFinding, BoardReferralState, DestinationHealth } from '../board/board-api-types.ts';
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
const SESSION_ERRORS = { invalid_request: true, invalid_grant: true, unauthorized_client: true, slow_down: true } satisfies Record<SessionErrorCode, true>;
const CLIENT_ROLES = { hospital: true, agency: true, 'case-management': true, admin: true } satisfies Record<ClientRole, true>;
const BOARD_DEADLINE_STATES = { open: true, met: true, 'met-late': true, overdue: true, ended: true } satisfies Record<BoardDeadlineState, true>;
const BOARD_REFERRAL_STATES = { none: true, open: true, placed: true, withdrawn: true, 'declined-by-all': true } satisfies Record<BoardReferralState, true>;
const FINDING_SEVERITIES = { information: true, warning: true, error: true } satisfies Record<BoardFinding['severity'], true>;
const FINDING_CODES = {
  'no-discharge-date': true,
  'no-active-coverage': true,
  'covered-on-discharge': true,
  'not-covered-on-discharge': true,
  'covered-through-window': true,
  'period-ends-in-window': true,
  'starts-in-window': true,
  primary: true,
  'primary-unclear': true,
  'member-id-missing': true,
  'subscriber-relationship-missing': true,
  'eligibility-not-checked': true,
  'eligibility-age': true,
  'eligibility-stale': true,
  'eligibility-error': true,
  'not-inforce': true,
  inforce: true,
  'home-health-covered': true,
  'home-health-not-covered': true,
  'home-health-unknown': true,
  'prior-auth-not-required': true,
  'prior-auth-on-file': true,
  'prior-auth-missing': true,
} satisfies Record<FindingCode, true>;
const DESTINATION_KINDS = { peer: true, subscription: true } satisfies Record<DestinationHealth['kind'], true>;
export const HOME_HEALTH_SERVICE_CODES = Object.keys(HOME_HEALTH_SERVICES);

const instant: Schema = { type: 'string', format: 'date-time' };
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
      chosen: reference('Organization', 'The agency chosen: one of `shown`, and an agency of the directory (one with an active HealthcareService).'),
      shown: { type: 'array', items: reference('Organization'), minItems: 1, uniqueItems: true, description: 'Every option shown to the patient, in the order shown.' },
      reason: { type: 'string', maxLength: 1000, description: 'Why: text with something visible, no control characters but tab, CR and LF.' },
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
    BoardUser: object(['clientId', 'name', 'organization', 'role'], {
      clientId: text('The client the session acts as: board:<username>, or a demo client in development mode.'),
      name: text(),
      organization: object(['system', 'value'], { system: text(), value: text(), display: text() }),
      role: oneOfValues(CLIENT_ROLES),
    }),
    BoardSignInOptions: object(['devMode', 'devClients'], {
      devMode: { type: 'boolean' },
      devClients: list(ref('BoardUser'), 'Development mode\'s demo clients, signed in without a password; empty otherwise.'),
    }),
    BoardSignInRequest: {
      description: 'A username and a password, or (development mode only) a demo client\'s id. Other fields are ignored; an empty one counts as absent.',
      oneOf: [
        { type: 'object', required: ['username', 'password'], properties: { username: { type: 'string', minLength: 1, maxLength: 64 }, password: { type: 'string', minLength: 1, maxLength: 1024 } } },
        { type: 'object', required: ['devClient'], properties: { devClient: { type: 'string', minLength: 1, maxLength: 128 } } },
      ],
    },
    BoardSession: object(['access_token', 'token_type', 'expires_in', 'scope', 'user', 'session_ends_at'], {
      access_token: text('A JWT for `Authorization: Bearer`, as the token endpoint issues: the same tenancy, scopes and audit as the client it acts as.'),
      token_type: { const: 'bearer' },
      expires_in: int('Seconds the token is valid; renew it before.'),
      scope: text(),
      user: ref('BoardUser'),
      session_ends_at: { type: 'string', format: 'date-time', description: 'When renewals stop and the person signs in again.' },
    }),
    BoardSessionError: object(['error', 'error_description'], { error: oneOfValues(SESSION_ERRORS), error_description: text() }, 'A refused sign-in or renewal, OAuth-style.'),
    BoardRow: object(['id', 'carePlan', 'status', 'patient', 'referralState', 'referrals', 'acceptedBy', 'deadlines', 'followUps', 'redFlags', 'coverage', 'overdue', 'noAgency'], {
      id: text('The transition: the CarePlan id.'),
      carePlan: reference('CarePlan'),
      title: text(),
      status: text('The CarePlan status.'),
      patient: nullable(object(['reference'], { reference: reference('Patient'), name: text(), birthDate: text('A FHIR date: YYYY, YYYY-MM or YYYY-MM-DD.') }, 'null: the caller may not read the Patient.')),
      dischargedAt: { type: 'string', format: 'date-time' },
      referralState: oneOfValues(BOARD_REFERRAL_STATES),
      referrals: nullable(
        list(
          object(['task', 'agency', 'status'], { task: reference('Task'), agency: text('The agency\'s name.'), status: text('The referral Task status.'), statusReason: text('Why it was declined, cancelled or failed.'), businessStatus: text() }),
          'null: the caller\'s role reads no Tasks (then deadlines and redFlags are null too).',
        ),
      ),
      acceptedBy: nullable(text('The name of the agency whose referral is accepted, in progress or completed.')),
      deadlines: nullable(
        list(
          object(['kind', 'display', 'due', 'state'], {
            kind: { type: 'string', enum: [...DEADLINE_KINDS] },
            display: text(),
            due: { type: 'string', format: 'date-time' },
            state: oneOfValues(BOARD_DEADLINE_STATES),
            metAt: { type: 'string', format: 'date-time' },
          }),
          'The TCM clock (as /transitions/{id}/timeline).',
        ),
      ),
      followUps: nullable(list(object(['appointment', 'status'], { appointment: reference('Appointment'), followUp: text('The plan-local follow-up id.'), description: text(), start: { type: 'string', format: 'date-time' }, status: text() }))),
      redFlags: nullable(list(object(['task', 'text', 'status'], { task: reference('Task'), text: text(), status: text(), priority: text(), authoredOn: text() }), 'The caregiver red-flag Tasks still open.')),
      coverage: nullable(
        object(
          ['coveredOnDischarge', 'coveredThroughWindow', 'findings'],
          {
            coveredOnDischarge: { type: 'boolean' },
            coveredThroughWindow: { type: 'boolean' },
            payer: text(),
            plan: text(),
            findings: list(object(['code', 'severity', 'text'], { code: oneOfValues(FINDING_CODES), severity: oneOfValues(FINDING_SEVERITIES), text: text(), coverage: reference('Coverage') })),
          },
          'null: the caller may not search Coverage.',
        ),
      ),
      overdue: { type: 'boolean', description: 'A TCM deadline is overdue (filter=overdue).' },
      noAgency: { type: 'boolean', description: 'No agency has taken the patient yet (filter=no-agency).' },
    }),
    BoardList: object(['items'], { items: list(ref('BoardRow'), 'Newest first.'), next: text('The `_cursor` that continues the list, when there is more.') }),
    DestinationHealth: object(['destination', 'kind', 'pending', 'dead', 'delivered'], {
      destination: text('A peer\'s name, or subscription/<id>.'),
      kind: oneOfValues(DESTINATION_KINDS),
      pending: int(),
      dead: int(),
      delivered: int(),
      oldestPendingAgeSeconds: int('How far behind the destination is.'),
      lastDeliveredAt: { type: 'string', format: 'date-time' },
      poll: object([], { lastSuccessAt: instant, lastFinishedAt: instant, lastErrorAt: instant, lastError: text() }, 'An EHR\'s last poll run (every query), when it is polled.'),
    }),
    SyncHealth: object(['destinations'], { destinations: list(ref('DestinationHealth'), 'Dead deliveries first, then the longest waits, then by name.') }),
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
