// The peers carebridge goes to (config file `peers`): hospital EHRs it polls and writes back to,
// agency systems it pushes to, payers it asks. Checked at start: the schema says the shape, the
// rules here what a schema cannot (unique names, schedules Gravity allows, key sources).
import { createTask } from 'node-cron';
import type { OrganizationIdentity } from '../auth/principal.ts';

export type PeerKind = 'ehr' | 'agency' | 'payer';

export type PeerAuth =
  | { type: 'none' }
  | { type: 'smart-backend-services'; tokenUrl: string; clientId: string; scope: string; privateKeyEnv?: string; privateKeyFile?: string };

export interface RetryPolicy {
  /** First delay after a failure; doubled each time (with jitter) up to maxDelayMs. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A delivery still failing this long after it was queued is dead-lettered. */
  windowHours: number;
}

export interface PeerLimits {
  timeoutMs: number;
  /** Requests in flight to this peer at once (per carebridge process). */
  maxConcurrent: number;
  /** A peer's answer larger than this is refused unread. */
  maxResponseBytes: number;
  retry: RetryPolicy;
}

export interface PeerPull {
  /** Searches relative to the base URL ("Encounter?status=finished"). */
  queries: string[];
  schedule: string;
  minIntervalMinutes: number;
  pageSize: number;
}

export interface PeerPush {
  resourceTypes: string[];
  mode: 'conditional-update' | 'communication';
}

export interface PeerConfig {
  name: string;
  kind: PeerKind;
  organization: OrganizationIdentity;
  fhirBaseUrl?: string;
  webhookUrl?: string;
  auth: PeerAuth;
  push?: PeerPush;
  pull?: PeerPull;
  limits: PeerLimits;
}

/** The config file's form of a peer: everything with a default may be left out. */
export interface PeerConfigInput extends Omit<PeerConfig, 'auth' | 'push' | 'pull' | 'limits'> {
  auth?: PeerAuth;
  push?: Omit<PeerPush, 'mode'> & { mode?: PeerPush['mode'] };
  pull?: Omit<PeerPull, 'minIntervalMinutes' | 'pageSize'> & Partial<Pick<PeerPull, 'minIntervalMinutes' | 'pageSize'>>;
  limits?: Partial<Omit<PeerLimits, 'retry'>> & { retry?: Partial<RetryPolicy> };
}

/** Da Vinci / Gravity: keep retrying for at least 72 hours before giving a delivery up. */
export const DEFAULT_RETRY: RetryPolicy = { initialDelayMs: 1000, maxDelayMs: 15 * 60_000, windowHours: 72 };
export const DEFAULT_PEER_LIMITS: Omit<PeerLimits, 'retry'> = { timeoutMs: 10_000, maxConcurrent: 4, maxResponseBytes: 16 * 1024 * 1024 };
/** Gravity: poll no more often than every 15 minutes unless the peer agreed to more. */
export const DEFAULT_MIN_POLL_MINUTES = 15;
export const DEFAULT_POLL_PAGE_SIZE = 100;

const WEEK_MS = 7 * 24 * 3600_000;

/** Problems with a poll schedule: not a cron expression, too frequent, or a business day without a run. */
export function scheduleProblems(schedule: string, minIntervalMinutes: number): string[] {
  let runs: Date[];
  try {
    const task = createTask(schedule, () => undefined, { timezone: 'UTC' });
    // Enough runs to span a week at the allowed rate, plus one to see a too-short gap.
    runs = task.getNextRuns(Math.ceil(WEEK_MS / 60_000 / minIntervalMinutes) + 2);
    void task.destroy();
  } catch {
    return [`"${schedule}" is not a cron expression`];
  }
  const first = runs[0];
  if (!first) {
    return [`"${schedule}" never runs`];
  }
  for (let i = 1; i < runs.length; i += 1) {
    const gap = ((runs[i] as Date).getTime() - (runs[i - 1] as Date).getTime()) / 60_000;
    if (gap < minIntervalMinutes) {
      return [`"${schedule}" runs every ${gap} minutes; Gravity allows at most every ${minIntervalMinutes} (set pull.minIntervalMinutes if the peer agreed to more)`];
    }
  }
  const days = new Set(runs.filter((d) => d.getTime() < first.getTime() + WEEK_MS).map((d) => d.getUTCDay()));
  return [1, 2, 3, 4, 5].every((day) => days.has(day)) ? [] : [`"${schedule}" does not run on every business day; Gravity asks for at least one poll a business day`];
}

/** Rules a schema cannot say; each problem names its JSON pointer. */
export function peerProblems(peers: readonly PeerConfigInput[]): string[] {
  const problems: string[] = [];
  const names = new Map<string, number>();
  peers.forEach((peer, i) => {
    const seen = names.get(peer.name);
    if (seen !== undefined) {
      problems.push(`/peers/${i}/name: "${peer.name}" is also the name of /peers/${seen}`);
    } else {
      names.set(peer.name, i);
    }
    if (peer.pull) {
      if (!peer.fhirBaseUrl) {
        problems.push(`/peers/${i}/pull: polling needs a fhirBaseUrl`);
      }
      problems.push(...scheduleProblems(peer.pull.schedule, peer.pull.minIntervalMinutes ?? DEFAULT_MIN_POLL_MINUTES).map((p) => `/peers/${i}/pull/schedule: ${p}`));
    }
    if (peer.push?.mode === 'communication' && peer.kind !== 'ehr') {
      problems.push(`/peers/${i}/push/mode: "communication" is for EHR writeback only`);
    }
    const retry = peer.limits?.retry;
    if (retry && (retry.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs) < (retry.initialDelayMs ?? DEFAULT_RETRY.initialDelayMs)) {
      problems.push(`/peers/${i}/limits/retry: maxDelayMs is below initialDelayMs`);
    }
  });
  return problems;
}

export function withPeerDefaults(peer: PeerConfigInput): PeerConfig {
  const { auth, push, pull, limits, ...rest } = peer;
  return {
    ...rest,
    auth: auth ?? { type: 'none' },
    ...(push ? { push: { resourceTypes: push.resourceTypes, mode: push.mode ?? 'conditional-update' } } : {}),
    ...(pull ? { pull: { queries: pull.queries, schedule: pull.schedule, minIntervalMinutes: pull.minIntervalMinutes ?? DEFAULT_MIN_POLL_MINUTES, pageSize: pull.pageSize ?? DEFAULT_POLL_PAGE_SIZE } } : {}),
    limits: {
      timeoutMs: limits?.timeoutMs ?? DEFAULT_PEER_LIMITS.timeoutMs,
      maxConcurrent: limits?.maxConcurrent ?? DEFAULT_PEER_LIMITS.maxConcurrent,
      maxResponseBytes: limits?.maxResponseBytes ?? DEFAULT_PEER_LIMITS.maxResponseBytes,
      retry: { ...DEFAULT_RETRY, ...limits?.retry },
    },
  };
}
