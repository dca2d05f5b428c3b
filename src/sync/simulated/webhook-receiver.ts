// A webhook peer or rest-hook subscription endpoint for tests and the demo: a real HTTP server on
// 127.0.0.1 that keeps what was POSTed and answers with the statuses it is told to, in order.
import type { IncomingHttpHeaders } from 'node:http';
import { listenOnLoopback } from './loopback.ts';

/** Bodies up to this size are kept; a larger one is answered 413 (and still recorded, without body). */
const BODY_LIMIT_BYTES = 5 * 1024 * 1024;

export interface ReceivedWebhook {
  method: string;
  /** Path and query, e.g. /hooks/agency-a */
  url: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; undefined when the body was empty (a rest-hook ping without payload) or not JSON. */
  body: unknown;
  rawBody: string;
  time: string;
  /** What the receiver answered. */
  status: number;
}

export interface WebhookReceiverOptions {
  /** 0 (default): a free port. */
  port?: number;
  /** Statuses to answer, one per request, in order; 200 once they are used up. */
  statuses?: number[];
}

export interface WebhookReceiver {
  /** http://127.0.0.1:PORT — POST to it, or to any path under it. */
  url: string;
  received: ReceivedWebhook[];
  /** Replaces the statuses still to be answered. */
  answerWith(statuses: number[]): void;
  /** Resolves once `count` requests have arrived in all; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedWebhook[]>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  let statuses = [...(options.statuses ?? [])];
  const waiters: { count: number; resolve: () => void }[] = [];

  const loopback = await listenOnLoopback((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= BODY_LIMIT_BYTES) {
        chunks.push(chunk);
      }
    });
    req.on('end', () => {
      const rawBody = size <= BODY_LIMIT_BYTES ? Buffer.concat(chunks).toString('utf8') : '';
      let body: unknown;
      try {
        body = rawBody ? JSON.parse(rawBody) : undefined;
      } catch {
        body = undefined;
      }
      const status = size > BODY_LIMIT_BYTES ? 413 : (statuses.shift() ?? 200);
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, rawBody, time: new Date().toISOString(), status });
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
      for (const waiter of waiters.filter((w) => received.length >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
  }, options.port);

  return {
    url: loopback.origin,
    received,
    answerWith(next) {
      statuses = [...next];
    },
    waitFor(count, timeoutMs = 5000) {
      if (received.length >= count) {
        return Promise.resolve(received.slice());
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`Webhook receiver got ${received.length} of ${count} requests in ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter = {
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(received.slice());
          },
        };
        waiters.push(waiter);
      });
    },
    close: () => loopback.close(),
  };
}
