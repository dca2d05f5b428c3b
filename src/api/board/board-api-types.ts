// What the board's API answers, as it goes over the wire: one definition for the server
// (summary.ts, sync-health.ts) and the page (src/board/types.ts). No imports, so the page's build
// and type check take this file alone, never server code; the unions repeat the workflow's words
// (tcm-evidence.ts DeadlineState, roll-up.ts ReferralState, coverage-status.ts FindingSeverity),
// and the server's values are checked against them where it fills them in.

export type BoardDeadlineState = 'open' | 'met' | 'met-late' | 'overdue' | 'ended';
export type BoardReferralState = 'none' | 'open' | 'placed' | 'withdrawn' | 'declined-by-all';

export interface BoardReferral {
  task: string;
  agency: string;
  status: string;
  /** Why it was declined, cancelled or failed. */
  statusReason?: string;
  businessStatus?: string;
}

export interface BoardDeadline {
  kind: string;
  display: string;
  due: string;
  state: BoardDeadlineState;
  metAt?: string;
}

export interface BoardFinding {
  code: string;
  severity: 'information' | 'warning' | 'error';
  text: string;
  coverage?: string;
}

export interface BoardRow {
  id: string;
  carePlan: string;
  title?: string;
  status: string;
  /** null: the caller may not read the Patient. */
  patient: { reference: string; name?: string; birthDate?: string } | null;
  dischargedAt?: string;
  referralState: BoardReferralState;
  /** null: the caller's role reads no Tasks (then the clock and red flags are null too). */
  referrals: BoardReferral[] | null;
  acceptedBy: string | null;
  deadlines: BoardDeadline[] | null;
  followUps: { appointment: string; followUp?: string; description?: string; start?: string; status: string }[] | null;
  redFlags: { task: string; text: string; status: string; priority?: string; authoredOn?: string }[] | null;
  coverage: { coveredOnDischarge: boolean; coveredThroughWindow: boolean; payer?: string; plan?: string; findings: BoardFinding[] } | null;
  /** What the board filters on. */
  overdue: boolean;
  noAgency: boolean;
}

/** GET /board/api/transitions */
export interface BoardList {
  items: BoardRow[];
  /** The `_cursor` that continues the list, when there is more. */
  next?: string;
}

/** GET /board/api/sync-health: { destinations: DestinationHealth[] } */
export interface DestinationHealth {
  destination: string;
  /** A configured peer, or a Subscription's rest-hook endpoint. */
  kind: 'peer' | 'subscription';
  pending: number;
  dead: number;
  delivered: number;
  oldestPendingAgeSeconds?: number;
  lastDeliveredAt?: string;
  /** An EHR's last poll run (every query), when it is polled. */
  poll?: { lastSuccessAt?: string; lastFinishedAt?: string; lastErrorAt?: string; lastError?: string };
}
