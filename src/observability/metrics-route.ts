// GET /metrics: Prometheus text, for operators only. Who may scrape:
// - whoever sends `Authorization: Bearer <CAREBRIDGE_METRICS_TOKEN>` — Prometheus sends a static
//   bearer token (`authorization.credentials_file`) but cannot sign the private_key_jwt
//   assertions carebridge's token endpoint wants, and access tokens expire;
// - an admin client's access token, the same check as /admin (an operator with curl).
// Nobody else, in development mode too: there anyone can get an admin token without a key
// anyway, so an exception would buy nothing and be one more rule to get wrong. Scrapes are not
// audited (every 15 s, and no patient data); refused ones are, like every refusal.
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { Request, RequestHandler, Response } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AuditObserver } from '../audit/audit-event.ts';
import type { AuditTrail } from '../audit/audit-trail.ts';
import type { AuthService } from '../auth/auth-service.ts';
import type { Principal } from '../auth/principal.ts';
import { ConfigError } from '../config/limits.ts';
import type { Logger } from '../log/logger.ts';
import { requireBearer } from '../api/auth/bearer.ts';
import { recordRefusal } from '../api/fhir/audit-hook.ts';

export const METRICS_TOKEN_VARIABLE = 'CAREBRIDGE_METRICS_TOKEN';
/** 32 characters: `openssl rand -hex 32` gives 64; anything shorter can be guessed at. */
const MIN_TOKEN_LENGTH = 32;
/** A bearer token as RFC 6750 allows it (token68). */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

/** CAREBRIDGE_METRICS_TOKEN, checked; undefined when not set. */
export function metricsTokenFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const token = env[METRICS_TOKEN_VARIABLE];
  if (token === undefined || token === '') {
    return undefined;
  }
  if (token.length < MIN_TOKEN_LENGTH || token.length > 512 || !TOKEN68.test(token)) {
    throw new ConfigError([`${METRICS_TOKEN_VARIABLE} must be ${MIN_TOKEN_LENGTH} to 512 characters of A-Z a-z 0-9 - . _ ~ + / (e.g. openssl rand -hex 32)`]);
  }
  return token;
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Whether the request carries the static metrics token (compared in constant time). */
function hasMetricsToken(req: Request, expected: Buffer | undefined): boolean {
  const header = req.get('authorization');
  const match = header === undefined ? null : /^Bearer +(\S+)$/i.exec(header);
  return expected !== undefined && match !== null && timingSafeEqual(digest(match[1] as string), expected);
}

function outcome(code: 'forbidden' | 'transient', text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

export interface MetricsRouteOptions {
  auth: AuthService;
  publicUrl?: string;
  logger: Logger;
  /** CAREBRIDGE_METRICS_TOKEN, if set. */
  token?: string;
  auditTrail: AuditTrail;
  observer: AuditObserver;
  /** The exposition text: the process's (or cluster's) metrics and the store's gauges. */
  text: () => Promise<string>;
}

export function metricsRoute(options: MetricsRouteOptions): RequestHandler[] {
  const expected = options.token === undefined ? undefined : digest(options.token);
  const refuse = (req: Request, res: Response, status: number, body: OperationOutcome): Promise<void> =>
    recordRefusal(options.auditTrail, { principal: res.locals.principal as Principal | undefined, address: req.ip, requestId: res.locals.requestId as string | undefined, observer: options.observer }, status, body);
  const bearer = requireBearer(options.auth, {
    publicUrl: options.publicUrl,
    logger: options.logger,
    // The static token is no access token: it skips the access-token check, and the handler knows it.
    isPublic: (req) => hasMetricsToken(req, expected),
    onRefused: (req, res, err) => refuse(req, res, 401, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'security', details: { text: err.message } }] }),
  });
  const handler: RequestHandler = (req, res) => {
    const principal = res.locals.principal as Principal | undefined;
    if (!hasMetricsToken(req, expected) && principal?.role !== 'admin') {
      const body = outcome('forbidden', `Only an admin client or the metrics token (${METRICS_TOKEN_VARIABLE}) may read the metrics`);
      refuse(req, res, 403, body)
        .catch((err: unknown) => options.logger.error('audit trail write failed', { error: err }))
        .finally(() => res.status(403).type('application/fhir+json').send(JSON.stringify(body)));
      return;
    }
    options.text().then(
      (text) => res.status(200).setHeader('Cache-Control', 'no-store').type(PROMETHEUS_TEXT).send(text),
      (err: unknown) => {
        options.logger.error('metrics unavailable', { error: err });
        res.status(503).type('application/fhir+json').send(JSON.stringify(outcome('transient', 'The metrics could not be gathered right now; try again')));
      },
    );
  };
  return [bearer, handler];
}
