// A simulated hospital EHR or home-care agency FHIR server for tests and the demo: a real FHIR
// implementation (@medplum/fhir-router over its in-memory repository) behind express on
// 127.0.0.1, which can also fail the way real peers fail (setDown).
import { badRequest, contentTooLarge, getStatus, normalizeOperationOutcome, unauthorized } from '@medplum/core';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { loadDefinitions } from '../../validation/definitions.ts';
import { listenOnLoopback } from './loopback.ts';
import { PeerRepository } from './peer-repository.ts';
import { createPeerRouter, handleFhirRequest } from './peer-router.ts';
import type { HttpMethod } from '@medplum/fhir-router';

/** Request bodies up to this size; a discharge plan's transaction is ~100 kB. */
const BODY_LIMIT = '5mb';
/** Seconds a 503 asks the client to wait: short, so retry tests stay fast. */
export const RETRY_AFTER_SECONDS = 1;
/** The request headers the log keeps (others, e.g. user-agent, say nothing about carebridge's behaviour). */
const RECORDED_HEADERS = ['authorization', 'content-type', 'if-match', 'if-none-exist', 'prefer', 'x-carebridge-event-id', 'x-request-id'];

/** How the peer is down: 503 with Retry-After, a connection that never answers, or a reset socket. */
export type OutageMode = false | 'unavailable' | 'hang' | 'reset';

export interface RecordedRequest {
  method: string;
  /** Path and query as received, e.g. /fhir/Task?_count=2 */
  url: string;
  headers: Record<string, string>;
  time: string;
  /** What the peer answered; absent when it hung up or never answered. */
  status?: number;
}

export interface SimulatedFhirPeerOptions {
  /** Shown in the CapabilityStatement (e.g. "Riverside Regional EHR"). */
  name?: string;
  /** 0 (default): a free port. */
  port?: number;
  /** The bearer token the peer demands on every request but GET /metadata; 401 otherwise. */
  requireToken?: string;
}

export interface SimulatedFhirPeer {
  /** http://127.0.0.1:PORT/fhir */
  baseUrl: string;
  /** The peer's storage: seed it (`withSeeding` keeps given meta.lastUpdated) and inspect it. */
  repo: PeerRepository;
  /** Every request received, in order, including those answered by an outage. */
  requests: RecordedRequest[];
  setDown(mode: OutageMode): void;
  close(): Promise<void>;
}

function outcome(code: 'transient', text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

function sendFhir(res: Response, status: number, body: Resource, headers: Record<string, string> = {}): void {
  res.status(status).set(headers).type('application/fhir+json').send(JSON.stringify(body));
}

export async function startSimulatedFhirPeer(options: SimulatedFhirPeerOptions = {}): Promise<SimulatedFhirPeer> {
  // Search matching and the search parameter checks need the R4 SearchParameters indexed.
  loadDefinitions();
  const repo = new PeerRepository();
  const requests: RecordedRequest[] = [];
  let down: OutageMode = false;
  let baseUrl = '';
  const router = createPeerRouter({ baseUrl: () => baseUrl, name: options.name ?? 'Simulated FHIR peer', secured: options.requireToken !== undefined });
  // One request at a time, by construction rather than because MemoryRepository happens never to
  // wait on I/O: a conditional update searches then writes across awaits, and a failed
  // transaction's rollback (peer-repository.ts) must not undo another request's writes.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work);
    queue = run.catch(() => undefined);
    return run;
  };

  const app = express();
  app.disable('x-powered-by');
  app.use((req: Request, res: Response, next: NextFunction) => {
    const headers = Object.fromEntries(RECORDED_HEADERS.flatMap((h) => (typeof req.headers[h] === 'string' ? [[h, req.headers[h]]] : [])));
    const record: RecordedRequest = { method: req.method, url: req.originalUrl, headers, time: new Date().toISOString() };
    requests.push(record);
    res.on('finish', () => {
      record.status = res.statusCode;
    });
    if (down === 'reset') {
      req.socket.destroy();
    } else if (down === 'unavailable') {
      sendFhir(res, 503, outcome('transient', 'Simulated outage'), { 'Retry-After': String(RETRY_AFTER_SECONDS) });
    } else if (down !== 'hang') {
      next();
    }
  });
  app.use('/fhir', (req: Request, res: Response, next: NextFunction) => {
    const open = req.method === 'GET' && req.path === '/metadata';
    if (options.requireToken === undefined || open || req.headers.authorization === `Bearer ${options.requireToken}`) {
      next();
    } else {
      sendFhir(res, 401, unauthorized, { 'WWW-Authenticate': 'Bearer' });
    }
  });
  app.use('/fhir', express.json({ type: ['application/json', 'application/fhir+json', 'application/json-patch+json'], limit: BODY_LIMIT }));
  app.use('/fhir', async (req: Request, res: Response) => {
    const [result, resource] = await serially(() =>
      handleFhirRequest(router, repo, { method: req.method as HttpMethod, url: req.url, body: req.body, headers: req.headers }),
    );
    const status = getStatus(result);
    const headers: Record<string, string> = {};
    const meta = resource?.meta;
    if (resource?.id && meta?.versionId && resource.resourceType !== 'Bundle') {
      headers.ETag = `W/"${meta.versionId}"`;
      if (meta.lastUpdated) {
        headers['Last-Modified'] = new Date(meta.lastUpdated).toUTCString();
      }
      if (status === 201) {
        headers.Location = `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${meta.versionId}`;
      }
    }
    sendFhir(res, status, resource ?? result, headers);
  });
  // Body parser errors (malformed JSON, too large) and anything unexpected, as OperationOutcomes.
  app.use((err: Error & { type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    const result =
      err.type === 'entity.too.large'
        ? contentTooLarge(`Request body larger than ${BODY_LIMIT}`)
        : err.type === 'entity.parse.failed'
          ? badRequest('Request body is not valid JSON')
          : normalizeOperationOutcome(err);
    sendFhir(res, getStatus(result), result);
  });

  const loopback = await listenOnLoopback(app, options.port);
  baseUrl = `${loopback.origin}/fhir`;

  return {
    baseUrl,
    repo,
    requests,
    setDown(mode) {
      down = mode;
    },
    close: () => loopback.close(),
  };
}
