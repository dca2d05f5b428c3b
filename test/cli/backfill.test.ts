// carebridge backfill against a simulated EHR (a real FHIR server on 127.0.0.1) seeded across
// dates, into a real SQLite file, with the peer from a real config file: only the range is stored,
// a second run stores nothing twice, the poller's cursor and health stay as they were, an invalid
// resource is counted and skipped, and a peer going down (or an interrupt) keeps what was stored.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Encounter, Resource } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli.ts';
import type { BackfillOptions, BackfillSummary as Summary } from '../../src/cli/backfill-command.ts';
import { parseBound, runBackfill } from '../../src/cli/backfill-command.ts';
import type { FhirStore } from '../../src/store/fhir-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { SimulatedFhirPeer } from '../../src/sync/simulated/fhir-peer.ts';
import { startSimulatedFhirPeer } from '../../src/sync/simulated/fhir-peer.ts';
import { capture } from './support/capture.ts';
import { RIVERSIDE, capturingLogger, copiesOf, encounter, patient, peerIdsOf } from '../sync/poller/support/poll-fixtures.ts';

const QUERY = 'Encounter?status=finished';
const PEER = 'riverside-ehr';
/** The scheduled poller's cursor, set before every backfill: it must still be there after. */
const POLLER_CURSOR = '2026-12-20T00:00:00.000Z';

let peer: SimulatedFhirPeer;
let dir: string;
let env: NodeJS.ProcessEnv;
let database: string;

async function backfill(argv: { since: string; until?: string }, options: BackfillOptions = {}): Promise<{ code: number; summary: Summary; errors: string[] }> {
  const io = capture();
  const code = await runBackfill({ peer: PEER, since: argv.since, until: argv.until, json: true }, io, env, { tty: false, logger: capturingLogger().logger, ...options });
  return { code, summary: JSON.parse(io.lines.join('\n')) as Summary, errors: io.errors };
}

async function withStore<T>(work: (store: FhirStore) => Promise<T>): Promise<T> {
  const store = await SqliteStore.open(database);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

async function seed(resource: Resource, lastUpdated: string): Promise<void> {
  await peer.repo.withSeeding(() => peer.repo.updateResource({ ...resource, meta: { versionId: '1', lastUpdated } }));
}

/** A fetch that calls `onSearch(n)` before the n-th search of Encounters reaches the peer. */
function fetchWith(onSearch: (n: number) => void): typeof fetch {
  let searches = 0;
  return (input, init) => {
    if (String(input instanceof Request ? input.url : input).includes('/Encounter?')) {
      searches += 1;
      onSearch(searches);
    }
    return fetch(input, init);
  };
}

beforeAll(async () => {
  peer = await startSimulatedFhirPeer({ name: 'Riverside EHR (simulated)' });
  await seed(patient('p1'), '2026-10-01T09:00:00.000Z');
  await seed(encounter('e-october', 'Patient/p1'), '2026-10-15T09:00:00.000Z');
  await seed(encounter('e1', 'Patient/p1'), '2026-11-02T08:00:00.000Z');
  // Two in one instant, on either side of a page boundary (pages of 2): read again, counted once.
  await seed(encounter('e2', 'Patient/p1'), '2026-11-03T10:00:00.000Z');
  await seed(encounter('e3', 'Patient/p1'), '2026-11-03T10:00:00.000Z');
  // Invalid as the EHR holds it: an Encounter needs a class.
  const { class: _class, ...classless } = encounter('e4-invalid', 'Patient/p1');
  await seed(classless as Encounter, '2026-11-04T11:00:00.000Z');
  await seed(encounter('e5', 'Patient/p1'), '2026-11-05T12:00:00.000Z');
  await seed(encounter('e-december', 'Patient/p1'), '2026-12-01T09:00:00.000Z');
  // In the range but not what the query asks for.
  await seed(encounter('e-in-progress', 'Patient/p1', { status: 'in-progress' }), '2026-11-06T09:00:00.000Z');
});

afterAll(async () => {
  await peer?.close();
});

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'carebridge-backfill-'));
  database = join(dir, 'carebridge.db');
  const config = join(dir, 'carebridge.json');
  writeFileSync(config, JSON.stringify({ clients: [], peers: [{ name: PEER, kind: 'ehr', organization: RIVERSIDE, fhirBaseUrl: peer.baseUrl, pull: { queries: [QUERY], schedule: '0 7 * * *', pageSize: 2 }, limits: { timeoutMs: 2000 } }] }));
  env = { CAREBRIDGE_DATABASE: `sqlite:${database}`, CAREBRIDGE_CONFIG: config };
  await withStore(async (store) => {
    await store.transaction((tx) => tx.writeCursor(PEER, QUERY, POLLER_CURSOR));
    await store.recordPollRun(PEER, QUERY, { startedAt: '2026-12-20T07:00:00.000Z', finishedAt: '2026-12-20T07:00:05.000Z', ok: true, stored: 3, skipped: 0 });
  });
  peer.setDown(false);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('carebridge backfill', () => {
  it('stores only the range, skips and counts an invalid resource, and leaves the poller where it was', async () => {
    const before = await withStore((store) => store.pollStatus(PEER));
    const first = await backfill({ since: '2026-11-01', until: '2026-11-10' });
    expect(first.code).toBe(0);
    // e1, e2, e3, the invalid e4 and e5; the patient they reference came by a read of its own.
    expect(first.summary).toMatchObject({ ok: true, stopped: false, fetched: 5, stored: 5, skipped: 1, referenced: 1, errors: [] });
    expect(first.errors.at(-1)).toMatch(/^backfill Encounter\?status=finished \[#{24}\] 100% 5\/5 \d+\/s in \d+s$/);
    await withStore(async (store) => {
      expect(await peerIdsOf(store, peer.baseUrl, 'Encounter')).toEqual(['e1', 'e2', 'e3', 'e5']);
      expect(await peerIdsOf(store, peer.baseUrl, 'Patient')).toEqual(['p1']);
      expect(await store.readCursor(PEER, QUERY)).toBe(POLLER_CURSOR);
      expect(await store.pollStatus(PEER)).toEqual(before);
    });

    const again = await backfill({ since: '2026-11-01', until: '2026-11-10' });
    expect(again.code).toBe(0);
    expect(again.summary).toMatchObject({ ok: true, fetched: 5, stored: 0, skipped: 1, referenced: 0 });
    await withStore(async (store) => {
      expect(await peerIdsOf(store, peer.baseUrl, 'Encounter')).toEqual(['e1', 'e2', 'e3', 'e5']);
      // Nothing stored twice: every copy is still its first version.
      const versions = [...(await copiesOf(store, 'Encounter')), ...(await copiesOf(store, 'Patient'))].map((r) => r.meta?.versionId);
      expect(versions).toEqual(['1', '1', '1', '1', '1']);
    });
  });

  it('takes instants as bounds: the end is not included', async () => {
    const { code, summary } = await backfill({ since: '2026-11-03T10:00:00Z', until: '2026-11-05T12:00:00Z' });
    expect(code).toBe(0);
    expect(summary).toMatchObject({ fetched: 3, skipped: 1 });
    expect(await withStore((store) => peerIdsOf(store, peer.baseUrl, 'Encounter'))).toEqual(['e2', 'e3']);
  });

  it('keeps what it stored when the peer goes down mid-range, exits 3, and a second run completes it without duplicates', async () => {
    const down = await backfill({ since: '2026-11-01', until: '2026-11-10' }, { client: { fetch: fetchWith((n) => n === 3 && peer.setDown('unavailable')) } });
    expect(down.code).toBe(3);
    expect(down.summary.ok).toBe(false);
    expect(down.summary.errors).toEqual([{ query: QUERY, error: expect.stringMatching(/answered 503/) }]);
    const kept = await withStore((store) => peerIdsOf(store, peer.baseUrl, 'Encounter'));
    // Two pages committed before the outage: e1 and e2, then e3 (e2 again: the cursor's instant).
    expect(kept).toEqual(['e1', 'e2', 'e3']);
    expect(down.summary.stored).toBe(kept.length + 1);

    peer.setDown(false);
    const rest = await backfill({ since: '2026-11-01', until: '2026-11-10' });
    expect(rest.code).toBe(0);
    expect(rest.summary).toMatchObject({ ok: true, fetched: 5, stored: 1, skipped: 1 });
    await withStore(async (store) => {
      expect(await peerIdsOf(store, peer.baseUrl, 'Encounter')).toEqual(['e1', 'e2', 'e3', 'e5']);
      expect(await store.readCursor(PEER, QUERY)).toBe(POLLER_CURSOR);
    });
  });

  it('stops after the page it is on when interrupted, exits 1, and keeps that page', async () => {
    const controller = new AbortController();
    const stopped = await backfill({ since: '2026-11-01', until: '2026-11-10' }, { signal: controller.signal, client: { fetch: fetchWith((n) => n === 1 && controller.abort()) } });
    expect(stopped.code).toBe(1);
    expect(stopped.summary).toMatchObject({ ok: false, stopped: true, fetched: 2 });
    expect(await withStore((store) => peerIdsOf(store, peer.baseUrl, 'Encounter'))).toEqual(['e1', 'e2']);
  });

  it('refuses bad usage with exit code 2, and an unreachable store with 3', async () => {
    const usage = async (argv: string[], withEnv: NodeJS.ProcessEnv = env): Promise<number> => {
      const saved = process.env;
      process.env = withEnv;
      try {
        return await main(['backfill', ...argv], capture());
      } finally {
        process.env = saved;
      }
    };
    expect(await usage(['--peer', PEER])).toBe(2);
    expect(await usage(['--since', '2026-11-01'])).toBe(2);
    expect(await usage(['--peer', PEER, '--since', '2026-02-30'])).toBe(2);
    expect(await usage(['--peer', PEER, '--since', '2026-11-10', '--until', '2026-11-01'])).toBe(2);
    expect(await usage(['--peer', 'nobody', '--since', '2026-11-01'])).toBe(2);
    expect(await usage(['--peer', PEER, '--since', '2026-11-01'], { CAREBRIDGE_DATABASE: env.CAREBRIDGE_DATABASE })).toBe(2);
    expect(await usage(['--peer', PEER, '--since', '2026-11-01'], { ...env, CAREBRIDGE_DATABASE: 'postgres://carebridge@127.0.0.1:1/carebridge' })).toBe(3);
  });
});

describe('backfill bounds', () => {
  it('reads days as their UTC start and instants with a zone; refuses the rest', () => {
    expect(parseBound('2026-11-01')).toBe('2026-11-01T00:00:00.000Z');
    expect(parseBound('2026-11-01T08:30:00-05:00')).toBe('2026-11-01T13:30:00.000Z');
    for (const bad of ['2026-02-30', '2026-11-01T08:00:00', 'yesterday', '2026-13-01', '']) {
      expect({ bad, parsed: parseBound(bad) }).toEqual({ bad, parsed: undefined });
    }
  });
});
