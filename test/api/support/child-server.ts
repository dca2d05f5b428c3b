// A carebridge server in a process of its own (`node bin/carebridge.js serve`), for tests where
// two processes share one database.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** How long a child may take to load definitions, migrate and listen. */
const START_TIMEOUT_MS = 20_000;

export interface ChildServer {
  fhir: string;
  stop: () => Promise<void>;
}

/** A port nothing listens on right now (the OS picks it; we close it again at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts `carebridge serve` on 127.0.0.1 with the given CAREBRIDGE_DATABASE; resolves once it listens. */
export async function startChildServer(database: string): Promise<ChildServer> {
  const port = await freePort();
  const { PUBLIC_URL: _ignored, ...env } = process.env;
  const child = spawn(process.execPath, ['bin/carebridge.js', 'serve'], {
    cwd: new URL('../../../', import.meta.url),
    env: { ...env, PORT: String(port), HOST: '127.0.0.1', CAREBRIDGE_DATABASE: database, LOG_LEVEL: 'error' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const fhir = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`carebridge serve did not start in ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      const match = /carebridge listening on (\S+\/fhir)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`carebridge serve exited with ${code}:\n${output}`));
    });
  }).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    await exited(child);
    throw err;
  });
  return {
    fhir,
    stop: async () => {
      child.kill('SIGTERM');
      await exited(child);
    },
  };
}
