// What the board reads, as carebridge answers it. The board's own API shares its wire types with
// the server (src/api/board/board-api-types.ts, which imports nothing); the rest are the fields the
// board shows of /transitions (src/api/transitions/state.ts, timeline.ts), /admin/outbox
// (src/store/outbox.ts) and the sign-in (src/auth/board-session.ts), kept apart from server code.
export type { BoardFinding as Finding, BoardDeadlineState as DeadlineState, BoardList, BoardRow, DestinationHealth } from '../api/board/board-api-types.ts';
import type { BoardDeadlineState as DeadlineState } from '../api/board/board-api-types.ts';

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
