// GET /readyz: may this process take traffic? Yes when it is not shutting down, the store answers
// a real query, the store's schema is at least at the version this code migrates to, and the
// FHIR definitions validation needs are loaded. Otherwise 503, naming the checks that failed
// (never an error message: a database error may name hosts and users). /healthz, by contrast,
// only says the process is alive.
import { getSearchParameter, tryGetDataType, tryGetProfile } from '@medplum/core';
import type { RequestHandler } from 'express';
import type { Logger } from '../log/logger.ts';
import { PROFILES } from '../model/profiles.ts';
import type { FhirStore } from '../store/fhir-store.ts';
import { MIGRATIONS } from '../store/sql/schema.ts';

/** The schema version this code migrates to: the last migration it ships. */
export const EXPECTED_SCHEMA_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));
/** A probe waits this long for the store: kubelet's probes time out after 1 s by default, load balancers after a few. */
const STORE_TIMEOUT_MS = 2000;

export type CheckName = 'shutdown' | 'store' | 'migrations' | 'definitions';

export interface Readiness {
  ready: boolean;
  /** Every check: "ok" or why not, in carebridge's words. */
  checks: Partial<Record<CheckName, string>>;
  store: FhirStore['kind'];
  schemaVersion?: number;
  /** The store's own error, for the log only: it may name hosts and users. */
  storeError?: string;
}

export interface ReadinessOptions {
  store: Pick<FhirStore, 'kind' | 'schemaVersion'>;
  /** True once the server is draining (SIGTERM): it finishes what it has, takes nothing new. */
  draining?: () => boolean;
  /** Whether validation can run (default: R4, carebridge's SearchParameter and profiles are indexed in @medplum/core). */
  definitionsLoaded?: () => boolean;
  expectedSchemaVersion?: number;
  storeTimeoutMs?: number;
}

/** What loadDefinitions() (validation/definitions.ts) puts in @medplum/core's index, looked up: well under a microsecond. */
export function definitionsIndexed(): boolean {
  return tryGetDataType('Patient') !== undefined && getSearchParameter('Task', 'open-deadline') !== undefined && Object.values(PROFILES).every((url) => tryGetProfile(url) !== undefined);
}

class StoreTimeout extends Error {}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new StoreTimeout('timeout')), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export async function checkReadiness(options: ReadinessOptions): Promise<Readiness> {
  const expected = options.expectedSchemaVersion ?? EXPECTED_SCHEMA_VERSION;
  const checks: Readiness['checks'] = {};
  let schemaVersion: number | undefined;
  let storeError: string | undefined;
  if (options.draining?.()) {
    // Shutting down: no store call, and nothing else matters.
    return { ready: false, checks: { shutdown: 'draining: finishing requests in flight, taking no new ones' }, store: options.store.kind };
  }
  try {
    schemaVersion = await withTimeout(options.store.schemaVersion(), options.storeTimeoutMs ?? STORE_TIMEOUT_MS);
    checks.store = 'ok';
    checks.migrations = schemaVersion >= expected ? 'ok' : `schema version ${schemaVersion}, this code needs ${expected}: run the migrations (carebridge serve runs them at start)`;
  } catch (err) {
    storeError = (err as Error).message;
    checks.store = err instanceof StoreTimeout ? `no answer within ${options.storeTimeoutMs ?? STORE_TIMEOUT_MS} ms` : 'unreachable';
    checks.migrations = 'unknown: the store did not answer';
  }
  checks.definitions = (options.definitionsLoaded ?? definitionsIndexed)() ? 'ok' : 'FHIR definitions not loaded: validation cannot run';
  const ready = Object.values(checks).every((c) => c === 'ok');
  return { ready, checks, store: options.store.kind, ...(schemaVersion === undefined ? {} : { schemaVersion }), ...(storeError === undefined ? {} : { storeError }) };
}

/** The /readyz handler. Logs when readiness changes (not on every probe), with the store's error then. */
export function readinessRoute(options: ReadinessOptions & { logger: Logger }): RequestHandler {
  let wasReady: boolean | undefined;
  return (_req, res, next) => {
    checkReadiness(options).then(({ ready, checks, store, schemaVersion, storeError }) => {
      const failed = (Object.keys(checks) as CheckName[]).filter((name) => checks[name] !== 'ok');
      if (ready !== wasReady) {
        wasReady = ready;
        if (ready) {
          options.logger.info('ready', { store, schemaVersion });
        } else {
          options.logger.warn('not ready', { failed, storeError });
        }
      }
      res
        .status(ready ? 200 : 503)
        .setHeader('Cache-Control', 'no-store')
        .json({ status: ready ? 'ready' : 'unavailable', ...(failed.length > 0 ? { failed } : {}), checks, store, ...(schemaVersion === undefined ? {} : { schemaVersion }) });
    }, next);
  };
}
