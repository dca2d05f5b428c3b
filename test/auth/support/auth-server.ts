// A carebridge server for authorization tests, and a way to call it as a given principal.
// Until the token endpoint lands the principal is put on the request by a test-only wrapper.
import type { Resource } from '@medplum/fhirtypes';
import express from 'express';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createApp } from '../../../src/api/app.ts';
import type { AuditTrail } from '../../../src/audit/audit-trail.ts';
import type { Principal } from '../../../src/auth/principal.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.ts';
import { loadDefinitions } from '../../../src/validation/definitions.ts';

export interface AuthTestServer {
  store: SqliteStore;
  /** Log lines the server wrote (JSON). */
  logs: string[];
  as: (principal: Principal) => (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: Resource | undefined; text?: string }>;
  stop: () => Promise<void>;
}

export async function startAuthTestServer(options: { auditTrail?: (store: SqliteStore) => AuditTrail; logLevel?: string } = {}): Promise<AuthTestServer> {
  loadDefinitions();
  const dir = mkdtempSync(join(tmpdir(), 'carebridge-auth-'));
  const store = await SqliteStore.open(join(dir, 'carebridge.db'));
  const principals = new Map<string, Principal>();
  const outer = express();
  outer.use((req, res, next) => {
    res.locals.principal = principals.get(req.get('x-test-principal') ?? '');
    next();
  });
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  outer.use(createApp({ store, logger: createLogger({ level: options.logLevel ?? 'warn', stream }), auditTrail: options.auditTrail?.(store) }));
  const server: Server = createServer(outer);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/fhir`;
  return {
    store,
    logs,
    as: (principal) => {
      principals.set(principal.clientId, principal);
      return async (method, path, body, headers = {}) => {
        const response = await fetch(`${base}/${path}`, {
          method,
          headers: { 'x-test-principal': principal.clientId, ...(body !== undefined ? { 'content-type': 'application/fhir+json' } : {}), ...headers },
          body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        });
        const text = await response.text();
        let parsed: Resource | undefined;
        try {
          parsed = text ? (JSON.parse(text) as Resource) : undefined;
        } catch {
          parsed = undefined;
        }
        return { status: response.status, body: parsed, text };
      };
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
