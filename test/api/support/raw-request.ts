// One HTTP exchange with node:http, for what fetch cannot do: choose the client's own address
// (127.0.0.2 is another client to the server on 127.0.0.1) or send headers fetch refuses.
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';

export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** `setHost: false` sends no Host header at all. */
export function rawRequest(url: string, options: { method?: string; headers?: Record<string, string>; localAddress?: string; body?: string | Buffer; setHost?: boolean } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers, localAddress: options.localAddress, agent: false, setHost: options.setHost }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
