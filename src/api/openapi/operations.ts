// The route table of the non-FHIR HTTP API: every route the express routers register under
// /transitions, /admin/outbox, /auth and /board, the SMART configuration, the probes and this document.
// (The FHIR API under /fhir describes itself: GET /fhir/metadata.) test/api/openapi/openapi.test.ts
// walks the routers' stacks and fails when a route is registered and not here, or here and not registered.
import { MAX_SESSION_HOURS } from '../../auth/board-session.ts';
import { BOARD_FILTERS, DEFAULT_BOARD_PAGE, MAX_BOARD_PAGE } from '../board/transitions.ts';
import { MAX_PAGE } from '../transitions/list.ts';
import type { Schema } from './plan-components.ts';
import { PLAN_COMPONENT } from './plan-components.ts';
import { DELIVERY_STATES, HOME_HEALTH_SERVICE_CODES, ref } from './schemas.ts';

export interface RouteDoc {
  method: 'get' | 'post';
  /** The OpenAPI path: /transitions/{id}. */
  path: string;
  operation: Schema;
}

const JSON_TYPE = 'application/json';
const FHIR_JSON = 'application/fhir+json';

const answer = (description: string, schema: string, headers?: Record<string, Schema>): Schema => ({ description, ...(headers ? { headers } : {}), content: { [JSON_TYPE]: { schema: ref(schema) } } });
const problem = (description: string): Schema => ({ description, content: { [FHIR_JSON]: { schema: ref('OperationOutcome') } } });
const location = (description: string): Record<string, Schema> => ({ Location: { description, schema: { type: 'string', format: 'uri' } } });
const query = (name: string, description: string, schema: Schema = { type: 'string' }): Schema => ({ name, in: 'query', required: false, description, schema });
const idParameter: Schema = { name: 'id', in: 'path', required: true, description: 'The transition: its CarePlan id.', schema: { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' } };

/** What every request with a bearer token may also answer. */
const AUTHENTICATED: Record<string, Schema> = {
  '401': problem('No valid access token (with `WWW-Authenticate: Bearer realm="carebridge"`).'),
  '503': problem('The audit trail could not be written: nothing is answered unaudited. Try again.'),
};
/** /transitions also has a per-client rate limit (the admin routes do not). */
const THROTTLED: Record<string, Schema> = { ...AUTHENTICATED, '429': problem('Over the per-client rate limit (`CAREBRIDGE_RATE_LIMIT`); see `Retry-After`.') };
const BEARER = [{ bearer: [] }];

const transitions = (method: RouteDoc['method'], path: string, operation: Schema): RouteDoc => ({
  method,
  path: `/transitions${path}`,
  operation: {
    tags: ['Transitions'],
    security: BEARER,
    ...operation,
    ...(path.includes('{id}') ? { parameters: [idParameter, ...((operation.parameters as Schema[] | undefined) ?? [])] } : {}),
    responses: { ...(operation.responses as Schema), ...THROTTLED },
  },
});
const admin = (method: RouteDoc['method'], path: string, operation: Schema): RouteDoc => ({
  method,
  path: `/admin/outbox${path}`,
  operation: { tags: ['Admin'], security: BEARER, ...operation, responses: { ...(operation.responses as Schema), '403': problem('Not an admin client.'), ...AUTHENTICATED } },
});
/** The board's reads: the same bearer tokens, tenancy, rate limit and audit as /transitions. */
const board = (path: string, operation: Schema): RouteDoc => ({
  method: 'get',
  path: `/board/api${path}`,
  operation: { tags: ['Board'], security: BEARER, ...operation, responses: { ...(operation.responses as Schema), ...THROTTLED } },
});
const open = (method: RouteDoc['method'], path: string, tag: string, operation: Schema): RouteDoc => ({ method, path, operation: { tags: [tag], security: [], ...operation } });

/** The board's sign-in answers: OAuth-style JSON, never cached. */
const NO_STORE: Record<string, Schema> = { 'Cache-Control': { description: '`no-store`: a token or a refusal is never cached.', schema: { type: 'string' } } };
const sessionAnswer = (description: string, schema: string): Schema => answer(description, schema, NO_STORE);
const sessionThrottled: Schema = {
  description: 'slow_down (OAuth-style JSON): too many failed sign-ins for this username, for a while; or over the per-address rate limit (`CAREBRIDGE_RATE_LIMIT`, an OperationOutcome; see `Retry-After`).',
  content: { [JSON_TYPE]: { schema: ref('BoardSessionError') }, [FHIR_JSON]: { schema: ref('OperationOutcome') } },
};

const smartConfiguration = (operationId: string, where: string): Schema => ({
  operationId,
  summary: `SMART configuration (${where})`,
  description: 'The token endpoint, its authentication methods and algorithms, and the scopes clients may be granted.',
  responses: { '200': answer('The SMART configuration.', 'SmartConfiguration') },
});

/** Every documented route; the CarePlan statuses come from the plan schema's own enum. */
export function routeTable(carePlanStatuses: readonly string[]): RouteDoc[] {
  return [
    transitions('post', '', {
      operationId: 'pushTransition',
      summary: 'Push a transition plan',
      description:
        'The discharge planner\'s plan JSON as it is: checked (shape 400, rules between items 422, every issue in one OperationOutcome), mapped to FHIR and written in one transaction as the caller — all or nothing. Only a hospital pushes, and only its own discharges (`hospitalStay.dischargingOrganization`). The first push of a plan identifier creates (201), a later one updates what changed (200); what an agency owns on a Task is kept.',
      requestBody: { required: true, content: { [JSON_TYPE]: { schema: ref(PLAN_COMPONENT) }, [FHIR_JSON]: { schema: ref(PLAN_COMPONENT) } } },
      responses: {
        '200': answer('The plan was pushed before: what changed has new versions.', 'PushAnswer', location('/transitions/{id}')),
        '201': answer('A new transition.', 'PushAnswer', location('/transitions/{id}')),
        '400': problem('Not JSON, or not a transition plan (the schema\'s issues, each with its JSON pointer).'),
        '403': problem('Not a hospital, or not the discharging hospital of this plan.'),
        '409': problem('Another plan identifier is already the transition of this hospital stay.'),
        '412': problem('An agency changed a referral Task while the plan was being written.'),
        '413': problem('Body over `CAREBRIDGE_MAX_BODY_BYTES`.'),
        '415': problem('Not application/json or application/fhir+json (UTF-8).'),
        '422': problem('The plan breaks a rule between its items, or maps to FHIR that fails validation.'),
      },
    }),
    transitions('get', '', {
      operationId: 'listTransitions',
      summary: 'List transitions',
      description: 'The transitions the caller may see, newest first, a page at a time. Any other parameter is 400.',
      parameters: [
        query('patient', 'Patient/id, an id, or an identifier system|value.'),
        query('status', 'CarePlan status, or several separated by commas.', { type: 'string', pattern: `^(${carePlanStatuses.join('|')})(,(${carePlanStatuses.join('|')}))*$` }),
        query('agency', 'An agency referred to: Organization/id, an id, or an identifier system|value (NPI).'),
        query('_count', 'Page size.', { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 20 }),
        query('_cursor', 'The store\'s keyset cursor, as the `next`/`previous` links carry it.'),
      ],
      responses: { '200': answer('A page of transitions.', 'TransitionList'), '400': problem('An unknown parameter or a bad value.') },
    }),
    transitions('get', '/{id}', {
      operationId: 'readTransition',
      summary: 'Where a transition stands',
      description: 'The plan as sent and the live state: referrals and their answers, the agency that accepted, appointments, caregiver tasks, the last report-back, a readmission.',
      responses: { '200': answer('The transition.', 'TransitionState'), '404': problem('Unknown, or not visible to the caller.') },
    }),
    transitions('get', '/{id}/timeline', {
      operationId: 'transitionTimeline',
      summary: 'The transitional-care clock',
      description: 'Each TCM deadline, its due time, its state (open, met, met-late, overdue, ended), the evidence, what the sweep recorded, and the readmission. Also as FHIR: GET /fhir/CarePlan/{id}/$timeline.',
      responses: { '200': answer('The timeline.', 'Timeline'), '403': problem("The caller's role or token may not read Tasks (the deadlines are Tasks): case management."), '404': problem('Unknown, or not visible to the caller.') },
    }),
    transitions('get', '/{id}/agency-options', {
      operationId: 'agencyOptions',
      summary: 'Rank the agencies that can take the patient',
      description: 'Agencies (from their HealthcareServices) matched on services, the patient\'s ZIP, accepted payers and capacity. The transition\'s hospital and admins only.',
      parameters: [query('service', 'Comma-separated services to match instead of the referrals\' own.', { type: 'string', pattern: `^(${HOME_HEALTH_SERVICE_CODES.join('|')})(,(${HOME_HEALTH_SERVICE_CODES.join('|')}))*$` })],
      responses: {
        '200': answer('The options, ranked.', 'AgencyOptions'),
        '400': problem('An unknown service.'),
        '403': problem('Not a hospital or an admin.'),
        '404': problem('Unknown, or not visible to the caller.'),
      },
    }),
    transitions('post', '/{id}/agency-choice', {
      operationId: 'recordAgencyChoice',
      summary: 'Record the patient\'s choice of agency',
      description: 'Who chose, when, every option shown in order, the agency chosen and why — a Provenance on the CarePlan, kept in carebridge (never sent to peers).',
      requestBody: { required: true, content: { [JSON_TYPE]: { schema: ref('AgencyChoiceRequest') } } },
      responses: {
        '201': answer('The recorded choice.', 'AgencyChoice', location('/transitions/{id}/agency-choice')),
        '400': problem('A bad body (a reason that is blank or holds control characters; a chosen Organization that is no agency of the directory), or an Organization the caller cannot see.'),
        '403': problem('Not a hospital or an admin.'),
        '404': problem('Unknown, or not visible to the caller.'),
        '415': problem('Not JSON.'),
      },
    }),
    transitions('get', '/{id}/agency-choice', {
      operationId: 'readAgencyChoices',
      summary: 'The recorded choices of agency',
      responses: { '200': answer('Every recorded choice, newest first.', 'AgencyChoices'), '403': problem('Not a hospital or an admin.'), '404': problem('Unknown, or not visible to the caller.') },
    }),
    admin('get', '', {
      operationId: 'outboxSummary',
      summary: 'Deliveries per destination',
      description: 'Per peer or subscription: waiting, how far behind, dead, delivered, superseded.',
      responses: { '200': answer('Counts per destination.', 'OutboxSummary') },
    }),
    admin('get', '/deliveries', {
      operationId: 'listDeliveries',
      summary: 'The deliveries',
      parameters: [
        query('peer', 'A peer name or subscription/<id>.'),
        query('state', 'Delivery state.', { type: 'string', enum: Object.keys(DELIVERY_STATES) }),
        query('_count', 'Page size.', { type: 'integer', minimum: 0, maximum: 1000, default: 100 }),
        query('after', 'Deliveries with an id above this (from the last page\'s `next.after`).', { type: 'integer', minimum: 0 }),
      ],
      responses: { '200': answer('A page of deliveries, oldest first.', 'DeliveryPage'), '400': problem('A bad parameter.') },
    }),
    admin('post', '/replay', {
      operationId: 'replayDeliveries',
      summary: 'Send deliveries again',
      description: 'One delivery, a destination\'s dead ones, or all dead ones: due now, with a fresh retry window.',
      requestBody: { required: true, content: { [JSON_TYPE]: { schema: ref('ReplayRequest') } } },
      responses: { '200': answer('How many were made due.', 'ReplayResult'), '400': problem('Not one of the three forms.') },
    }),
    open('post', '/auth/token', 'Auth', {
      operationId: 'token',
      summary: 'Get an access token (SMART Backend Services)',
      description: 'client_credentials with a private_key_jwt client assertion. The token is a JWT for `Authorization: Bearer` on /fhir, /transitions and /admin, valid `expires_in` seconds (at most 300).',
      requestBody: { required: true, content: { 'application/x-www-form-urlencoded': { schema: ref('TokenRequest') } } },
      responses: {
        '200': { ...answer('The access token (`Cache-Control: no-store`).', 'TokenResponse') },
        '400': answer('invalid_request, invalid_scope or unsupported_grant_type.', 'OAuthError'),
        '401': answer('invalid_client: unknown client, or an assertion that does not verify.', 'OAuthError'),
        '429': problem('Over the rate limit for the token endpoint.'),
      },
    }),
    open('get', '/auth/board/sign-in-options', 'Board', {
      operationId: 'boardSignInOptions',
      summary: 'What the board\'s sign-in offers',
      description: 'Whether development mode is on, and then the demo clients one may sign in as without a password.',
      responses: { '200': sessionAnswer('The options.', 'BoardSignInOptions') },
    }),
    open('post', '/auth/board/session', 'Board', {
      operationId: 'boardSignIn',
      summary: 'Sign in to the board',
      description:
        'A board user (config `boardUsers`) signs in with a username and a password and gets an access token, issued as the token endpoint\'s, for the client `board:<username>`: its organization, role and scopes, the same tenancy and audit. The token is in the body only (no cookie). Every sign-in, granted or refused, is audited.',
      requestBody: { required: true, content: { [JSON_TYPE]: { schema: ref('BoardSignInRequest') }, 'application/x-www-form-urlencoded': { schema: ref('BoardSignInRequest') } } },
      responses: {
        '200': sessionAnswer('Signed in.', 'BoardSession'),
        '400': sessionAnswer('invalid_request: not JSON or a form, or not exactly a username and a password; unauthorized_client: a password-less sign-in outside development mode, or not as a demo client.', 'BoardSessionError'),
        '401': sessionAnswer('invalid_grant: an unknown username or a wrong password (the same answer for both).', 'BoardSessionError'),
        '413': sessionAnswer('invalid_request: a body over 8 KiB.', 'BoardSessionError'),
        '429': sessionThrottled,
      },
    }),
    open('post', '/auth/board/session/renew', 'Board', {
      operationId: 'boardRenewSession',
      summary: 'Renew a board session\'s token',
      description: `A new token for the session the bearer token belongs to, with its sign-in time kept: renewals stop ${MAX_SESSION_HOURS} hours after the sign-in. No body.`,
      security: BEARER,
      responses: {
        '200': sessionAnswer('The new token.', 'BoardSession'),
        '401': {
          description: 'No valid access token (an OperationOutcome, with `WWW-Authenticate: Bearer realm="carebridge"`), or invalid_grant (OAuth-style): the session has ended, sign in again.',
          headers: NO_STORE,
          content: { [JSON_TYPE]: { schema: ref('BoardSessionError') }, [FHIR_JSON]: { schema: ref('OperationOutcome') } },
        },
        '403': sessionAnswer('unauthorized_client: the token is a client\'s, not a board session\'s (a client asks the token endpoint).', 'BoardSessionError'),
        '429': problem('Over the per-address rate limit (`CAREBRIDGE_RATE_LIMIT`); see `Retry-After`.'),
      },
    }),
    board('/transitions', {
      operationId: 'boardTransitions',
      summary: 'The board\'s list',
      description: 'The open transitions (draft, active, on hold) the caller may see, newest first, a row each: the patient, referrals and their answers, the TCM clock, follow-ups, red flags, coverage. The filters are judged on the rows, so a page may hold fewer than `_count` rows and still have a `next`. Any other parameter is 400.',
      parameters: [
        query('filter', 'Only the rows that are all of these.', { type: 'string', pattern: `^(${BOARD_FILTERS.join('|')})(,(${BOARD_FILTERS.join('|')}))*$` }),
        query('_count', 'Rows a page.', { type: 'integer', minimum: 1, maximum: MAX_BOARD_PAGE, default: DEFAULT_BOARD_PAGE }),
        query('_cursor', 'The `next` of the previous page, as it is.', { type: 'string', minLength: 1 }),
      ],
      responses: { '200': answer('A page of rows.', 'BoardList'), '400': problem('An unknown parameter or a bad value.') },
    }),
    board('/transitions/{id}', {
      operationId: 'boardTransition',
      summary: 'One transition\'s row',
      parameters: [idParameter],
      responses: { '200': answer('The row, for the detail view.', 'BoardRow'), '404': problem('Unknown, not a transition, or not visible to the caller.') },
    }),
    board('/sync-health', {
      operationId: 'boardSyncHealth',
      summary: 'Each destination\'s sync health',
      description: 'Per peer or subscription: the outbox counts, how far behind, the last delivery, and for a polled EHR its last poll. Admins only; the dead deliveries and their replay are /admin/outbox\'s.',
      responses: { '200': answer('The destinations, trouble first.', 'SyncHealth'), '403': problem('Not an admin.'), '500': problem('The outbox or the poll status could not be read.') },
    }),
    {
      method: 'get',
      path: '/board',
      operation: {
        tags: ['Board'],
        operationId: 'board',
        summary: 'The care-coordination board',
        description: 'The page (also at /board/; its assets under /board/assets/). It signs in at /auth/board/session and reads /board/api, /transitions and /admin/outbox.',
        security: [],
        responses: {
          '200': { description: 'The page.', headers: { 'Content-Security-Policy': { description: 'This origin only: no inline script or style, no other host, no framing.', schema: { type: 'string' } } }, content: { 'text/html': { schema: { type: 'string' } } } },
          '404': problem('The board is not built (`npm run build`).'),
        },
      },
    },
    open('get', '/.well-known/smart-configuration', 'Auth', smartConfiguration('smartConfiguration', 'at the root')),
    open('get', '/fhir/.well-known/smart-configuration', 'Auth', smartConfiguration('fhirSmartConfiguration', 'under the FHIR base')),
    open('get', '/healthz', 'Service', { operationId: 'healthz', summary: 'The process is alive', responses: { '200': answer('Alive.', 'Health') } }),
    open('get', '/readyz', 'Service', {
      operationId: 'readyz',
      summary: 'This process may take traffic',
      responses: { '200': answer('Ready: the store answers, its migrations are applied, the FHIR definitions are loaded.', 'Readiness'), '503': answer('Not ready: `failed` names the checks (store, migrations, definitions, or shutdown while draining).', 'Readiness') },
    }),
    {
      method: 'get',
      path: '/metrics',
      operation: {
        tags: ['Service'],
        operationId: 'metrics',
        summary: 'Prometheus metrics',
        description: 'Prometheus text format. Bearer `CAREBRIDGE_METRICS_TOKEN`, or an admin client\'s access token.',
        security: BEARER,
        responses: {
          '200': { description: 'The metrics, summed across the workers.', content: { 'text/plain': { schema: { type: 'string' } } } },
          '401': problem('No metrics token and no valid access token.'),
          '403': problem('An access token that is not an admin client\'s.'),
          '503': problem('The metrics could not be gathered.'),
        },
      },
    },
    open('get', '/openapi.json', 'Service', { operationId: 'openapi', summary: 'This document', responses: { '200': answer('The OpenAPI 3.1 document.', 'OpenApiDocument') } }),
  ];
}
