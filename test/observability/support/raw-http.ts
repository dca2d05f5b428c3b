// HTTP/1.1 written by hand on a socket, for what a client library hides: a request held half
// sent, a probe whose headers are finished later, whether the server refuses new connections.
import { connect } from 'node:net';
import type { Socket } from 'node:net';

export interface RawConnection {
  socket: Socket;
  /** Everything received so far. */
  received: () => string;
  write: (text: string) => void;
  /** Resolves once what was received matches. */
  until: (pattern: RegExp, timeoutMs?: number) => Promise<string>;
  /** Resolves when the server (or anyone) closed the connection. */
  closed: Promise<void>;
}

export function openConnection(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const waiters: (() => void)[] = [];
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
      waiters.splice(0).forEach((wake) => wake());
    });
    // A reset after a drain timeout is an ending too.
    socket.on('error', () => undefined);
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    void closed.then(() => waiters.splice(0).forEach((wake) => wake()));
    const until = async (pattern: RegExp, timeoutMs = 15_000): Promise<string> => {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(received)) {
        if (socket.destroyed || Date.now() > deadline) {
          throw new Error(`never received ${pattern}; got ${JSON.stringify(received.slice(0, 500))}`);
        }
        await new Promise<void>((wake) => {
          waiters.push(wake);
          setTimeout(wake, 50);
        });
      }
      return received;
    };
    socket.once('connect', () => resolve({ socket, received: () => received, write: (text) => socket.write(text), until, closed }));
    socket.once('error', reject);
  });
}

/** Tries to connect until the port refuses (ECONNREFUSED): the server stopped accepting. */
export async function untilRefused(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
    });
    if (refused) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`port ${port} still accepts connections after ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A parsed response: status, headers (lower-cased names) and body. */
export function parseResponse(text: string): { status: number; headers: Record<string, string>; body: string } {
  // Interim 100 Continue answers come first.
  const final = text.replace(/^(HTTP\/1\.1 100 Continue\r\n\r\n)+/, '');
  const end = final.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = final.slice(0, end).split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine?.split(' ')[1]), headers, body: final.slice(end + 4) };
}
