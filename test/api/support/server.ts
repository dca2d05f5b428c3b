// Real carebridge servers for API tests: initServer on 127.0.0.1, an ephemeral port, and a fresh
// store (a SQLite file in its own temp folder, or a PostgreSQL schema of its own, dropped after).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { RunningServer } from '../../../src/api/server.ts';
import type { Limits } from '../../../src/config/limits.ts';
import { initServer } from '../../../src/api/server.ts';
import { createLogger } from '../../../src/log/logger.ts';
import type { FhirStore } from '../../../src/store/fhir-store.ts';
import { PostgresStore } from '../../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../../../src/validation/definitions.ts';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestServer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** http://127.0.0.1:<port>/fhir */
  fhir: string;
  store: FhirStore;
  /** CAREBRIDGE_DATABASE for another process to share this store. */
  database: string;
  /** Log lines written while the server ran (JSON, one per entry). */
  logs: string[];
  stop: () => Promise<void>;
}

/** A schema name no other run uses: PostgreSQL-backed tests own theirs and drop it at the end. */
export function uniqueSchema(prefix = 'carebridge_api'): string {
  return `${prefix}_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
}

/** What a test may change about the server it starts. */
export interface ServeOptions {
  /** Body size, timeout, rate limit, CORS; the production defaults otherwise. */
  limits?: Partial<Limits>;
  /** Wraps the store the server uses (a slow or failing store, to test what the server does then). */
  wrapStore?: (store: FhirStore) => FhirStore;
}

async function serve(store: FhirStore, database: string, cleanup: () => Promise<void>, logLevel = 'warn', options: ServeOptions = {}): Promise<TestServer> {
  loadDefinitions();
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ level: logLevel, stream });
  let running: RunningServer;
  try {
    running = await initServer({ store: options.wrapStore ? options.wrapStore(store) : store, logger, port: 0, host: '127.0.0.1', limits: options.limits });
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    url: running.url,
    fhir: `${running.url}/fhir`,
    store,
    database,
    logs,
    stop: async () => {
      running.server.closeAllConnections();
      await running.close();
      await cleanup();
      logger.close();
    },
  };
}

/** A server on a new SQLite file in a temp folder (removed on stop); logs kept from `logLevel` up. */
export async function startSqliteServer(logLevel = 'warn', options: ServeOptions = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'carebridge-api-'));
  const file = join(dir, 'carebridge.db');
  const store = await SqliteStore.open(file);
  return serve(
    store,
    `sqlite:${file}`,
    async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
    logLevel,
    options,
  );
}

/** A server on a PostgreSQL schema of its own, dropped on stop (stop other users of it first). */
export async function startPostgresServer(schema = uniqueSchema()): Promise<TestServer & { schema: string }> {
  const store = await PostgresStore.open(DATABASE_URL, { schema });
  const url = new URL(DATABASE_URL);
  url.searchParams.set('schema', schema);
  const server = await serve(store, url.toString(), async () => {
    await store.dropSchema(schema);
    await store.close();
  });
  return { ...server, schema };
}

export interface FhirExchange<T> {
  status: number;
  headers: Headers;
  /** The parsed JSON body (undefined when empty or not JSON). */
  body: T;
  text: string;
}

/** fetch against /fhir with a relative path, JSON in and out. */
export async function fhirFetch<T extends Resource = Bundle>(server: TestServer, path: string, init: RequestInit & { json?: unknown } = {}): Promise<FhirExchange<T>> {
  const { json, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (json !== undefined && !headers.has('content-type')) {
    headers.set('content-type', 'application/fhir+json');
  }
  const response = await fetch(`${server.fhir}/${path.replace(/^\//, '')}`, { ...rest, headers, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, body: body as T, text };
}
