// A client's jwksUrl is another system's server: bounded in time and size, and only public keys.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { JwksUnavailableError, MAX_JWKS_BYTES, fetchJwks } from '../../src/auth/client-keys.ts';

const ROUTES: Record<string, (res: ServerResponse) => void> = {
  '/ok': (res) => res.end(JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-384', kid: 'k', x: 'x', y: 'y' }] })),
  '/missing': (res) => {
    res.statusCode = 404;
    res.end('not here');
  },
  '/html': (res) => res.end('<html>hello</html>'),
  '/private': (res) => res.end(JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-384', kid: 'k', x: 'x', y: 'y', d: 'secret' }] })),
  '/huge': (res) => res.end(JSON.stringify({ keys: [], padding: 'x'.repeat(MAX_JWKS_BYTES) })),
  '/silent': () => undefined,
};

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => ROUTES[req.url ?? '']?.(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('fetchJwks', () => {
  it('returns a set of public keys', async () => {
    expect((await fetchJwks(`${base}/ok`)).keys).toHaveLength(1);
  });

  it.each([
    ['/missing', 'JWKS fetch answered 404'],
    ['/html', 'JWKS is not JSON'],
    ['/private', 'JWKS is not a set of public keys'],
    ['/huge', `JWKS larger than ${MAX_JWKS_BYTES} bytes`],
  ])('refuses %s', async (path, message) => {
    await expect(fetchJwks(`${base}${path}`)).rejects.toEqual(new JwksUnavailableError(message));
  });

  it('gives up on a server that does not answer', async () => {
    await expect(fetchJwks(`${base}/silent`, 200)).rejects.toEqual(new JwksUnavailableError('JWKS fetch failed (TimeoutError)'));
  });
});
