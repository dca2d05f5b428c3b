// What the board reads, as carebridge answers it (the server's own types: src/api/board/summary.ts,
// src/api/transitions/state.ts and timeline.ts, src/api/board/sync-health.ts, src/store/outbox.ts;
// kept apart so the page's build never pulls in server code). Only the fields the board shows.

export type Role = 'hospital' | 'agency' | 'case-management' | 'admin';

export interface SessionUser {
  clientId: string;
  name: string;
  organization: { system: string; value: string; display?: string };
  role: Role;
}

export interface Session {
  access_token: string;
  expires_in: number;
  user: SessionUser;
  session_ends_at: string;
}

export interface SignInOptions {
  devMode: boolean;
  devClients: SessionUser[];
}

export type DeadlineState = 'open' | 'met' | 'met-late' | 'overdue' | 'ended';

export interface Finding {
  code: string;
  severity: 'information' | 'warning' | 'error';
  text: string;
}

export interface BoardRow {
  id: string;
  carePlan: string;
  title?: string;
  status: string;
  patient: { reference: string; name?: string; birthDate?: string } | null;
  dischargedAt?: string;
  referralState: 'none' | 'open' | 'placed' | 'withdrawn' | 'declined-by-all';
  referrals: { task: string; agency: string; status: string; statusReason?: string; businessStatus?: string }[] | null;
  acceptedBy: string | null;
  deadlines: { kind: string; display: string; due: string; state: DeadlineState; metAt?: string }[] | null;
  followUps: { appointment: string; followUp?: string; description?: string; start?: string; status: string }[] | null;
  redFlags: { task: string; text: string; status: string; priority?: string; authoredOn?: string }[] | null;
  coverage: { coveredOnDischarge: boolean; coveredThroughWindow: boolean; payer?: string; plan?: string; findings: Finding[] } | null;
  overdue: boolean;
  noAgency: boolean;
}

export interface BoardList {
  items: BoardRow[];
  next?: string;
}

export interface TransitionState {
  id: string;
  plan?: { title?: string };
  planProblem?: string;
  status: string;
  referrals: { task: string; agency: { display?: string }; status: string; statusReason?: string; businessStatus?: string; lastUpdated?: string }[];
  caregiverTasks: { id?: string; task: string; status?: string; businessStatus?: string }[];
  lastReportBack: { resource: string; kind: string; at: string; agency: { display?: string }; summary: string } | null;
  readmission: { encounter: string; admittedOn: string; daysAfterDischarge: number } | null;
}

export interface Timeline {
  now: string;
  dischargedAt?: string;
  deadlines: { kind: string; display: string; due: string; state: DeadlineState; metAt?: string; evidence: { resource: string; type: string; at: string; outcome: 'met' | 'attempt' }[]; recorded: { status: string; businessStatus?: string } }[];
  readmission: { encounter: string; admittedOn: string; daysAfterDischarge: number } | null;
}

export interface DestinationHealth {
  destination: string;
  kind: 'peer' | 'subscription';
  pending: number;
  dead: number;
  delivered: number;
  oldestPendingAgeSeconds?: number;
  lastDeliveredAt?: string;
  poll?: { lastSuccessAt?: string; lastFinishedAt?: string; lastErrorAt?: string; lastError?: string };
}

export interface Delivery {
  id: number;
  destination: string;
  resourceType: string;
  resourceId: string;
  versionId: string;
  state: 'pending' | 'delivered' | 'superseded' | 'dead';
  attempts: number;
  lastError?: string;
  lastStatus?: number;
  doneMs?: number;
}
