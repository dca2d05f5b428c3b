// The audit trail writer. A request's AuditEvent is stored before its response is sent, and a
// failed audit write fails the request (no unaudited access). One write transaction per read
// request would make SQLite's single writer the bottleneck of every read, so events are written
// by group commit: record() queues an event and waits; one store transaction writes every event
// queued so far and settles all their promises together (bench/audit.ts measures the gain).
import { OperationOutcomeError, tooManyRequests } from '@medplum/core';
import type { AuditEvent } from '@medplum/fhirtypes';
import type { FhirStore, StoreTransaction } from '../store/fhir-store.ts';

export interface AuditTrailOptions {
  /** A flush starts as soon as this many events wait; it is also the most one transaction writes. */
  maxBatch?: number;
  /**
   * Events waiting or being written beyond which record() refuses with 429 at once. Waiting
   * instead would hold every blocked request (and its response) in memory without bound, while
   * the writer is already behind; refusing sheds load and tells the client to retry.
   */
  maxPending?: number;
  /** How long the first event of a batch waits for others, in ms; 0 = until the I/O of this loop turn is done (setImmediate). */
  flushDelayMs?: number;
}

/**
 * An AuditEvent costs ~0.25 ms of SQLite work (its ~18 index rows, most of it), and better-sqlite3
 * holds the event loop for a whole transaction: 100 events ≈ 25 ms of stall, already 100 commits
 * amortised. Bigger batches would add stall, not throughput.
 */
export const DEFAULT_MAX_BATCH = 100;
/** About 1 s of SQLite backlog (~4,000 events/s measured) before requests are refused. */
export const DEFAULT_MAX_PENDING = 4_000;
/**
 * setImmediate: a 2 ms timer batched no better with 16 or 128 requests in flight and added ~2 ms
 * to every request of a client that sends one at a time (bench/audit.ts). Batches still form
 * while a transaction runs, since at most one flush is under way.
 */
export const DEFAULT_FLUSH_DELAY_MS = 0;

export interface AuditTrailStats {
  /** Store transactions the trail ran (successful or not). */
  transactions: number;
  /** Events durably written. */
  written: number;
  /** Events refused because too many were pending. */
  refused: number;
  /** Events queued or in the transaction under way. */
  pending: number;
}

interface Waiting {
  event: AuditEvent;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A write's own AuditEvent, in the write's transaction: it commits, or fails, with the write. */
export async function recordInTransaction(tx: StoreTransaction, event: AuditEvent): Promise<void> {
  await tx.create(event, { deferIndex: true });
}

export class AuditTrail {
  private readonly store: FhirStore;
  private readonly maxBatch: number;
  private readonly maxPending: number;
  private readonly flushDelayMs: number;
  private queue: Waiting[] = [];
  private writing = 0;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private closed = false;
  private readonly counters = { transactions: 0, written: 0, refused: 0 };

  constructor(store: FhirStore, options: AuditTrailOptions = {}) {
    this.store = store;
    this.maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_MAX_BATCH);
    this.maxPending = Math.max(this.maxBatch, options.maxPending ?? DEFAULT_MAX_PENDING);
    this.flushDelayMs = Math.max(0, options.flushDelayMs ?? DEFAULT_FLUSH_DELAY_MS);
  }

  /** Resolves once the event is committed; rejects if its transaction failed or the trail is full or closed. */
  record(event: AuditEvent): Promise<void> {
    if (this.closed) {
      return Promise.reject(new Error('The audit trail is closed'));
    }
    if (this.queue.length + this.writing >= this.maxPending) {
      this.counters.refused++;
      return Promise.reject(new OperationOutcomeError(tooManyRequests));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ event, resolve, reject });
      if (this.queue.length >= this.maxBatch) {
        this.startFlush();
      } else {
        this.schedule();
      }
    });
  }

  /** The same as the function: for handlers that hold the trail rather than import the module. */
  recordInTransaction(tx: StoreTransaction, event: AuditEvent): Promise<void> {
    return recordInTransaction(tx, event);
  }

  /** Writes everything queued now (and what arrives meanwhile); never rejects. */
  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight) {
      if (!this.inFlight) {
        this.startFlush();
      }
      await this.inFlight;
    }
  }

  /** Refuses new events and writes the queued ones. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  stats(): AuditTrailStats {
    return { ...this.counters, pending: this.queue.length + this.writing };
  }

  private schedule(): void {
    // A flush under way starts the next one when it ends; a timer set already covers this event.
    if (this.timer || this.inFlight) {
      return;
    }
    const run = (): void => {
      this.timer = undefined;
      this.startFlush();
    };
    this.timer = this.flushDelayMs === 0 ? setImmediate(run) : setTimeout(run, this.flushDelayMs);
  }

  private clearTimer(): void {
    if (this.timer) {
      // clearImmediate on a Timeout would corrupt Node's immediate count: ask which it is.
      if (this.flushDelayMs === 0) {
        clearImmediate(this.timer as NodeJS.Immediate);
      } else {
        clearTimeout(this.timer as NodeJS.Timeout);
      }
      this.timer = undefined;
    }
  }

  /** At most one flush at a time: events queued while one runs wait for the next. */
  private startFlush(): void {
    this.clearTimer();
    if (this.inFlight || this.queue.length === 0) {
      return;
    }
    const batch = this.queue.splice(0, this.maxBatch);
    this.writing = batch.length;
    this.inFlight = this.write(batch).finally(() => {
      this.writing = 0;
      this.inFlight = undefined;
      // What queued meanwhile has already waited a whole transaction: write it now.
      if (this.queue.length > 0) {
        this.startFlush();
      }
    });
  }

  private async write(batch: Waiting[]): Promise<void> {
    this.counters.transactions++;
    try {
      await this.store.transaction(async (tx) => {
        for (const waiting of batch) {
          // Durable now, searchable once its index rows are written (background, or by the next
          // AuditEvent search): ~18 index rows were most of an audited request's cost.
          await tx.create(waiting.event, { deferIndex: true });
        }
      });
    } catch (err) {
      for (const waiting of batch) {
        waiting.reject(err);
      }
      return;
    }
    this.counters.written += batch.length;
    for (const waiting of batch) {
      waiting.resolve();
    }
  }
}
