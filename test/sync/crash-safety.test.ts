// Crash safety of the outbox: carebridge runs as a child process (`carebridge serve`, SQLite file,
// a config with one agency peer), 500 plans are pushed to it while the agency's FHIR server
// receives, and it is killed with SIGKILL at random moments (more than 20 times) and restarted
// each time. At the end every change is at the peer, nothing is there twice, and each patient's
// changes arrived in the order carebridge wrote them.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseSearchRequest } from '@medplum/core';
import type { CarePlan, Patient } from '@medplum/fhirtypes';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort } from '../api/support/child-server.ts';
import type { TestClient } from '../support/auth.ts';
import { makeClient, tokenFor, writeConfigFile } from '../support/auth.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { CAREBRIDGE_RESOURCE_SYSTEM } from '../../src/sync/identity.ts';
import type { SimulatedFhirPeer } from '../../src/sync/simulated/fhir-peer.ts';
import { startSimulatedFhirPeer } from '../../src/sync/simulated/fhir-peer.ts';
import { HOSPITAL_NPI, NPI, agencyNpi, broadcastPlan } from '../workflow/support/broadcast.ts';

const PLANS = 500;
const KILLS = 22;
const PUSHERS = 4;

let dir: string;
let peer: SimulatedFhirPeer;
let hospital: TestClient;
let config: string;
let port: number;
let child: ChildProcess | undefined;
let url: string;

function exited(process: ChildProcess): Promise<void> {
  return process.exitCode !== null || process.signalCode !== null ? Promise.resolve() : new Promise((resolve) => process.once('exit', () => resolve()));
}

/** Starts `carebridge serve` on the fixed port and file; resolves once it listens. */
async function start(): Promise<void> {
  const { PUBLIC_URL: _p, CAREBRIDGE_DEV_MODE: _d, ...env } = process.env;
  const started = spawn(process.execPath, ['bin/carebridge.js', 'serve'], {
    cwd: new URL('../../', import.meta.url),
    env: { ...env, PORT: String(port), HOST: '127.0.0.1', CAREBRIDGE_WORKERS: '1', CAREBRIDGE_DATABASE: `sqlite:${join(dir, 'carebridge.db')}`, CAREBRIDGE_CONFIG: config, LOG_LEVEL: 'error' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = started;
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`carebridge serve did not start:\n${output}`)), 30_000);
    started.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('carebridge listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    started.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    started.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`carebridge serve exited (${code ?? signal}):\n${output}`));
    });
  });
}

async function kill(): Promise<void> {
  const running = child;
  running?.kill('SIGKILL');
  if (running) {
    await exited(running);
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'carebridge-crash-'));
  peer = await startSimulatedFhirPeer({ name: 'Charm City Home Health' });
  hospital = await makeClient('hospital', { system: NPI, value: HOSPITAL_NPI }, ['system/*.cruds'], { clientId: 'crash-hospital' });
  config = writeConfigFile([hospital], {
    peers: [{ name: 'charm-city', kind: 'agency', organization: { system: NPI, value: agencyNpi(0) }, fhirBaseUrl: peer.baseUrl, push: { resourceTypes: ['Patient', 'CarePlan'] }, limits: { timeoutMs: 2000, retry: { initialDelayMs: 50, maxDelayMs: 500 } } }],
  });
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  await start();
}, 60_000);

afterAll(async () => {
  await kill();
  await peer?.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(dirname(config), { recursive: true, force: true });
});

/** Pushes plan `i` until carebridge has it (a push cut off by a kill is pushed again: same plan identifier, same transition). */
async function pushUntilStored(i: number, token: () => Promise<string>): Promise<void> {
  const plan = broadcastPlan(`crash-${i}`, 1);
  for (;;) {
    try {
      const response = await fetch(`${url}/transitions`, { method: 'POST', headers: { authorization: `Bearer ${await token()}`, 'content-type': 'application/json' }, body: JSON.stringify(plan) });
      await response.text();
      if (response.status === 201 || response.status === 200) {
        return;
      }
      if (response.status !== 503 && response.status !== 401) {
        throw new Error(`push ${i} answered ${response.status}`);
      }
    } catch (err) {
      if ((err as Error).message.startsWith('push ')) {
        throw err;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the outbox through SIGKILLs', () => {
  it(`delivers ${PLANS} plans to the agency exactly once in effect and in order, across ${KILLS} kills`, async () => {
    // Tokens outlive restarts: the signing key is kept in the store.
    let cached: Promise<string> | undefined;
    const token = async (): Promise<string> => {
      for (;;) {
        try {
          cached ??= tokenFor({ url }, hospital);
          return await cached;
        } catch {
          cached = undefined;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    };
    let next = 0;
    let pushed = 0;
    const pushers = Array.from({ length: PUSHERS }, async () => {
      while (next < PLANS) {
        const i = next;
        next += 1;
        await pushUntilStored(i, token);
        pushed += 1;
      }
    });
    let kills = 0;
    const killer = (async () => {
      while (kills < KILLS) {
        await new Promise((resolve) => setTimeout(resolve, 150 + Math.random() * 600));
        await kill();
        kills += 1;
        await start();
      }
    })();
    await Promise.all([...pushers, killer]);
    expect(pushed).toBe(PLANS);
    expect(kills).toBe(KILLS);

    // Let the last incarnation send what is left.
    const store = await SqliteStore.open(join(dir, 'carebridge.db'));
    try {
      const deadline = Date.now() + 240_000;
      let counts = await store.countDeliveries();
      while (counts.some((c) => c.pending > 0) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        counts = await store.countDeliveries();
      }
      expect(counts).toEqual([expect.objectContaining({ destination: 'charm-city', pending: 0, dead: 0 })]);

      // carebridge holds each plan once; the peer holds each of carebridge's resources once, as it is now.
      const ours = (await store.search({ resourceType: 'CarePlan', count: 1000 })).resources as CarePlan[];
      expect(ours).toHaveLength(PLANS);
      const theirPlans = (await peer.repo.searchResources(parseSearchRequest('CarePlan?_count=5000'))) as CarePlan[];
      const theirPatients = (await peer.repo.searchResources(parseSearchRequest('Patient?_count=5000'))) as Patient[];
      expect(theirPlans).toHaveLength(PLANS);
      expect(theirPatients).toHaveLength(PLANS);
      const byOurId = new Map(theirPlans.map((p) => [p.identifier?.find((i) => i.system === CAREBRIDGE_RESOURCE_SYSTEM)?.value, p]));
      for (const plan of ours) {
        const theirs = byOurId.get(`CarePlan/${plan.id}`);
        expect({ id: plan.id, status: theirs?.status, activities: theirs?.activity?.length, title: theirs?.title }).toEqual({ id: plan.id, status: plan.status, activities: plan.activity?.length, title: plan.title });
      }

      // Order per patient: the first arrival of each delivery's event id at the peer follows outbox order.
      const rows = await store.listDeliveries({ destination: 'charm-city', limit: 100_000 });
      const rowOfEvent = new Map(rows.map((r) => [r.eventId, r]));
      const lastArrived = new Map<string, number>();
      const firstSeen = new Set<string>();
      for (const request of peer.requests) {
        const eventId = request.headers['x-carebridge-event-id'];
        const row = eventId ? rowOfEvent.get(eventId) : undefined;
        if (!row || firstSeen.has(row.eventId) || request.status === undefined || request.status >= 300) {
          continue;
        }
        firstSeen.add(row.eventId);
        expect(row.id).toBeGreaterThan(lastArrived.get(row.patientId) ?? 0);
        lastArrived.set(row.patientId, row.id);
      }
      expect(rows.filter((r) => r.state === 'delivered').every((r) => firstSeen.has(r.eventId))).toBe(true);
    } finally {
      await store.close();
    }
  }, 400_000);
});
