// A carebridge server for authorization tests, and a way to call it as a given principal: each
// principal becomes a registered client with its own key pair, and calls carry an access token
// from the server's real token endpoint (SMART Backend Services).
import type { Resource } from '@medplum/fhirtypes';
import { createServer } from 'node:http';
import type { ClockConfig } from '../../../src/config/clock.ts';
import type { Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createApp } from '../../../src/api/app.ts';
import type { AuditTrail } from '../../../src/audit/audit-trail.ts';
import type { Principal } from '../../../src/auth/principal.ts';
import { createLogger } from '../../../src/log/logger.ts';
import type { PayerDirectory } from '../../../src/sync/connectors/payers.ts';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../../../src/validation/definitions.ts';
import type { TestClient } from '../../support/auth.ts';
import { makeClient, testAuthService, tokenFor } from '../../support/auth.ts';

export type Call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: Resource | undefined; text?: string }>;

export type HttpCall = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: unknown; text: string; headers: Headers }>;

export interface AuthTestServer {
  /** http://127.0.0.1:<port> */
  url: string;
  store: SqliteStore;
  /** The SQLite file of the store (to inspect it from another connection). */
  database: string;
  /** Log lines the server wrote (JSON). */
  logs: string[];
  /** Calls /fhir/<path> as one of the principals the server was started with. */
  as: (principal: Principal) => Call;
  /** Calls any path of the server (/transitions, /fhir/…) as one of its principals; answers carry their headers. */
  http: (principal: Principal) => HttpCall;
  stop: () => Promise<void>;
}

export interface AuthTestServerOptions {
  /** The clients the server trusts, one per principal (same id, role, organization, scopes). */
  principals: Principal[];
  auditTrail?: (store: SqliteStore) => AuditTrail;
  logLevel?: string;
  /** Payers $check-eligibility asks. */
  payers?: PayerDirectory;
  /** The clock of the coverage operations and of /transitions' agency matching and choices. */
  clock?: () => Date;
  /** The TCM clock's holidays and hospital time zones. */
  tcmClock?: ClockConfig;
  /** The TCM clock's time (ms since the epoch). */
  now?: () => number;
}

export async function startAuthTestServer(options: AuthTestServerOptions): Promise<AuthTestServer> {
  loadDefinitions();
  const dir = mkdtempSync(join(tmpdir(), 'carebridge-auth-'));
  const database = join(dir, 'carebridge.db');
  const store = await SqliteStore.open(database);
  const clients = new Map<string, TestClient>();
  for (const p of options.principals) {
    if (!clients.has(p.clientId)) {
      clients.set(p.clientId, await makeClient(p.role, p.organization, p.scopes.map((s) => s.text), { clientId: p.clientId, name: p.clientName }));
    }
  }
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const auth = await testAuthService(store, [...clients.values()]);
  const app = createApp({ store, logger: createLogger({ level: options.logLevel ?? 'warn', stream }), auth, auditTrail: options.auditTrail?.(store), limits: { rateLimitPerMinute: 0 }, payers: options.payers, clock: options.clock, tcmClock: options.tcmClock, now: options.now });
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const tokens = new Map<string, Promise<string>>();
  const http = (principal: Principal): HttpCall => {
    const client = clients.get(principal.clientId);
    if (!client) {
      throw new Error(`${principal.clientId} is not one of the server's principals`);
    }
    return async (method, path, body, headers = {}) => {
      let token = tokens.get(principal.clientId);
      if (!token) {
        token = tokenFor({ url }, client);
        tokens.set(principal.clientId, token);
      }
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${await token}`, ...(body !== undefined ? { 'content-type': 'application/fhir+json' } : {}), ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: response.status, body: parsed, text, headers: response.headers };
    };
  };
  return {
    url,
    store,
    database,
    logs,
    as: (principal) => {
      const call = http(principal);
      return async (method, path, body, headers) => {
        const answer = await call(method, `/fhir/${path}`, body, headers);
        return { status: answer.status, body: answer.body as Resource | undefined, text: answer.text };
      };
    },
    http,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
