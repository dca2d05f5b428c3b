// A peer whose answers wait until the test lets them go: an HTTP proxy in front of a simulated
// FHIR peer that holds every request it receives until release(), to keep a delivery in flight.
import { createServer } from 'node:http';
import type { IncomingMessage } from 'node:http';

export interface HoldingProxy {
  /** http://127.0.0.1:PORT/fhir */
  baseUrl: string;
  /** Requests received so far (event ids of the deliveries). */
  eventIds: string[];
  /** Resolves when the first request arrived. */
  firstArrived: Promise<void>;
  /** Forwards what is held, and everything after, to the peer. */
  release: () => void;
  close: () => Promise<void>;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function startHoldingProxy(targetBaseUrl: string): Promise<HoldingProxy> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let arrived!: () => void;
  const firstArrived = new Promise<void>((resolve) => (arrived = resolve));
  const eventIds: string[] = [];
  const server = createServer((req, res) => {
    const eventId = req.headers['x-carebridge-event-id'];
    if (typeof eventId === 'string') {
      eventIds.push(eventId);
    }
    arrived();
    void (async () => {
      const payload = await body(req);
      await released;
      const headers: Record<string, string> = {};
      for (const name of ['content-type', 'if-match', 'if-none-exist', 'prefer', 'x-carebridge-event-id', 'authorization']) {
        const value = req.headers[name];
        if (typeof value === 'string') {
          headers[name] = value;
        }
      }
      const answer = await fetch(`${targetBaseUrl}${(req.url ?? '/').replace(/^\/fhir/, '')}`, { method: req.method, headers, body: payload.length > 0 ? payload : undefined });
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/fhir+json' });
      res.end(Buffer.from(await answer.arrayBuffer()));
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    baseUrl: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/fhir`,
    eventIds,
    firstArrived,
    release,
    close: () => {
      release();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
