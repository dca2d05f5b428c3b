// A carebridge server in a process of its own (`node bin/carebridge.js serve`), for tests where
// two processes share one database.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { createServer } from 'node:net';
import type { TestClient } from '../../support/auth.ts';
import { adminClient, tokenFor, writeConfigFile } from '../../support/auth.ts';

/** How long a child may take to load definitions, migrate and listen. */
const START_TIMEOUT_MS = 20_000;

export interface ChildServer {
  /** http://127.0.0.1:<port> */
  url: string;
  fhir: string;
  /** An access token of the test admin client from the child's own token endpoint. */
  token: string;
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

/**
 * Starts `carebridge serve` on 127.0.0.1 with the given CAREBRIDGE_DATABASE and a config file
 * trusting the test admin (and `clients`); resolves once it listens and gave the admin a token.
 */
export async function startChildServer(database: string, clients: TestClient[] = []): Promise<ChildServer> {
  const port = await freePort();
  const { PUBLIC_URL: _ignored, CAREBRIDGE_DEV_MODE: _dev, ...env } = process.env;
  const admin = await adminClient();
  const config = writeConfigFile([admin, ...clients]);
  const child = spawn(process.execPath, ['bin/carebridge.js', 'serve'], {
    cwd: new URL('../../../', import.meta.url),
    env: { ...env, PORT: String(port), HOST: '127.0.0.1', CAREBRIDGE_DATABASE: database, CAREBRIDGE_CONFIG: config, LOG_LEVEL: 'error' },
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
    rmSync(dirname(config), { recursive: true, force: true });
    throw err;
  });
  const url = fhir.replace(/\/fhir$/, '');
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM');
    await exited(child);
    rmSync(dirname(config), { recursive: true, force: true });
  };
  let token: string;
  try {
    token = await tokenFor({ url }, admin);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, fhir, token, stop };
}
