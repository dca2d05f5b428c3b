// carebridge serve: the FHIR server on PORT with the store CAREBRIDGE_DATABASE names.
import { initServer } from '../api/server.ts';
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
Stops cleanly on SIGTERM or SIGINT: no new requests, in-flight ones finish, the store closes.
Exit codes: 0 stopped cleanly, 1 could not start.`;

export async function runServe(io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const logger = createLogger();
  const port = Number(env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    io.err(`PORT must be a port number, not "${env.PORT}"`);
    return 1;
  }
  let store;
  try {
    loadDefinitions();
    store = await openStore(env.CAREBRIDGE_DATABASE ?? DEFAULT_DATABASE);
  } catch (err) {
    io.err(`Cannot open the store: ${(err as Error).message}`);
    return 1;
  }
  const running = await initServer({ store, logger, port, host: env.HOST, publicUrl: env.PUBLIC_URL || undefined, version: process.env.npm_package_version });
  io.out(`carebridge listening on ${running.url}/fhir (store: ${store.kind})`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  logger.info('shutting down');
  await running.close();
  await store.close();
  return 0;
}
