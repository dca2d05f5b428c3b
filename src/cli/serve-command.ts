// carebridge serve: the FHIR server on PORT with the store CAREBRIDGE_DATABASE names.
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { initServer } from '../api/server.ts';
import type { Limits } from '../config/limits.ts';
import { ConfigError, limitsFromEnv } from '../config/limits.ts';
import { createLogger } from '../log/logger.ts';
import { DEFAULT_DATABASE, openStore } from '../store/open-store.ts';
import { loadDefinitions } from '../validation/definitions.ts';
import type { Io } from './output.ts';

export const SERVE_HELP = `Usage: carebridge serve

Runs the FHIR R4 server.
Environment:
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
Stops cleanly on SIGTERM or SIGINT: no new requests, in-flight ones finish, the store closes.
Exit codes: 0 stopped cleanly, 1 could not start.`;

/** A cluster of more processes than cores only adds contention; 4 covers the machines we run on. */
const MAX_DEFAULT_WORKERS = 4;

function workerCount(env: NodeJS.ProcessEnv): number | undefined {
  if (env.CAREBRIDGE_WORKERS === undefined || env.CAREBRIDGE_WORKERS === '') {
    return Math.min(availableParallelism(), MAX_DEFAULT_WORKERS);
  }
  const n = Number(env.CAREBRIDGE_WORKERS);
  return Number.isInteger(n) && n >= 1 && n <= 64 ? n : undefined;
}

function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

export async function runServe(io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const port = Number(env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    io.err(`PORT must be a port number, not "${env.PORT}"`);
    return 1;
  }
  let limits: Limits;
  try {
    limits = limitsFromEnv(env);
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
  if (workers > 1 && cluster.isPrimary) {
    return runPrimary(io, env, workers);
  }
  return runWorker(io, env, port, limits);
}

/**
 * The primary of a cluster: migrates once, forks the workers (Node shares the port among them,
 * so both cores serve), restarts a worker that dies, and stops them all on SIGTERM/SIGINT.
 */
async function runPrimary(io: Io, env: NodeJS.ProcessEnv, workers: number): Promise<number> {
  const logger = createLogger();
  let kind: string;
  try {
    const store = await openStore(env.CAREBRIDGE_DATABASE ?? DEFAULT_DATABASE);
    kind = store.kind;
    await store.close();
  } catch (err) {
    io.err(`Cannot open the store: ${(err as Error).message}`);
    return 1;
  }
  let stopping = false;
  const listening = new Promise<number>((resolve) => cluster.once('listening', (_worker, address) => resolve(address.port)));
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      logger.error('worker stopped; starting another', { pid: worker.process.pid, code, signal });
      cluster.fork();
    }
  });
  for (let i = 0; i < workers; i++) {
    cluster.fork();
  }
  const port = await listening;
  const host = env.HOST && env.HOST !== '0.0.0.0' ? env.HOST : '127.0.0.1';
  io.out(`carebridge listening on ${env.PUBLIC_URL || `http://${host}:${port}`}/fhir (store: ${kind}, ${workers} workers)`);
  await untilSignal();
  stopping = true;
  logger.info('shutting down');
  const exits = Object.values(cluster.workers ?? {}).map(
    (worker) =>
      new Promise<void>((resolve) => {
        if (!worker || worker.isDead()) {
          resolve();
          return;
        }
        worker.once('exit', () => resolve());
        worker.process.kill('SIGTERM');
      }),
  );
  await Promise.all(exits);
  return 0;
}

async function runWorker(io: Io, env: NodeJS.ProcessEnv, port: number, limits: Limits): Promise<number> {
  const logger = createLogger();
  let store;
  try {
    loadDefinitions();
    store = await openStore(env.CAREBRIDGE_DATABASE ?? DEFAULT_DATABASE);
  } catch (err) {
    io.err(`Cannot open the store: ${(err as Error).message}`);
    return 1;
  }
  const running = await initServer({ store, logger, port, host: env.HOST, publicUrl: env.PUBLIC_URL || undefined, version: process.env.npm_package_version, limits });
  if (cluster.isPrimary) {
    io.out(`carebridge listening on ${running.url}/fhir (store: ${store.kind})`);
  }
  await untilSignal();
  logger.info('shutting down');
  await running.close();
  await store.close();
  // A cluster worker's IPC channel keeps it alive until it lets go.
  cluster.worker?.disconnect();
  return 0;
}
