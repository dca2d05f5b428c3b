// The HTTP application: /fhir (FHIR R4 REST) and health checks. Errors anywhere answer as
// OperationOutcome; nothing escapes as an HTML error page or a stack trace.
import { OperationOutcomeError, getStatus, normalizeOperationOutcome } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
import type { AuthService } from '../auth/auth-service.ts';
import { TOKEN_PATH } from '../auth/auth-service.ts';
import type { Logger } from '../log/logger.ts';
import type { FhirStore } from '../store/fhir-store.ts';
import { authRoutes } from './auth/auth-routes.ts';
import { isFhirMetadata, requireBearer } from './auth/bearer.ts';
import { FHIR_JSON, fhirRouter } from './fhir/router.ts';

export interface AppOptions {
  store: FhirStore;
  logger: Logger;
  /** Tokens and the bearer check: every /fhir request but GET /fhir/metadata needs a token. */
  auth: AuthService;
  publicUrl?: string;
  version?: string;
}

function outcome(severity: 'error', code: string, text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code: code as 'invalid', details: { text } }] };
}

export function createApp(options: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    const requestId = (req.get('x-request-id') ?? '').replace(/[^A-Za-z0-9-]/g, '').slice(0, 64) || randomUUID();
    res.setHeader('X-Request-Id', requestId);
    res.on('finish', () => {
      // The route pattern (/:type/:id), never the path: an id in a URL may be anything.
      options.logger.info('request', {
        requestId,
        method: req.method,
        route: typeof req.route?.path === 'string' ? req.route.path : 'unmatched',
        status: res.statusCode,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
      });
    });
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      const schemaVersion = await options.store.schemaVersion();
      res.json({ status: 'ready', store: options.store.kind, schemaVersion });
    } catch {
      res.status(503).json({ status: 'unavailable' });
    }
  });

  app.use(authRoutes(options.auth, { publicUrl: options.publicUrl, logger: options.logger }));
  app.use('/fhir', requireBearer(options.auth, { publicUrl: options.publicUrl, logger: options.logger, isPublic: isFhirMetadata }));
  app.use('/fhir', fhirRouter({ store: options.store, logger: options.logger, publicUrl: options.publicUrl, software: { name: 'carebridge', version: options.version ?? '0' }, tokenPath: TOKEN_PATH }));

  app.use((_req, res) => {
    res.status(404).type(FHIR_JSON).send(JSON.stringify(outcome('error', 'not-found', 'Not found')));
  });

  // Errors raised before a handler runs (body too large, aborted upload) still answer FHIR.
  app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    void next;
    const type = (err as { type?: string }).type;
    let status = 500;
    let body: OperationOutcome;
    if (type === 'entity.too.large') {
      status = 413;
      body = outcome('error', 'too-costly', 'Request body too large (at most 5 MB)');
    } else if (type === 'request.aborted' || type === 'entity.verify.failed' || type === 'encoding.unsupported' || type === 'charset.unsupported') {
      status = type === 'request.aborted' ? 400 : 415;
      body = outcome('error', 'invalid', `Unreadable request body (${type})`);
    } else if (err instanceof OperationOutcomeError) {
      body = err.outcome;
      status = getStatus(err.outcome);
    } else if (typeof (err as { status?: unknown }).status === 'number' && (err as { status: number }).status >= 400 && (err as { status: number }).status < 500) {
      // express and body-parser mark what the client got wrong (a malformed %-escape in the
      // path, a body that does not match its Content-Encoding) with a 4xx status.
      status = (err as { status: number }).status;
      body = outcome('error', 'invalid', status === 415 ? 'Unsupported content encoding' : 'Malformed request');
    } else {
      body = normalizeOperationOutcome(err);
      options.logger.error('unhandled error', { method: req.method, error: err });
    }
    if (!res.headersSent) {
      res.status(status).type(FHIR_JSON).send(JSON.stringify(body));
    }
  });
  return app;
}
