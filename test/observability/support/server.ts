// An in-process carebridge server for the observability tests: initServer on 127.0.0.1 and a
// SQLite file of its own, with the observability options under test. Unlike test/api's helper it
// keeps the store open after the server closed, so a test can read what was (not) recorded.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import type { RunningServer, ServerOptions } from '../../../src/api/server.ts';
import { initServer } from '../../../src/api/server.ts';
import type { Limits } from '../../../src/config/limits.ts';
import { createLogger } from '../../../src/log/logger.ts';
import type { FhirStore } from '../../../src/store/fhir-store.ts';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../../../src/validation/definitions.ts';
import type { TestClient } from '../../support/auth.ts';
import { adminClient, testAuthService, tokenFor } from '../../support/auth.ts';

export interface ObservedServer {
  url: string;
  store: FhirStore;
  file: string;
  /** The test admin's access token. */
  token: string;
  logs: string[];
  running: RunningServer;
  /** Stops the server (flushing its audit trail); the store stays open. */
  close: () => Promise<void>;
  /** Closes the store and removes its folder. */
  dispose: () => Promise<void>;
}

export async function startObservedServer(
  options: { clients?: TestClient[]; limits?: Partial<Limits>; observability?: ServerOptions['observability']; drainTimeoutMs?: number; wrapStore?: (store: FhirStore) => FhirStore } = {},
): Promise<ObservedServer> {
  loadDefinitions();
  const file = join(mkdtempSync(join(tmpdir(), 'carebridge-obs-')), 'carebridge.db');
  const store = await SqliteStore.open(file);
  const logs: string[] = [];
  const logger = createLogger({
    level: 'info',
    stream: new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    }),
  });
  const admin = await adminClient();
  const auth = await testAuthService(store, [admin, ...(options.clients ?? [])]);
  const running = await initServer({ store: options.wrapStore ? options.wrapStore(store) : store, logger, auth, port: 0, host: '127.0.0.1', limits: options.limits, observability: options.observability, drainTimeoutMs: options.drainTimeoutMs });
  const address = running.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  let closed = false;
  const close = async (): Promise<void> => {
    if (!closed) {
      closed = true;
      running.server.closeAllConnections();
      await running.close();
    }
  };
  const dispose = async (): Promise<void> => {
    await close();
    await store.close().catch(() => undefined);
    rmSync(dirname(file), { recursive: true, force: true });
  };
  let token: string;
  try {
    token = await tokenFor({ url }, admin);
  } catch (err) {
    await dispose();
    throw err;
  }
  return { url, store, file, token, logs, running, close, dispose };
}

/** The value of one sample in Prometheus text (`name{labels}`, labels in the order written), or undefined. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
