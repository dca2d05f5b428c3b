// initServer / closeServer: listen, and on shutdown stop accepting, finish in-flight requests.
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type { ClockConfig } from '../config/clock.ts';
import type { Limits } from '../config/limits.ts';
import type { AuthService } from '../auth/auth-service.ts';
import type { Logger } from '../log/logger.ts';
import type { FhirStore } from '../store/fhir-store.ts';
import { AuditTrail } from '../audit/audit-trail.ts';
import { createApp } from './app.ts';
import type { PayerDirectory } from '../sync/connectors/payers.ts';
import { securityHeaderLines } from './hardening/security-headers.ts';

export interface RunningServer {
  server: Server;
  url: string;
  close: () => Promise<void>;
}

/** How often the audit trail's deferred index rows are written, when nobody searched them first. */
const DEFERRED_INDEX_INTERVAL_MS = 500;

/**
 * Writes deferred index rows in the background, a batch per transaction, yielding between batches
 * so requests interleave; one pass at a time.
 */
function startDeferredIndexer(store: FhirStore, logger: Logger): { stop: () => Promise<void> } {
  let running: Promise<void> | undefined;
  let stopped = false;
  const pass = async (): Promise<void> => {
    try {
      while (!stopped && (await store.indexDeferred()) > 0) {
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (err) {
      logger.error('deferred indexing failed', { error: err });
    }
  };
  const timer = setInterval(() => {
    running ??= pass().finally(() => (running = undefined));
  }, DEFERRED_INDEX_INTERVAL_MS);
  timer.unref();
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

export async function initServer(options: { store: FhirStore; logger: Logger; auth: AuthService; port: number; host?: string; publicUrl?: string; version?: string; limits?: Partial<Limits>; auditSite?: string; deferredIndexer?: boolean; payers?: PayerDirectory; clock?: () => Date; tcmClock?: ClockConfig }): Promise<RunningServer> {
  const auditTrail = new AuditTrail(options.store);
  // Off in all but one worker of a cluster (serve-command); searches still catch up by themselves.
  const indexer = options.deferredIndexer === false ? { stop: () => Promise.resolve() } : startDeferredIndexer(options.store, options.logger);
  const app = createApp({ ...options, auditTrail });
  const server = createServer(app);
  // Slow or stalled clients do not hold a connection forever.
  server.requestTimeout = 60_000;
  server.headersTimeout = 20_000;
  server.keepAliveTimeout = 5_000;
  // Requests Node refuses before express sees them (headers too large, malformed HTTP) still get
  // a FHIR answer, not an empty body, with the same security headers as any other answer.
  const securityHeaders = securityHeaderLines().map((line) => `${line}\r\n`).join('');
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) {
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const text = status === 431 ? 'Request headers too large' : status === 408 ? 'Request timeout' : 'Malformed HTTP request';
    const body = JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: status === 408 ? 'timeout' : 'invalid', details: { text } }] });
    socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/fhir+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n${securityHeaders}\r\n${body}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const url = options.publicUrl ?? `http://${options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1'}:${port}`;
  options.logger.info('listening', { url, store: options.store.kind });
  return {
    server,
    url,
    // In-flight requests finish (and record their AuditEvents), then what is queued is flushed.
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await auditTrail.close();
      await indexer.stop();
    },
  };
}
