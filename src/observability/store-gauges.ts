// The gauges read from the store at scrape time: the outbox per destination, the TCM deadlines
// past due, how long since each EHR was last polled. They describe the shared database, not a
// process, so one process computes them per scrape (never summed across workers). Four cheap
// queries: one grouped count of the outbox, two index-driven counts of deadline Tasks, the poll
// status rows (one per peer and query).
import { parseSearchRequest } from '@medplum/core';
import { Gauge, Registry } from 'prom-client';
import type { Logger } from '../log/logger.ts';
import { SYSTEMS } from '../model/terminology.ts';
import type { FhirStore } from '../store/fhir-store.ts';
import type { DeliveryCounts } from '../store/outbox.ts';
import { PEER_RUN } from '../store/sync-store.ts';
import { destinationLabel, peerLabel } from './labels.ts';

export type GaugeStore = Pick<FhirStore, 'countDeliveries' | 'pollStatus' | 'search'>;

export interface StoreGaugesOptions {
  store: GaugeStore;
  logger?: Logger;
  /** Configured peers: their outbox gauges read 0 rather than being absent before their first delivery. */
  peers?: readonly string[];
  now?: () => number;
}

interface Outbox {
  pending: number;
  dead: number;
  oldestPendingMs?: number;
}

/** Deadlines the sweep marked overdue that are still open: not met, late or not. */
const OVERDUE = `Task?business-status=${encodeURIComponent(`${SYSTEMS.tcmDeadline}|overdue`)}&status=requested,ready,in-progress`;

async function countTasks(store: GaugeStore, query: string): Promise<number> {
  const result = await store.search({ ...parseSearchRequest(query), count: 0, total: 'accurate' });
  return result.total ?? 0;
}

/** Outbox counts by destination label: every Subscription's rows summed into one. */
function byDestination(counts: readonly DeliveryCounts[], peers: readonly string[]): Map<string, Outbox> {
  const grouped = new Map<string, Outbox>(peers.map((peer) => [destinationLabel(peer), { pending: 0, dead: 0 }]));
  for (const count of counts) {
    const label = destinationLabel(count.destination);
    const into = grouped.get(label) ?? { pending: 0, dead: 0 };
    into.pending += count.pending;
    into.dead += count.dead;
    if (count.oldestPendingMs !== undefined) {
      into.oldestPendingMs = Math.min(into.oldestPendingMs ?? Infinity, count.oldestPendingMs);
    }
    grouped.set(label, into);
  }
  return grouped;
}

export class StoreGauges {
  /** carebridge_store_up alone: the whole answer when the store did not answer (a gauge without labels would read 0, not "unknown"). */
  private readonly health = new Registry();
  private readonly registry = new Registry();
  private readonly options: StoreGaugesOptions;
  private readonly now: () => number;
  private readonly up: Gauge;
  private readonly pending: Gauge<'destination'>;
  private readonly dead: Gauge<'destination'>;
  private readonly oldestPending: Gauge<'destination'>;
  private readonly overdue: Gauge;
  private readonly unsettled: Gauge;
  private readonly pollerLag: Gauge<'peer'>;
  /** Scrapes that arrive together share one round of queries. */
  private refreshing: Promise<boolean> | undefined;

  constructor(options: StoreGaugesOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    const registers = [this.registry];
    this.up = new Gauge({ name: 'carebridge_store_up', help: 'Whether the store answered this scrape\'s queries (1) or not (0: the store-backed gauges are left out)', registers: [this.health] });
    this.pending = new Gauge({ name: 'carebridge_outbox_pending', help: 'Deliveries waiting to be sent (or in flight), by destination (every Subscription counts as "subscriptions")', labelNames: ['destination'], registers });
    this.dead = new Gauge({ name: 'carebridge_outbox_dead', help: 'Deliveries given up on until an operator replays them, by destination', labelNames: ['destination'], registers });
    this.oldestPending = new Gauge({ name: 'carebridge_outbox_oldest_pending_age_seconds', help: 'Age of the oldest waiting delivery, by destination (absent when none waits): how far behind it is', labelNames: ['destination'], registers });
    this.overdue = new Gauge({ name: 'carebridge_tcm_deadlines_overdue', help: 'TCM deadline Tasks the sweep marked overdue that are still not met', registers });
    this.unsettled = new Gauge({ name: 'carebridge_tcm_deadlines_past_due_unsettled', help: 'Open TCM deadline Tasks past their due time that the sweep has not settled yet (above 0 for longer than the sweep schedule: the sweep is not running)', registers });
    this.pollerLag = new Gauge({ name: 'carebridge_poller_lag_seconds', help: 'Seconds since the start of the last successful poll of each EHR peer (absent before its first success)', labelNames: ['peer'], registers });
  }

  /** The gauges' exposition text, read fresh from the store. */
  async metrics(): Promise<string> {
    this.refreshing ??= this.refresh().finally(() => (this.refreshing = undefined));
    const answered = await this.refreshing;
    const [health, gauges] = await Promise.all([this.health.metrics(), answered ? this.registry.metrics() : '']);
    return `${health}\n${gauges}`;
  }

  /** Reads the store and sets every gauge; false when the store did not answer. */
  private async refresh(): Promise<boolean> {
    const { store } = this.options;
    const nowMs = this.now();
    let results: [DeliveryCounts[], number, number, Awaited<ReturnType<GaugeStore['pollStatus']>>];
    try {
      results = await Promise.all([
        store.countDeliveries(),
        countTasks(store, OVERDUE),
        countTasks(store, `Task?open-deadline=lt${encodeURIComponent(new Date(nowMs).toISOString())}`),
        store.pollStatus(),
      ]);
    } catch (err) {
      this.up.set(0);
      // The logger keeps an error's class and code, not its message (a database's may quote row values).
      this.options.logger?.warn('metrics could not read the store', { error: err });
      return false;
    }
    // From here on synchronous: a scrape reading the registry never sees half the values.
    const [counts, overdue, unsettled, polls] = results;
    this.reset();
    this.up.set(1);
    for (const [destination, outbox] of byDestination(counts, this.options.peers ?? [])) {
      this.pending.set({ destination }, outbox.pending);
      this.dead.set({ destination }, outbox.dead);
      if (outbox.oldestPendingMs !== undefined) {
        this.oldestPending.set({ destination }, Math.max(0, nowMs - outbox.oldestPendingMs) / 1000);
      }
    }
    this.overdue.set(overdue);
    this.unsettled.set(unsettled);
    for (const poll of polls) {
      const success = poll.queryKey === PEER_RUN && poll.lastSuccessAt !== undefined ? Date.parse(poll.lastSuccessAt) : Number.NaN;
      if (Number.isFinite(success)) {
        this.pollerLag.set({ peer: peerLabel(poll.peer) }, Math.max(0, nowMs - success) / 1000);
      }
    }
    return true;
  }

  /** Labelled gauges forget destinations and peers that are gone. */
  private reset(): void {
    for (const gauge of [this.pending, this.dead, this.oldestPending, this.overdue, this.unsettled, this.pollerLag]) {
      gauge.reset();
    }
  }
}
