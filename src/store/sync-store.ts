// What the sync jobs need from the store, shared by every instance on it: where each EHR poll
// stands (its cursor, committed with the data it covers), which instance runs which cron job (a
// lease), and how each poll went (a health record a board and the metrics read).

/** A poll's outcome for one peer and query (or, with queryKey PEER_RUN, for the peer's whole run). */
export interface PollRunRecord {
  /** When the run began (for a scheduled run, its slot): minimum intervals count from here. */
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  /** What went wrong, in carebridge's words: a status, a kind of refusal; never a resource's content. */
  error?: string;
  /** Resources that became a new version in our store (created or changed). */
  stored: number;
  /** Resources the peer sent that were refused (invalid, unresolvable, refused by a rule). */
  skipped: number;
}

/** The health of one peer's query as the store keeps it (JSON as it is, for the board and metrics). */
export interface PollStatus {
  peer: string;
  queryKey: string;
  cursor?: string;
  lastStartedAt?: string;
  lastFinishedAt?: string;
  /** The start of the last run that ended without an error. */
  lastSuccessAt?: string;
  /** The last failed run's end and error: kept after later successes (compare with lastSuccessAt). */
  lastErrorAt?: string;
  lastError?: string;
  /** Of the last run. */
  stored: number;
  skipped: number;
  /** Since the first run. */
  totalStored: number;
  totalSkipped: number;
}

/** The queryKey of a peer's whole run (every query): the scheduler's minimum interval reads it. */
export const PEER_RUN = '*';

export interface SyncStore {
  /** The committed cursor of a peer's query (the peer's own lastUpdated instant), if any. */
  readCursor(peer: string, queryKey: string): Promise<string | undefined>;
  /**
   * Takes the lease `name` for `holder` until now + ttlMs when it is free, expired or already
   * `holder`'s (then it is renewed). False when another holder has it: one instance at a time.
   */
  claimLease(name: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up, if `holder` still has it. */
  releaseLease(name: string, holder: string): Promise<void>;
  /** Records how a run of a peer's query (or PEER_RUN) went. */
  recordPollRun(peer: string, queryKey: string, run: PollRunRecord): Promise<void>;
  /** Health of every peer's queries (of one peer when named), ordered by peer and query. */
  pollStatus(peer?: string): Promise<PollStatus[]>;
}

/** What a store transaction adds for sync: the cursor commits with the page it covers, or not at all. */
export interface SyncTransaction {
  /** Sets the cursor of a peer's query. It never moves back: an older cursor (a slower, overlapping poll) is ignored. */
  writeCursor(peer: string, queryKey: string, cursor: string): Promise<void>;
}
