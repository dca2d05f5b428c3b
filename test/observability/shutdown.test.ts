// SIGTERM to a real `carebridge serve` (child process, SQLite file): it stops accepting
// connections, answers /readyz 503 while it drains, lets the request in flight finish with its
// 2xx, lets the delivery in flight settle, closes the store and exits 0; a request still in flight
// after the drain timeout has its connection cut, and the process still exits 0.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Patient } from '@medplum/fhirtypes';
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { SimulatedFhirPeer } from '../../src/sync/simulated/fhir-peer.ts';
import { startSimulatedFhirPeer } from '../../src/sync/simulated/fhir-peer.ts';
import type { TestClient } from '../support/auth.ts';
import { adminClient, makeClient, tokenFor, writeConfigFile } from '../support/auth.ts';
import { HOSPITAL_NPI, NPI, agencyNpi, broadcastPlan } from '../workflow/support/broadcast.ts';
import type { HoldingProxy } from './support/holding-proxy.ts';
import { startHoldingProxy } from './support/holding-proxy.ts';
import type { RawConnection } from './support/raw-http.ts';
import { openConnection, parseResponse, untilRefused } from './support/raw-http.ts';
import type { ServeChild } from './support/serve-child.ts';
import { startServe } from './support/serve-child.ts';

let dir: string;
let admin: TestClient;
let hospital: TestClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'carebridge-shutdown-'));
  admin = await adminClient();
  hospital = await makeClient('hospital', { system: NPI, value: HOSPITAL_NPI }, ['system/*.cruds'], { clientId: 'shutdown-hospital' });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** POST /fhir/Patient with Expect: 100-continue, the body held back: in flight once the server said "100 Continue". */
async function heldCreate(port: number, token: string, family: string): Promise<{ connection: RawConnection; finish: () => void }> {
  const body = JSON.stringify({ resourceType: 'Patient', name: [{ family, given: ['Ada'] }], gender: 'female' });
  const connection = await openConnection(port);
  connection.write(
    `POST /fhir/Patient HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/fhir+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n${body.slice(0, 10)}`,
  );
  await connection.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
  return { connection, finish: () => connection.write(body.slice(10)) };
}

async function patients(file: string): Promise<Patient[]> {
  const store = await SqliteStore.open(file);
  try {
    return (await store.search({ resourceType: 'Patient', count: 100 })).resources as Patient[];
  } finally {
    await store.close();
  }
}

function integrity(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    return (db.pragma('integrity_check', { simple: true }) as string) ?? '';
  } finally {
    db.close();
  }
}

describe('SIGTERM, one server process', () => {
  let peer: SimulatedFhirPeer;
  let proxy: HoldingProxy;
  let serve: ServeChild | undefined;
  let config: string;

  beforeAll(async () => {
    peer = await startSimulatedFhirPeer({ name: 'Charm City Home Health' });
    proxy = await startHoldingProxy(peer.baseUrl);
    config = writeConfigFile([admin, hospital], {
      peers: [{ name: 'charm-city', kind: 'agency', organization: { system: NPI, value: agencyNpi(0) }, fhirBaseUrl: proxy.baseUrl, push: { resourceTypes: ['Patient', 'CarePlan'] }, limits: { timeoutMs: 30_000 } }],
    });
  });

  afterAll(async () => {
    await serve?.kill();
    await proxy.close();
    await peer.close();
    rmSync(dirname(config), { recursive: true, force: true });
  });

  it('drains: /readyz 503, the request in flight answered 201, the delivery in flight settled, new connections refused, exit 0', async () => {
    const file = join(dir, 'one.db');
    serve = await startServe({ CAREBRIDGE_WORKERS: '1', CAREBRIDGE_DATABASE: `sqlite:${file}`, CAREBRIDGE_CONFIG: config, LOG_LEVEL: 'info' });
    const token = await tokenFor(serve, admin);
    // A plan to the agency: its first delivery reaches the peer and waits there for its answer.
    const pushed = await fetch(`${serve.url}/transitions`, { method: 'POST', headers: { authorization: `Bearer ${await tokenFor(serve, hospital)}`, 'content-type': 'application/json' }, body: JSON.stringify(broadcastPlan('shutdown', 1)) });
    expect(pushed.status).toBe(201);
    await proxy.firstArrived;

    // A probe whose headers are not finished yet, then a create in flight (the server has read its
    // headers, the body is still coming). The probe's bytes were there before the create's connection.
    const probe = await openConnection(serve.port);
    probe.write(`GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:${serve.port}\r\n`);
    const create = await heldCreate(serve.port, token, 'Inflight');

    serve.child.kill('SIGTERM');
    await untilRefused(serve.port);

    probe.write('\r\n');
    await probe.closed;
    const readiness = parseResponse(probe.received());
    expect(readiness.status).toBe(503);
    expect(readiness.headers.connection).toBe('close');
    expect(JSON.parse(readiness.body)).toMatchObject({ status: 'unavailable', failed: ['shutdown'] });

    create.finish();
    await create.connection.closed;
    const created = parseResponse(create.connection.received());
    expect(created.status).toBe(201);
    const id = (JSON.parse(created.body) as Patient).id;

    // The requests are done; the delivery it sent before SIGTERM has no answer yet: it waits, the store open.
    const drained = Date.now();
    while (!serve.output().includes('"message":"requests drained"') && Date.now() - drained < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(serve.output()).not.toContain('"message":"stopped"');
    expect(serve.child.exitCode).toBeNull();
    proxy.release();
    expect(await serve.exited).toEqual({ code: 0, signal: null });

    // Closed cleanly: the last connection folded the WAL into the file.
    expect(existsSync(`${file}-wal`)).toBe(false);
    expect(integrity(file)).toBe('ok');
    expect((await patients(file)).map((p) => p.id)).toContain(id);
    const store = await SqliteStore.open(file);
    try {
      const deliveries = await store.listDeliveries({ destination: 'charm-city', limit: 100 });
      const inFlight = deliveries.find((d) => d.eventId === proxy.eventIds[0]);
      expect(inFlight?.state).toBe('delivered');
      // Nothing left leased: what was not sent waits as pending for the next start.
      expect(deliveries.filter((d) => d.state === 'pending').every((d) => d.attempts === 0)).toBe(true);
    } finally {
      await store.close();
    }
  }, 90_000);

  it('a request still in flight after the drain timeout: its connection is cut, the process exits 0', async () => {
    const file = join(dir, 'timeout.db');
    const adminOnly = writeConfigFile([admin]);
    serve = await startServe({ CAREBRIDGE_WORKERS: '1', CAREBRIDGE_DATABASE: `sqlite:${file}`, CAREBRIDGE_CONFIG: adminOnly, CAREBRIDGE_DRAIN_TIMEOUT_MS: '300' });
    rmSync(dirname(adminOnly), { recursive: true, force: true });
    const create = await heldCreate(serve.port, await tokenFor(serve, admin), 'Stalled');
    const signalled = Date.now();
    serve.child.kill('SIGTERM');
    await create.connection.closed;
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(300);
    expect(create.connection.received()).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    expect(await serve.exited).toEqual({ code: 0, signal: null });
    expect(integrity(file)).toBe('ok');
    expect(await patients(file)).toEqual([]);
  }, 60_000);
});

describe('SIGTERM, a cluster of two workers', () => {
  let serve: ServeChild | undefined;

  afterAll(async () => {
    await serve?.kill();
  });

  it('every worker drains: the request in flight answered 201, new connections refused, exit 0, the file consistent', async () => {
    const file = join(dir, 'cluster.db');
    const config = writeConfigFile([admin]);
    try {
      serve = await startServe({ CAREBRIDGE_WORKERS: '2', CAREBRIDGE_DATABASE: `sqlite:${file}`, CAREBRIDGE_CONFIG: config });
      const token = await tokenFor(serve, admin);
      const create = await heldCreate(serve.port, token, 'Clustered');
      serve.child.kill('SIGTERM');
      await untilRefused(serve.port);
      create.finish();
      await create.connection.closed;
      const created = parseResponse(create.connection.received());
      expect(created.status).toBe(201);
      expect(await serve.exited).toEqual({ code: 0, signal: null });
      expect(existsSync(`${file}-wal`)).toBe(false);
      expect(integrity(file)).toBe('ok');
      expect((await patients(file)).map((p) => p.id)).toEqual([(JSON.parse(created.body) as Patient).id]);
    } finally {
      rmSync(dirname(config), { recursive: true, force: true });
    }
  }, 90_000);
});
