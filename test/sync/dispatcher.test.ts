// The dispatcher on a real SQLite store with a scripted deliverer (the port a peer sits behind):
// order per patient, retries and Retry-After, blocked destinations, dead letters and replay.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Resource } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../src/log/logger.ts';
import type { FhirStore, StoredVersion } from '../../src/store/fhir-store.ts';
import type { Delivery, OutboxRouter } from '../../src/store/outbox.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { PeerError } from '../../src/sync/connectors/peer-client.ts';
import type { Deliverer } from '../../src/sync/outbox/deliverer.ts';
import { Dispatcher, backoffMs } from '../../src/sync/outbox/dispatcher.ts';

const logger = createLogger({ stream: new PassThrough(), level: 'error' });

/** Every write goes to each destination, ordered by its patient. */
const router = (destinations: string[]): OutboxRouter => ({
  route: async (written, context) =>
    (
      await Promise.all(
        written.map(async (v) => {
          const patientId = await context.patientOf(v.resourceType, v.id);
          return destinations.map((destination) => ({ destination, patientId, resourceType: v.resourceType, resourceId: v.id, versionId: v.versionId }));
        }),
      )
    ).flat(),
});

type Script = (delivery: Delivery, current: StoredVersion | undefined) => Promise<void> | void;

class ScriptedPeer implements Deliverer {
  readonly received: { destination: string; patientId: string; resourceId: string; versionId: string; eventId: string }[] = [];
  script: Script = () => undefined;

  async deliver(delivery: Delivery, current: StoredVersion | undefined): Promise<{ sentVersionId: string }> {
    await this.script(delivery, current);
    this.received.push({ destination: delivery.destination, patientId: delivery.patientId, resourceId: delivery.resourceId, versionId: current?.versionId ?? delivery.versionId, eventId: delivery.eventId });
    return { sentVersionId: current?.versionId ?? delivery.versionId };
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const patient = (n: number): Resource => ({ resourceType: 'Patient', name: [{ family: `P${n}` }] });
const observation = (patientId: string, value: number): Resource => ({ resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: `Patient/${patientId}` }, valueQuantity: { value } });

let dir: string;
let store: FhirStore;
let peer: ScriptedPeer;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'carebridge-dispatcher-'));
  store = await SqliteStore.open(join(dir, 'carebridge.db'));
  store.configure({ outboxRouter: router(['agency', 'ehr']) });
  peer = new ScriptedPeer();
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function dispatcher(overrides: Partial<ConstructorParameters<typeof Dispatcher>[0]> = {}): Dispatcher {
  return new Dispatcher({ store, logger, delivererFor: (d) => (d === 'agency' || d === 'ehr' ? peer : undefined), retryFor: () => ({ initialDelayMs: 10, maxDelayMs: 40, windowHours: 1 }), idleMs: 10, ...overrides });
}

describe('Dispatcher', () => {
  it('delivers every change to every destination once, each patient in the order written, while sends overlap', async () => {
    const patients = [];
    for (let i = 0; i < 6; i += 1) {
      patients.push((await store.create(patient(i))).version.id);
    }
    const written: string[] = [];
    for (let round = 0; round < 5; round += 1) {
      for (const p of patients) {
        written.push((await store.create(observation(p, round))).version.id);
      }
    }
    let concurrent = 0;
    let most = 0;
    peer.script = async () => {
      concurrent += 1;
      most = Math.max(most, concurrent);
      await sleep(Math.random() * 5);
      concurrent -= 1;
    };
    await dispatcher({ maxInFlight: 8 }).drain();
    expect(peer.received).toHaveLength(2 * (6 + 30));
    expect(new Set(peer.received.map((r) => r.eventId)).size).toBe(peer.received.length);
    expect(most).toBeGreaterThan(1);
    for (const destination of ['agency', 'ehr']) {
      for (const p of patients) {
        const seen = peer.received.filter((r) => r.destination === destination && r.patientId === p).map((r) => r.resourceId);
        // The Patient first, then its observations in the order they were written.
        expect(seen).toEqual([p, ...written.filter((id) => seen.includes(id))]);
        expect(seen).toHaveLength(6);
      }
    }
    expect(await store.countDeliveries()).toEqual(expect.arrayContaining([expect.objectContaining({ destination: 'agency', pending: 0, delivered: 36 })]));
  });

  it('sends the newest state once when several versions wait', async () => {
    const { version } = await store.create(patient(1));
    for (let i = 2; i <= 4; i += 1) {
      await store.update({ ...(version.resource as Resource), name: [{ family: `P1-${i}` }] } as Resource);
    }
    await dispatcher().drain();
    expect(peer.received.filter((r) => r.destination === 'agency').map((r) => r.versionId)).toEqual(['4']);
    const rows = await store.listDeliveries({ destination: 'agency', limit: 10 });
    expect(rows.map((r) => r.state)).toEqual(['delivered', 'superseded', 'superseded', 'superseded']);
  });

  it('retries a failing peer with backoff, honours Retry-After, and holds the patient\'s later changes until then', async () => {
    const p = (await store.create(patient(1))).version.id;
    await store.create(observation(p, 1));
    let failures = 0;
    const started = Date.now();
    peer.script = (delivery) => {
      if (delivery.destination === 'agency' && failures < 2) {
        failures += 1;
        throw new PeerError('peer answered 503', 'retry', { status: 503, retryAfterMs: 80 });
      }
    };
    await dispatcher().drain({ untilSettled: true });
    const agency = peer.received.filter((r) => r.destination === 'agency');
    expect(agency.map((r) => r.resourceId)).toEqual([p, expect.any(String)]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(160);
    const [first] = await store.listDeliveries({ destination: 'agency', limit: 1 });
    expect(first).toMatchObject({ state: 'delivered', attempts: 3, lastError: 'peer answered 503', lastStatus: 503 });
  });

  it('dead-letters what a peer refuses for good without holding the rest back, and replay sends it', async () => {
    const p = (await store.create(patient(1))).version.id;
    await store.create(observation(p, 1));
    peer.script = (delivery) => {
      if (delivery.destination === 'agency' && delivery.resourceType === 'Patient') {
        throw new PeerError('peer refused an entry (422)', 'rejected', { status: 422 });
      }
    };
    await dispatcher().drain();
    expect(peer.received.filter((r) => r.destination === 'agency').map((r) => r.resourceId)).not.toContain(p);
    expect(await store.listDeliveries({ destination: 'agency', state: 'dead', limit: 10 })).toEqual([expect.objectContaining({ resourceId: p, lastStatus: 422 })]);
    peer.script = () => undefined;
    expect(await store.replayDeliveries({ destination: 'agency' })).toBe(1);
    await dispatcher().drain();
    expect(peer.received.filter((r) => r.destination === 'agency' && r.resourceId === p)).toHaveLength(1);
  });

  it('pauses a destination that refuses us (401/403/404) while the others go on', async () => {
    for (let i = 0; i < 3; i += 1) {
      await store.create(patient(i));
    }
    let refusals = 0;
    peer.script = (delivery) => {
      if (delivery.destination === 'agency') {
        refusals += 1;
        throw new PeerError('peer answered 401', 'blocked', { status: 401 });
      }
    };
    await dispatcher({ blockedProbeMs: 60_000 }).drain();
    expect(peer.received.filter((r) => r.destination === 'ehr')).toHaveLength(3);
    // One probe per paused destination and pass, not one per delivery and retry.
    expect(refusals).toBeLessThanOrEqual(3);
    const pending = await store.listDeliveries({ destination: 'agency', state: 'pending', limit: 10 });
    expect(pending).toHaveLength(3);
    expect(Math.min(...pending.map((d) => d.nextAttemptMs))).toBeGreaterThan(Date.now() + 50_000);
    // Fixed: the operator replays the destination and it all goes.
    peer.script = () => undefined;
    await store.replayDeliveries({ destination: 'agency' });
    await dispatcher().drain();
    expect(peer.received.filter((r) => r.destination === 'agency')).toHaveLength(3);
  });

  it('pauses a destination that keeps failing as a whole, and catches up at once when a probe gets through', async () => {
    for (let i = 0; i < 20; i += 1) {
      await store.create(patient(i));
    }
    let down = true;
    let attemptsWhileDown = 0;
    peer.script = (delivery) => {
      if (delivery.destination === 'agency' && down) {
        attemptsWhileDown += 1;
        throw new PeerError('peer agency answered 503', 'retry', { status: 503 });
      }
    };
    const running = dispatcher({ pauseAfterFailures: 3, outageProbeMs: 1000, retryFor: () => ({ initialDelayMs: 60_000, maxDelayMs: 60_000, windowHours: 1 }), maxInFlight: 4 });
    running.start();
    for (let i = 0; i < 250 && attemptsWhileDown < 3; i += 1) {
      await sleep(20);
    }
    // A few failures, then the pause: not twenty patients' queues retrying on their own.
    await sleep(100);
    const pausedAt = attemptsWhileDown;
    expect(pausedAt).toBeGreaterThanOrEqual(3);
    expect(pausedAt).toBeLessThanOrEqual(4 + 3);
    await sleep(200);
    expect(attemptsWhileDown).toBe(pausedAt);
    down = false;
    // Every row backs off for a minute on its own; the probe after a second succeeds and brings them all.
    const started = Date.now();
    for (let i = 0; i < 400 && peer.received.filter((r) => r.destination === 'agency').length < 20; i += 1) {
      await sleep(20);
    }
    await running.stop();
    expect(peer.received.filter((r) => r.destination === 'agency')).toHaveLength(20);
    expect(Date.now() - started).toBeLessThan(6000);
  });

  it('keeps an unexpected failure as its class, not its message, in what it stores of the delivery', async () => {
    store.configure({ outboxRouter: router(['agency']) });
    await store.create(patient(1));
    peer.script = () => {
      throw new TypeError('cannot read "Okonkwo-1958-03-14" of undefined');
    };
    await dispatcher({ retryFor: () => ({ initialDelayMs: 10, maxDelayMs: 20, windowHours: 0.1 / 3600 }) }).drain({ untilSettled: true });
    const dead = await store.listDeliveries({ state: 'dead', limit: 10 });
    expect(dead).toHaveLength(1);
    expect(dead[0]?.lastError).toContain('unexpected TypeError');
    expect(JSON.stringify(dead)).not.toContain('Okonkwo');
  });

  it('dead-letters after the retry window, and dead-letters deliveries to a destination no longer configured', async () => {
    store.configure({ outboxRouter: router(['agency', 'gone']) });
    await store.create(patient(1));
    peer.script = () => {
      throw new PeerError('peer unreachable (ECONNREFUSED)', 'retry');
    };
    await dispatcher({ retryFor: () => ({ initialDelayMs: 10, maxDelayMs: 20, windowHours: 0.1 / 3600 }) }).drain({ untilSettled: true });
    const dead = await store.listDeliveries({ state: 'dead', limit: 10 });
    expect(dead.map((d) => [d.destination, d.lastError?.split(';')[0]])).toEqual(
      expect.arrayContaining([
        ['agency', 'retry window of 0.0000278 h passed'],
        ['gone', 'destination gone is not configured'],
      ]),
    );
  });

  it('runs in the background, woken by new work, and stops after what is in flight settles', async () => {
    const running = dispatcher({ idleMs: 5_000 });
    running.start();
    await store.create(patient(1));
    running.wake();
    for (let i = 0; i < 100 && peer.received.length < 2; i += 1) {
      await sleep(10);
    }
    expect(peer.received).toHaveLength(2);
    await running.stop();
  });
});

describe('waking', () => {
  it('a wake that arrives while a claim is running is not lost: the next look comes at once, not after idleMs', async () => {
    // The claim that runs when the write commits finds nothing (it read before the commit); the
    // write's wake() lands while that claim is still under way.
    let claims = 0;
    const woken: { dispatcher?: Dispatcher } = {};
    const claimDeliveries = async (...args: Parameters<FhirStore['claimDeliveries']>): ReturnType<FhirStore['claimDeliveries']> => {
      claims += 1;
      const found = await store.claimDeliveries(...args);
      if (claims === 2) {
        await store.create(patient(7));
        woken.dispatcher?.wake();
        return [];
      }
      return found;
    };
    const racing = new Proxy(store, {
      get: (target, property) => {
        if (property === 'claimDeliveries') {
          return claimDeliveries;
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const running = new Dispatcher({ store: racing, logger, delivererFor: () => peer, idleMs: 60_000 });
    woken.dispatcher = running;
    running.start();
    try {
      await sleep(20);
      running.wake();
      // A lost wake waits out idleMs (60 s): 5 s tells the two apart on a loaded machine too.
      for (const deadline = Date.now() + 5000; Date.now() < deadline && peer.received.length < 2; ) {
        await sleep(10);
      }
      expect(claims).toBeGreaterThanOrEqual(3);
      expect(peer.received).toHaveLength(2);
    } finally {
      await running.stop();
    }
  }, 10_000);
});

describe('logging a failed claim', () => {
  it('names the error and its code, never its message (a database quotes the value it refused)', async () => {
    const lines: string[] = [];
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').trim().split('\n')));
    const failing = new Proxy(store, {
      get: (target, property) => {
        if (property === 'claimDeliveries') {
          return async () => {
            throw Object.assign(new Error('invalid input syntax for type uuid: "Okonkwo-1958-03-14"'), { code: '22P02' });
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const running = new Dispatcher({ store: failing, logger: createLogger({ stream, level: 'error' }), delivererFor: () => peer, idleMs: 10 });
    running.start();
    try {
      for (const deadline = Date.now() + 5000; Date.now() < deadline && lines.length === 0; ) {
        await sleep(10);
      }
    } finally {
      await running.stop();
    }
    expect(lines).not.toHaveLength(0);
    const line = JSON.parse(lines[0] as string) as { message: string; error: { name: string; code: string } };
    expect(line.message).toBe('outbox claim failed');
    expect(line.error).toMatchObject({ name: 'Error', code: '22P02' });
    expect(lines.join('\n')).not.toContain('Okonkwo');
  });
});

describe('backoffMs', () => {
  it('doubles from the initial delay up to the cap, with at most half of it random', () => {
    const policy = { initialDelayMs: 1000, maxDelayMs: 60_000, windowHours: 72 };
    expect(backoffMs(0, policy, () => 0)).toBe(500);
    expect(backoffMs(0, policy, () => 1)).toBe(1000);
    expect(backoffMs(3, policy, () => 1)).toBe(8000);
    expect(backoffMs(20, policy, () => 1)).toBe(60_000);
    expect(backoffMs(20, policy, () => 0)).toBe(30_000);
  });
});
