// The demo's story, over carebridge's public HTTP API with real access tokens from the development
// mode's demo clients: the hospital pushes a broadcast referral to three agencies, one accepts,
// the others are cancelled, the agency pulls the plan, schedules the start of care, reports a
// vital sign, and the hospital reads where the transition stands.
import type { Bundle, Observation, OperationOutcome, Task } from '@medplum/fhirtypes';
import type { PushedReferral } from '../api/transitions/push.ts';
import type { TransitionState } from '../api/transitions/state.ts';
import { DEV_DEMO_CLIENTS } from '../auth/dev-mode.ts';
import { SYSTEMS } from '../model/terminology.ts';
import { VITAL_SIGNS } from '../model/vital-signs.ts';
import type { Io } from './output.ts';

const GLUCOSE = VITAL_SIGNS['blood-glucose'];

export const DEMO_PLAN_FILE = 'broadcast-three-agencies.json';
const [HOSPITAL, AGENCY_1, AGENCY_2] = DEV_DEMO_CLIENTS.map((c) => ({ clientId: c.clientId, name: c.organization.display ?? c.clientId, label: c.clientId.replace('carebridge-dev-', '') })) as [Party, Party, Party];
/** The agency that accepts in the story. */
const ACCEPTING = AGENCY_2;

interface Party {
  clientId: string;
  name: string;
  label: string;
}

export class DemoError extends Error {}

interface Exchange<T> {
  status: number;
  body: T;
  headers: Headers;
}

/** A thin HTTP client: one access token per demo client, JSON in and out. */
class Api {
  private readonly tokens = new Map<string, Promise<string>>();
  private readonly base: string;

  constructor(base: string) {
    this.base = base;
  }

  private async token(party: Party): Promise<string> {
    let token = this.tokens.get(party.clientId);
    if (!token) {
      token = (async () => {
        const response = await fetch(`${this.base}/auth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', client_id: party.clientId }) });
        const body = (await response.json().catch(() => ({}))) as { access_token?: string; error_description?: string };
        if (!response.ok || !body.access_token) {
          throw new DemoError(
            `${this.base} gave no token to the demo client ${party.clientId} (${response.status} ${body.error_description ?? ''}). ` +
              'The demo clients exist only in development mode: start the server with `npm start` (carebridge serve --dev), or run `carebridge demo --in-process`.',
          );
        }
        return body.access_token;
      })();
      this.tokens.set(party.clientId, token);
    }
    return token;
  }

  async call<T>(party: Party, method: string, path: string, expected: number[], body?: unknown, headers: Record<string, string> = {}): Promise<Exchange<T>> {
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${await this.token(party)}`, ...(body === undefined ? {} : { 'content-type': path.startsWith('/fhir') ? 'application/fhir+json' : 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const parsed = (text ? JSON.parse(text) : undefined) as T;
    if (!expected.includes(response.status)) {
      const outcome = parsed as OperationOutcome | undefined;
      const why = outcome?.issue?.map((i) => i.details?.text ?? i.diagnostics ?? i.code).join('; ') ?? text.slice(0, 200);
      throw new DemoError(`${party.label}: ${method} ${path} answered ${response.status}: ${why}`);
    }
    return { status: response.status, body: parsed, headers: response.headers };
  }
}

/** Prints "  1.2s  hospital   what happened", continuation lines indented under it. */
function timeline(io: Io): (party: Party | undefined, line: string, ...more: string[]) => void {
  const started = performance.now();
  return (party, line, ...more) => {
    const at = `${((performance.now() - started) / 1000).toFixed(1)}s`.padStart(6);
    io.out(`${at}  ${(party?.label ?? 'carebridge').padEnd(9)} ${line}`);
    more.forEach((m) => io.out(`${' '.repeat(18)}${m}`));
  };
}

const statusLine = (r: { agency: { display?: string }; status: string; businessStatus?: string }): string => `${r.agency.display}: ${r.status}${r.businessStatus ? ` (${r.businessStatus})` : ''}`;

export async function runStory(io: Io, base: string, plan: unknown): Promise<void> {
  const api = new Api(base);
  const say = timeline(io);

  // 1. The discharge planner pushes the plan: one referral per agency, all at once.
  const pushed = await api.call<{ id: string; referrals: PushedReferral[] }>(HOSPITAL, 'POST', '/transitions', [200, 201], plan);
  const { id } = pushed.body;
  say(HOSPITAL, `POST /transitions ${DEMO_PLAN_FILE} → ${pushed.status} ${pushed.status === 201 ? 'Created' : 'OK (pushed before: updated in place)'}  ${pushed.headers.get('location') ?? ''}`, `CarePlan/${id}, referred to ${pushed.body.referrals.length} agencies at once:`, ...pushed.body.referrals.map((r) => `  ${r.agency.display} (NPI ${r.agency.identifier.value}): ${r.status}`));

  // 2. Each agency sees its own referral only; one accepts.
  const offered = await api.call<Bundle>(ACCEPTING, 'GET', '/fhir/Task?code=fulfill', [200]);
  const referral = offered.body.entry?.[0]?.resource as Task | undefined;
  if (!referral) {
    throw new DemoError(`${ACCEPTING.label}: no referral Task is visible to it`);
  }
  say(ACCEPTING, `GET /fhir/Task?code=fulfill → ${offered.body.entry?.length} referral (its own; the other agencies' stay hidden)`);
  const accepted = await api.call<Task>(ACCEPTING, 'PUT', `/fhir/Task/${referral.id}`, [200], { ...referral, status: 'accepted' }, { 'if-match': `W/"${referral.meta?.versionId}"` });
  say(ACCEPTING, `PUT /fhir/Task/${referral.id} status=accepted → ${accepted.status}`);

  // 3. The others are cancelled: by carebridge itself where the workflow does it, else by the hospital.
  const after = (await api.call<TransitionState>(HOSPITAL, 'GET', `/transitions/${id}`, [200])).body;
  const open = after.referrals.filter((r) => r.task !== `Task/${referral.id}` && ['requested', 'received', 'ready'].includes(r.status));
  const already = after.referrals.filter((r) => r.task !== `Task/${referral.id}` && r.status === 'cancelled');
  if (already.length > 0) {
    say(undefined, `cancelled the other referrals: ${already.map((r) => r.agency.display).join(', ')}`);
  }
  for (const other of open) {
    const task = (await api.call<Task>(HOSPITAL, 'GET', `/fhir/${other.task}`, [200])).body;
    const cancelled = await api.call<Task>(HOSPITAL, 'PUT', `/fhir/${other.task}`, [200], { ...task, status: 'cancelled', statusReason: { text: `Accepted by ${ACCEPTING.name}` } }, { 'if-match': `W/"${task.meta?.versionId}"` });
    say(HOSPITAL, `PUT /fhir/${other.task} status=cancelled (${other.agency.display}) → ${cancelled.status}`);
  }
  const left = await api.call<Bundle>(AGENCY_1, 'GET', '/fhir/Patient', [200]);
  say(AGENCY_1, `GET /fhir/Patient → ${left.body.entry?.length ?? 0} patients (its referral was cancelled: its access ended)`);

  // 4. The accepting agency pulls the whole plan in one request.
  const pulled = await api.call<Bundle>(ACCEPTING, 'GET', `/fhir/CarePlan/${id}/$transition`, [200]);
  const types = new Map<string, number>();
  pulled.body.entry?.forEach((e) => types.set(e.resource?.resourceType ?? '?', (types.get(e.resource?.resourceType ?? '?') ?? 0) + 1));
  say(ACCEPTING, `GET /fhir/CarePlan/${id}/$transition → ${pulled.body.entry?.length} resources`, [...types].map(([t, n]) => `${t}×${n}`).join(', '));

  // 5. It schedules the start-of-care visit on its referral.
  const current = (await api.call<Task>(ACCEPTING, 'GET', `/fhir/Task/${referral.id}`, [200])).body;
  const startOfCare = '2026-12-01T10:00:00-05:00';
  const scheduled = await api.call<Task>(ACCEPTING, 'PUT', `/fhir/Task/${referral.id}`, [200], { ...current, businessStatus: { text: `Start-of-care visit scheduled for ${startOfCare}` }, executionPeriod: { start: startOfCare } }, { 'if-match': `W/"${current.meta?.versionId}"` });
  say(ACCEPTING, `PUT /fhir/Task/${referral.id} businessStatus="Start-of-care visit scheduled" → ${scheduled.status}`);

  // 6. Its nurse reports a reading the caregiver task watches.
  const observation: Observation = {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: SYSTEMS.observationCategory, code: 'vital-signs', display: 'Vital Signs' }] }],
    // The reading the caregiver task watches, coded as the plan's thresholds are (model/vital-signs.ts).
    code: { coding: [{ system: SYSTEMS.loinc, code: GLUCOSE.loinc, display: GLUCOSE.display }], text: 'Blood glucose' },
    subject: { reference: current.for?.reference },
    basedOn: current.focus?.reference ? [{ reference: current.focus.reference }] : undefined,
    effectiveDateTime: '2026-12-01T10:40:00-05:00',
    performer: current.owner?.reference ? [{ reference: current.owner.reference }] : undefined,
    valueQuantity: { value: 182, unit: 'mg/dL', system: SYSTEMS.ucum, code: 'mg/dL' },
  };
  const reported = await api.call<Observation>(ACCEPTING, 'POST', '/fhir/Observation', [201], observation);
  say(ACCEPTING, `POST /fhir/Observation blood glucose 182 mg/dL → ${reported.status} Observation/${reported.body.id}`);

  // 7. The hospital reads where the transition stands.
  const state = (await api.call<TransitionState>(HOSPITAL, 'GET', `/transitions/${id}`, [200])).body;
  const report = state.lastReportBack;
  say(
    HOSPITAL,
    `GET /transitions/${id} → "${state.plan?.title ?? state.carePlan}" (${state.status})`,
    `accepted by: ${state.acceptedBy?.display ?? 'nobody yet'}`,
    `referrals: ${state.referrals.map(statusLine).join('; ')}`,
    `appointments: ${state.appointments.map((a) => `${a.followUp} ${a.status} ${a.start ?? ''}`.trim()).join('; ')}`,
    `caregiver tasks: ${state.caregiverTasks.map((t) => `${t.id} ${t.status}`).join('; ')}`,
    `last report-back: ${report ? `${report.summary} from ${report.agency.display} at ${report.at} (${report.resource})` : 'none'}`,
  );
}
