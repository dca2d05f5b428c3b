// initServer and its close(): listen; on shutdown stop accepting, answer /readyz 503, let the
// requests in flight finish (for at most the drain timeout), then flush the audit trail.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { Logger } from '../log/logger.ts';
import type { FhirStore } from '../store/fhir-store.ts';
import { AuditTrail } from '../audit/audit-trail.ts';
import type { AppOptions } from './app.ts';
import { createApp } from './app.ts';
import { issueOutcome } from './hardening/outcome.ts';
import { securityHeaderLines } from './hardening/security-headers.ts';
import type { ObservabilityOptions } from '../observability/endpoints.ts';
import { ConfigError } from '../config/limits.ts';

export interface RunningServer {
  server: Server;
  url: string;
  close: () => Promise<void>;
}

/**
 * How long close() waits for requests in flight before it cuts their connections: 25 s, under
 * Kubernetes' default 30 s grace period between SIGTERM and SIGKILL, so the store is still
 * closed by us. A handler still running after the handler timeout (30 s by default) has answered
 * 504 already; what is cut here is a slow upload or a handler near that limit.
 */
export const DEFAULT_DRAIN_TIMEOUT_MS = 25_000;
export const DRAIN_TIMEOUT_VARIABLE = 'CAREBRIDGE_DRAIN_TIMEOUT_MS';
/** While draining, connections that went idle are closed this often (a keep-alive client would otherwise hold one for keepAliveTimeout). */
const IDLE_SWEEP_MS = 100;

/** CAREBRIDGE_DRAIN_TIMEOUT_MS (0 to 600000), or the default. */
export function drainTimeoutFromEnv(env: NodeJS.ProcessEnv): number {
  const raw = env[DRAIN_TIMEOUT_VARIABLE];
  if (raw === undefined || raw === '') {
    return DEFAULT_DRAIN_TIMEOUT_MS;
  }
  const ms = /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(ms >= 0 && ms <= 600_000)) {
    throw new ConfigError([`${DRAIN_TIMEOUT_VARIABLE} must be a whole number of milliseconds from 0 to 600000, not "${raw.slice(0, 40)}"`]);
  }
  return ms;
}

/** An HTTP/1.1 request must name its Host (RFC 9112 §3.2); Node would answer a bare 400 itself. */
function lacksHost(req: IncomingMessage): boolean {
  return req.httpVersionMajor === 1 && req.httpVersionMinor >= 1 && req.headers.host === undefined;
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

/** What createApp takes (the audit trail is the server's own), and how to listen and to drain. */
export interface ServerOptions extends Omit<AppOptions, 'auditTrail' | 'observability'> {
  port: number;
  host?: string;
  /** Off in all but one worker of a cluster (serve-command); searches still catch up by themselves. */
  deferredIndexer?: boolean;
  /** Metrics and /metrics access; readiness while draining is the server's own. */
  observability?: Omit<ObservabilityOptions, 'draining'>;
  /** How long close() waits for requests in flight (default DEFAULT_DRAIN_TIMEOUT_MS). */
  drainTimeoutMs?: number;
}

export async function initServer(options: ServerOptions): Promise<RunningServer> {
  const auditTrail = new AuditTrail(options.store);
  // Off in all but one worker of a cluster (serve-command); searches still catch up by themselves.
  const indexer = options.deferredIndexer === false ? { stop: () => Promise.resolve() } : startDeferredIndexer(options.store, options.logger);
  let draining = false;
  const app = createApp({ ...options, auditTrail, observability: { ...options.observability, draining: () => draining } });
  // Requests Node refuses before express sees them (headers too large, malformed HTTP, an Expect
  // it cannot meet, no Host) still get a FHIR answer, not an empty body, with the same security
  // headers as any other answer.
  const securityHeaders = securityHeaderLines();
  const securityHeaderPairs = securityHeaders.flatMap((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]);
  const refuse = (res: ServerResponse, status: number, code: string, text: string): void => {
    const body = JSON.stringify(issueOutcome(code, text));
    res.writeHead(status, [...securityHeaderPairs, 'Content-Type', 'application/fhir+json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body)), 'Connection', 'close']);
    res.end(body);
  };
  // requireHostHeader off: the check is ours (lacksHost), so that its 400 is an OperationOutcome.
  const server = createServer({ requireHostHeader: false }, (req, res) => (lacksHost(req) ? refuse(res, 400, 'invalid', 'An HTTP/1.1 request needs a Host header') : app(req, res)));
  // Any Expect but 100-continue (which Node answers itself).
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => refuse(res, 417, 'not-supported', 'Of Expect, only 100-continue is supported'));
  // While draining, every answer closes its connection: a keep-alive client reconnects elsewhere.
  server.prependListener('request', (_req, res) => {
    if (draining) {
      res.setHeader('Connection', 'close');
    }
  });
  // Slow or stalled clients do not hold a connection forever.
  server.requestTimeout = 60_000;
  server.headersTimeout = 20_000;
  server.keepAliveTimeout = 5_000;
  const securityHeaderText = securityHeaders.map((line) => `${line}\r\n`).join('');
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) {
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const text = status === 431 ? 'Request headers too large' : status === 408 ? 'Request timeout' : 'Malformed HTTP request';
    const body = JSON.stringify(issueOutcome(status === 408 ? 'timeout' : 'invalid', text));
    socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/fhir+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n${securityHeaderText}\r\n${body}`);
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
      draining = true;
      const drainTimeoutMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const idle = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
      const cut = setTimeout(() => {
        options.logger.warn('drain timeout: closing connections with requests still in flight', { drainTimeoutMs });
        server.closeAllConnections();
      }, drainTimeoutMs);
      try {
        await closed;
      } finally {
        clearInterval(idle);
        clearTimeout(cut);
      }
      await auditTrail.close();
      await indexer.stop();
    },
  };
}
