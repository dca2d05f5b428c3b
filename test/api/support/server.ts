// Real carebridge servers for API tests: initServer on 127.0.0.1, an ephemeral port, and a fresh
// store (a SQLite file in its own temp folder, or a PostgreSQL schema of its own, dropped after).
// Authentication is on, as in production: the server trusts the test admin client (and any
// clients passed in), and fhirFetch sends the admin's token unless told otherwise.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { RunningServer } from '../../../src/api/server.ts';
import type { ClockConfig } from '../../../src/config/clock.ts';
import type { Limits } from '../../../src/config/limits.ts';
import { initServer } from '../../../src/api/server.ts';
import { createLogger } from '../../../src/log/logger.ts';
import type { FhirStore } from '../../../src/store/fhir-store.ts';
import { PostgresStore } from '../../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../../../src/validation/definitions.ts';
import type { TestClient } from '../../support/auth.ts';
import { adminClient, testAuthService, tokenFor } from '../../support/auth.ts';

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
  /** An access token of the test admin client (system/*.cruds), from the server's token endpoint. */
  token: string;
  /** The token endpoint URL assertions must name (PUBLIC_URL-based when one is set). */
  tokenUrl: string;
  stop: () => Promise<void>;
}

export interface TestServerOptions {
  /** Logs kept from this level up (default warn). */
  logLevel?: string;
  /** Clients trusted besides the test admin (test/support/auth.ts makeClient). */
  clients?: TestClient[];
  /** PUBLIC_URL: the base several instances agree on (token URL, token issuer and audience). */
  publicUrl?: string;
  devMode?: boolean;
  /** Body size, timeout, rate limit, CORS; the production defaults otherwise. */
  limits?: Partial<Limits>;
  /** Wraps the store the server uses (a slow or failing store, to test what the server does then). */
  wrapStore?: (store: FhirStore) => FhirStore;
  /** The TCM clock's holidays and hospital time zones. */
  clock?: ClockConfig;
  /** The server's now (the board's TCM clock, coverage checks); the wall clock by default. */
  now?: () => Date;
}

/** A schema name no other run uses: PostgreSQL-backed tests own theirs and drop it at the end. */
export function uniqueSchema(prefix = 'carebridge_api'): string {
  return `${prefix}_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
}

async function serve(store: FhirStore, database: string, cleanup: () => Promise<void>, options: TestServerOptions = {}): Promise<TestServer> {
  loadDefinitions();
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ level: options.logLevel ?? 'warn', stream });
  let running: RunningServer;
  const admin = await adminClient();
  try {
    const auth = await testAuthService(store, [admin, ...(options.clients ?? [])], { devMode: options.devMode });
    running = await initServer({ store: options.wrapStore ? options.wrapStore(store) : store, logger, auth, port: 0, host: '127.0.0.1', publicUrl: options.publicUrl, limits: options.limits, tcmClock: options.clock, clock: options.now });
  } catch (err) {
    await cleanup();
    throw err;
  }
  const address = running.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const tokenUrl = `${options.publicUrl ?? url}/auth/token`;
  const stop = async (): Promise<void> => {
    running.server.closeAllConnections();
    await running.close();
    await cleanup();
    logger.close();
  };
  let token: string;
  try {
    token = await tokenFor({ url, tokenUrl }, admin);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, fhir: `${url}/fhir`, store, database, logs, token, tokenUrl, stop };
}

/** A server on a new SQLite file in a temp folder (removed on stop); logs kept from `logLevel` up. */
export async function startSqliteServer(logLevel = 'warn', options: TestServerOptions = {}): Promise<TestServer> {
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
    { logLevel, ...options },
  );
}

/**
 * A server on a PostgreSQL schema of its own, dropped on stop (stop other users of it first).
 * With `shared: true` the schema is another server's: this one only closes its connections.
 */
export async function startPostgresServer(schema = uniqueSchema(), options: TestServerOptions & { shared?: boolean } = {}): Promise<TestServer & { schema: string }> {
  const store = await PostgresStore.open(DATABASE_URL, { schema });
  const url = new URL(DATABASE_URL);
  url.searchParams.set('schema', schema);
  const server = await serve(
    store,
    url.toString(),
    async () => {
      if (!options.shared) {
        await store.dropSchema(schema);
      }
      await store.close();
    },
    options,
  );
  return { ...server, schema };
}

export interface FhirExchange<T> {
  status: number;
  headers: Headers;
  /** The parsed JSON body (undefined when empty or not JSON). */
  body: T;
  text: string;
}

/**
 * fetch against /fhir with a relative path, JSON in and out, as the test admin client unless
 * `token` names another access token (or null: no Authorization header at all).
 */
export async function fhirFetch<T extends Resource = Bundle>(server: TestServer, path: string, init: RequestInit & { json?: unknown; token?: string | null } = {}): Promise<FhirExchange<T>> {
  const { json, token, ...rest } = init;
  const headers = new Headers(rest.headers);
  const bearer = token === undefined ? server.token : token;
  if (bearer !== null && !headers.has('authorization')) {
    headers.set('authorization', `Bearer ${bearer}`);
  }
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
