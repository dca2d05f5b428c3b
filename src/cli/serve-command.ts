// carebridge serve: the FHIR server on PORT with the store CAREBRIDGE_DATABASE names.
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { drainTimeoutFromEnv, initServer } from '../api/server.ts';
import type { Limits } from '../config/limits.ts';
import { ConfigError, limitsFromEnv } from '../config/limits.ts';
import { AuthService } from '../auth/auth-service.ts';
import { DEV_MODE_WARNING } from '../auth/dev-mode.ts';
import type { AuthSettings } from '../auth/startup.ts';
import { StartupError, authSettingsFromEnv } from '../auth/startup.ts';
import { createLogger } from '../log/logger.ts';
import { DEFAULT_DATABASE, openStore } from '../store/open-store.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { startSync } from '../sync/sync-service.ts';
import { PayerDirectory } from '../sync/connectors/payers.ts';
import { loadDefinitions } from '../validation/definitions.ts';
import { answerMetricsRequests, processMetricsText } from '../observability/cluster-metrics.ts';
import { Metrics } from '../observability/metrics.ts';
import { metricsTokenFromEnv } from '../observability/metrics-route.ts';
import { EXIT_FAILED, EXIT_UNREACHABLE, exitCodes, isUnreachable } from './exit-codes.ts';
import type { Io } from './output.ts';

export const SERVE_HELP = `Usage: carebridge serve [--dev]

Runs the FHIR R4 server. Every /fhir request but GET /fhir/metadata needs an access token from
POST /auth/token (SMART Backend Services: client_credentials with a private_key_jwt assertion).
Options:
  --dev                 development mode: a built-in admin client "carebridge-dev" gets a token
                        with no key (POST /auth/token grant_type=client_credentials&client_id=carebridge-dev).
                        Also keyless: the demo clients carebridge-dev-hospital and carebridge-dev-agency-1..3
                        (the parties of fixtures/plans/broadcast-three-agencies.json; carebridge demo).
                        Never with real patient data. Same as CAREBRIDGE_DEV_MODE=true.
Environment:
  CAREBRIDGE_CONFIG     JSON config file: the clients, their organizations, roles, scopes and public
                        keys (profiles/carebridge-config.schema.json). Required unless --dev.
  CAREBRIDGE_TOKEN_KEY  private JWK (EC P-384 or RSA) that signs access tokens; or
  CAREBRIDGE_TOKEN_KEY_FILE, a file holding it. Default: a key generated once and kept in the store.
  PORT                  port to listen on (default 8080)
  HOST                  interface to listen on (default 0.0.0.0)
  CAREBRIDGE_DATABASE   sqlite:<path> (default ${DEFAULT_DATABASE}) or postgres://user@host:port/db[?schema=name]
  PUBLIC_URL            base URL clients reach the server at (default http://<host>:<port>)
  LOG_LEVEL             error, warn, info (default), debug
  CAREBRIDGE_WORKERS    server processes sharing the port (default: the cores, at most 4; 1 = no cluster)
  CAREBRIDGE_MAX_BODY_BYTES      largest request body (default 5242880 = 5 MB; 1024 to 52428800)
  CAREBRIDGE_REQUEST_TIMEOUT_MS  a request still running after this answers 504 (default 30000; 100 to 600000)
  CAREBRIDGE_RATE_LIMIT          requests per minute per client, per worker process (default 1200; 0 = off)
  CAREBRIDGE_CORS_ORIGINS        comma-separated exact browser origins allowed by CORS (default: none, CORS off)
  CAREBRIDGE_METRICS_TOKEN       a static bearer token that may read GET /metrics (32+ characters, e.g.
                                 openssl rand -hex 32); an admin client's access token may too
  CAREBRIDGE_DRAIN_TIMEOUT_MS    on SIGTERM, how long requests in flight may take to finish before their
                                 connections are cut (default 25000; 0 to 600000)
Stops cleanly on SIGTERM or SIGINT: no new connections, /readyz answers 503, in-flight requests
finish (up to the drain timeout), deliveries in flight settle, the store closes.
${exitCodes({ ok: 'stopped cleanly', failed: 'could not start (a setting or the config file is wrong)', unreachable: 'the store cannot be reached' })}`;

/** A cluster of more processes than cores only adds contention; 4 covers the machines we run on. */
const MAX_DEFAULT_WORKERS = 4;

function workerCount(env: NodeJS.ProcessEnv): number | undefined {
  if (env.CAREBRIDGE_WORKERS === undefined || env.CAREBRIDGE_WORKERS === '') {
    return Math.min(availableParallelism(), MAX_DEFAULT_WORKERS);
  }
  const n = Number(env.CAREBRIDGE_WORKERS);
  return Number.isInteger(n) && n >= 1 && n <= 64 ? n : undefined;
}

/**
 * Resolves on the first SIGTERM or SIGINT, with the function that ends the shutdown; until then
 * later signals are ignored (the shutdown is bounded by the drain timeout). Ctrl-C sends SIGINT to
 * the primary and every worker, and the primary then sends them SIGTERM: a worker must not die of
 * that second signal mid-drain.
 */
function untilSignal(): Promise<() => void> {
  return new Promise((resolve) => {
    const ignore = (): void => undefined;
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      process.on('SIGTERM', ignore);
      process.on('SIGINT', ignore);
      resolve(() => {
        process.off('SIGTERM', ignore);
        process.off('SIGINT', ignore);
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

/** A worker that has not stopped this long after its drain timeout is killed: the primary's own bound. */
const WORKER_STOP_GRACE_MS = 10_000;

export async function runServe(io: Io, env: NodeJS.ProcessEnv = process.env, options: { dev?: boolean } = {}): Promise<number> {
  const port = Number(env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    io.err(`PORT must be a port number, not "${env.PORT}"`);
    return 1;
  }
  let limits: Limits;
  let lifecycle: Lifecycle;
  try {
    limits = limitsFromEnv(env);
    lifecycle = { metricsToken: metricsTokenFromEnv(env), drainTimeoutMs: drainTimeoutFromEnv(env) };
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(err.message);
      return 1;
    }
    throw err;
  }
  const workers = workerCount(env);
  if (workers === undefined) {
    io.err(`CAREBRIDGE_WORKERS must be a number from 1 to 64, not "${env.CAREBRIDGE_WORKERS}"`);
    return 1;
  }
  let auth: AuthSettings;
  try {
    auth = authSettingsFromEnv(env, options.dev);
  } catch (err) {
    if (err instanceof StartupError) {
      io.err(err.message);
      return 1;
    }
    throw err;
  }
  if (auth.devMode && cluster.isPrimary) {
    io.out(DEV_MODE_WARNING);
  }
  if (workers > 1 && cluster.isPrimary) {
    return runPrimary(io, env, workers, auth, lifecycle.drainTimeoutMs);
  }
  return runWorker(io, env, port, auth, limits, lifecycle);
}

/** Settings of the server's operation: who may read /metrics, how long a shutdown may drain. */
interface Lifecycle {
  metricsToken?: string;
  drainTimeoutMs: number;
}

/**
 * The primary of a cluster: migrates once, forks the workers (Node shares the port among them,
 * so both cores serve), restarts a worker that dies, and stops them all on SIGTERM/SIGINT.
 */
async function runPrimary(io: Io, env: NodeJS.ProcessEnv, workers: number, auth: AuthSettings, drainTimeoutMs: number): Promise<number> {
  const logger = createLogger();
  let kind: string;
  try {
    const store = await openStore(env.CAREBRIDGE_DATABASE ?? DEFAULT_DATABASE);
    kind = store.kind;
    await store.close();
  } catch (err) {
    io.err(`Cannot open the store: ${(err as Error).message}`);
    return isUnreachable(err) ? EXIT_UNREACHABLE : EXIT_FAILED;
  }
  let stopping = false;
  // Workers see --dev through their environment (the flag may not be on their command line).
  const workerEnv = auth.devMode ? { CAREBRIDGE_DEV_MODE: 'true' } : {};
  const listening = new Promise<number>((resolve) => cluster.once('listening', (_worker, address) => resolve(address.port)));
  // One worker runs the background jobs — the audit trail's deferred index rows, the outbox
  // dispatcher: two would only contend for SQLite's single write lock (and on PostgreSQL one
  // dispatcher per instance is plenty). Whoever replaces it takes the jobs over.
  let indexer: number | undefined;
  const fork = (runsIndexer: boolean): void => {
    const worker = cluster.fork({ ...workerEnv, CAREBRIDGE_BACKGROUND_JOBS: runsIndexer ? 'true' : 'false' });
    if (runsIndexer) {
      indexer = worker.id;
    }
  };
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      logger.error('worker stopped; starting another', { pid: worker.process.pid, code, signal });
      fork(worker.id === indexer);
    }
  });
  // /metrics in any worker sums every worker's counters: the primary gathers them.
  const stopAnsweringMetrics = answerMetricsRequests();
  for (let i = 0; i < workers; i++) {
    fork(i === 0);
  }
  const port = await listening;
  const host = env.HOST && env.HOST !== '0.0.0.0' ? env.HOST : '127.0.0.1';
  io.out(`carebridge listening on ${env.PUBLIC_URL || `http://${host}:${port}`}/fhir (store: ${kind}, ${workers} workers)`);
  const stopped = await untilSignal();
  stopping = true;
  logger.info('shutting down');
  const exits = Object.values(cluster.workers ?? {}).map(
    (worker) =>
      new Promise<void>((resolve) => {
        if (!worker || worker.isDead()) {
          resolve();
          return;
        }
        const kill = setTimeout(() => {
          logger.error('worker did not stop; killing it', { pid: worker.process.pid });
          worker.process.kill('SIGKILL');
        }, drainTimeoutMs + WORKER_STOP_GRACE_MS);
        worker.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        worker.process.kill('SIGTERM');
      }),
  );
  await Promise.all(exits);
  stopAnsweringMetrics();
  stopped();
  return 0;
}

async function runWorker(io: Io, env: NodeJS.ProcessEnv, port: number, settings: AuthSettings, limits: Limits, lifecycle: Lifecycle): Promise<number> {
  const logger = createLogger();
  let store;
  try {
    loadDefinitions();
    store = await openStore(env.CAREBRIDGE_DATABASE ?? DEFAULT_DATABASE);
  } catch (err) {
    io.err(`Cannot open the store: ${(err as Error).message}`);
    return isUnreachable(err) ? EXIT_UNREACHABLE : EXIT_FAILED;
  }
  let auth: AuthService;
  try {
    auth = await AuthService.init({ config: settings.config, store, devMode: settings.devMode, env });
  } catch (err) {
    io.err(`Cannot set up authentication: ${(err as Error).message}`);
    await store.close();
    return 1;
  }
  if (settings.devMode) {
    logger.warn('DEVELOPMENT MODE: the built-in client carebridge-dev gets an admin token without a key; never use real patient data');
  }
  if (settings.config) {
    store.configure({ referralEndsOn: settings.config.referralAccess.endsOnStatus });
  }
  const backgroundJobs = env.CAREBRIDGE_BACKGROUND_JOBS !== 'false';
  // What subscribers reach the server at: the same URL initServer announces.
  const publicUrl = env.PUBLIC_URL || `http://${env.HOST && env.HOST !== '0.0.0.0' ? env.HOST : '127.0.0.1'}:${port}`;
  const peers = settings.config?.peers ?? [];
  const metrics = new Metrics({ processMetrics: true });
  if (store instanceof SqliteStore) {
    metrics.observeWriteLock(() => store.writeLockUsage());
  }
  const sync = await startSync({ store, peers, logger, dispatch: backgroundJobs, fhirBaseUrl: `${publicUrl}/fhir`, sweepSchedule: settings.config?.clock.sweepSchedule, tcmClock: settings.config?.clock, outboxRetention: settings.config?.outbox.retention, dispatcher: { onSettled: (delivery, settlement) => metrics.observeSettlement(delivery, settlement) } });
  const observability = { metrics, processMetricsText: processMetricsText(metrics.registry), metricsToken: lifecycle.metricsToken, peers: peers.filter((peer) => peer.push && peer.kind !== 'payer').map((peer) => peer.name) };
  const running = await initServer({ store, logger, auth, port, host: env.HOST, publicUrl: env.PUBLIC_URL || undefined, version: process.env.npm_package_version, limits, deferredIndexer: backgroundJobs, payers: new PayerDirectory(peers), tcmClock: settings.config?.clock, observability, drainTimeoutMs: lifecycle.drainTimeoutMs });
  if (cluster.isPrimary) {
    io.out(`carebridge listening on ${running.url}/fhir (store: ${store.kind})`);
  }
  const stopped = await untilSignal();
  logger.info('shutting down');
  // Requests first (they may still queue deliveries), then the deliveries in flight settle.
  await running.close();
  logger.info('requests drained');
  await sync.stop();
  await store.close();
  logger.info('stopped');
  stopped();
  // A cluster worker's IPC channel keeps it alive until it lets go.
  cluster.worker?.disconnect();
  return 0;
}
