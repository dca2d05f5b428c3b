// `carebridge serve` as a child process (bin/carebridge.js, the real cluster of workers) on a
// SQLite file, for the tests of what only a real process shows: metrics summed across workers,
// a SIGTERM and the exit code.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { freePort } from '../../api/support/child-server.ts';

/** Loading definitions and migrating in each worker, on a machine shared by several test runs. */
const START_TIMEOUT_MS = 40_000;

export interface ServeChild {
  child: ChildProcess;
  port: number;
  url: string;
  /** Everything it wrote to stdout and stderr so far. */
  output: () => string;
  /** How it ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL if it still runs (cleanup). */
  kill: () => Promise<void>;
}

export async function startServe(env: Record<string, string>): Promise<ServeChild> {
  const port = await freePort();
  const { PUBLIC_URL: _p, CAREBRIDGE_DEV_MODE: _d, CAREBRIDGE_CONFIG: _c, ...inherited } = process.env;
  const child = spawn(process.execPath, ['bin/carebridge.js', 'serve'], {
    cwd: new URL('../../../', import.meta.url),
    env: { ...inherited, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
    await exited;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`carebridge serve did not start in ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
      const check = (): void => {
        if (output.includes('carebridge listening on')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', check);
      void exited.then(({ code }) => {
        clearTimeout(timer);
        reject(new Error(`carebridge serve exited with ${code}:\n${output}`));
      });
    });
  } catch (err) {
    await kill();
    throw err;
  }
  return { child, port, url: `http://127.0.0.1:${port}`, output: () => output, exited, kill };
}
