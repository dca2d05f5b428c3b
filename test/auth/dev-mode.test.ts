// Development mode is off unless asked for; `carebridge serve` without a config refuses to start;
// with --dev it warns loudly and the built-in client gets a token without a key.
import { describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEV_CLIENT_ID } from '../../src/auth/dev-mode.ts';
import { NO_CONFIG_MESSAGE, StartupError, authSettingsFromEnv } from '../../src/auth/startup.ts';
import { main } from '../../src/cli.ts';
import type { Io } from '../../src/cli/output.ts';
import { runServe } from '../../src/cli/serve-command.ts';
import { freePort } from '../api/support/child-server.ts';
import { fhirFetch, startSqliteServer } from '../api/support/server.ts';
import { adminClient, postToken, writeConfigFile } from '../support/auth.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function capture(): Io & { out_: string[]; err_: string[] } {
  const out_: string[] = [];
  const err_: string[] = [];
  return { out_, err_, out: (t) => out_.push(t), err: (t) => err_.push(t) };
}

function startupError(env: NodeJS.ProcessEnv, dev = false): string {
  try {
    authSettingsFromEnv(env, dev);
  } catch (err) {
    expect(err).toBeInstanceOf(StartupError);
    return (err as Error).message;
  }
  throw new Error('started');
}

describe('authSettingsFromEnv', () => {
  it('is off by default: a config file alone does not enable development mode', async () => {
    const config = writeConfigFile([await adminClient()]);
    expect(authSettingsFromEnv({ CAREBRIDGE_CONFIG: config }).devMode).toBe(false);
    expect(authSettingsFromEnv({ CAREBRIDGE_CONFIG: config, CAREBRIDGE_DEV_MODE: 'false' }).devMode).toBe(false);
  });

  it('is on with --dev or CAREBRIDGE_DEV_MODE=true, with or without a config', async () => {
    expect(authSettingsFromEnv({}, true)).toMatchObject({ devMode: true, config: { clients: [] } });
    expect(authSettingsFromEnv({ CAREBRIDGE_DEV_MODE: 'true' }).devMode).toBe(true);
    expect(authSettingsFromEnv({ CAREBRIDGE_DEV_MODE: '1', CAREBRIDGE_CONFIG: writeConfigFile([await adminClient()]) }).config.clients).toHaveLength(1);
  });

  it('refuses no config without development mode, and a dev-mode value it does not know', () => {
    expect(startupError({})).toBe(NO_CONFIG_MESSAGE);
    expect(startupError({ CAREBRIDGE_DEV_MODE: 'yes please' })).toBe('CAREBRIDGE_DEV_MODE must be true or false, not "yes please"');
  });

  it('names the broken config file and the place in it', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'carebridge-broken-')), 'carebridge.json');
    writeFileSync(file, JSON.stringify({ clients: [{ clientId: 'x' }], pears: [] }));
    const message = startupError({ CAREBRIDGE_CONFIG: file });
    expect(message).toContain(`Invalid configuration ${file}:`);
    expect(message).toContain('/pears: unknown key');
    expect(message).toContain('/clients/0/name: is required');
  });

  it('refuses an unusable token key without quoting it', () => {
    const message = startupError({ CAREBRIDGE_TOKEN_KEY: '{"kty":"oct","k":"c2VjcmV0LXZhbHVl"}' }, true);
    expect(message).toMatch(/CAREBRIDGE_TOKEN_KEY must hold a private JWK/);
    expect(message).not.toContain('c2VjcmV0');
    expect(startupError({ CAREBRIDGE_TOKEN_KEY_FILE: '/nonexistent/key.json' }, true)).toBe('CAREBRIDGE_TOKEN_KEY_FILE (/nonexistent/key.json) cannot be read (ENOENT)');
  });
});

describe('carebridge serve', () => {
  it('without CAREBRIDGE_CONFIG and without --dev: exits 1 and says what to do', async () => {
    const io = capture();
    const { CAREBRIDGE_CONFIG: _c, CAREBRIDGE_DEV_MODE: _d, ...env } = process.env;
    const code = await runServe(io, { ...env, CAREBRIDGE_WORKERS: '1' });
    expect(code).toBe(1);
    expect(io.err_.join('\n')).toBe(NO_CONFIG_MESSAGE);
  });

  it('the real command refuses the same way, before opening any store', () => {
    const dir = mkdtempSync(join(tmpdir(), 'carebridge-refuse-'));
    const { CAREBRIDGE_CONFIG: _c, CAREBRIDGE_DEV_MODE: _d, ...env } = process.env;
    const result = spawnSync(process.execPath, ['bin/carebridge.js', 'serve'], { cwd: ROOT, env: { ...env, CAREBRIDGE_DATABASE: `sqlite:${join(dir, 'db.sqlite')}` }, encoding: 'utf8', timeout: 20_000 });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('carebridge serve needs CAREBRIDGE_CONFIG');
    expect(spawnSync('ls', [dir], { encoding: 'utf8' }).stdout).toBe('');
    rmSync(dir, { recursive: true, force: true });
  });

  it('--help tells about --dev and the config', () => {
    const io = capture();
    expect(main(['serve', '--help'], io)).toBe(0);
    expect(io.out_.join('\n')).toMatch(/--dev[\s\S]*CAREBRIDGE_CONFIG[\s\S]*CAREBRIDGE_TOKEN_KEY/);
  });

  it('npm start runs the development server explicitly', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe('node bin/carebridge.js serve --dev');
  });

  it('--dev prints the warning, logs it, and the built-in client gets a working token without a key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'carebridge-dev-'));
    const port = await freePort();
    const { CAREBRIDGE_CONFIG: _c, CAREBRIDGE_DEV_MODE: _d, PUBLIC_URL: _p, ...env } = process.env;
    const child = spawn(process.execPath, ['bin/carebridge.js', 'serve', '--dev'], {
      cwd: ROOT,
      env: { ...env, PORT: String(port), HOST: '127.0.0.1', CAREBRIDGE_WORKERS: '1', CAREBRIDGE_DATABASE: `sqlite:${join(dir, 'db.sqlite')}`, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`did not start:\n${output}`)), 20_000);
        child.stdout.on('data', () => {
          if (output.includes('carebridge listening on')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}:\n${output}`)));
      });
      const [banner, logged] = [output.split('\n').filter((l) => l.includes('DEVELOPMENT MODE') && !l.startsWith('{')), output.split('\n').filter((l) => l.startsWith('{') && l.includes('DEVELOPMENT MODE'))];
      expect(banner.length).toBeGreaterThan(0);
      expect(JSON.parse(logged[0] as string)).toMatchObject({ level: 'warn' });
      const base = `http://127.0.0.1:${port}`;
      const answer = await postToken(base, new URLSearchParams({ grant_type: 'client_credentials', client_id: DEV_CLIENT_ID }));
      expect(answer.status).toBe(200);
      expect(answer.body.scope).toBe('system/*.cruds');
      const search = await fetch(`${base}/fhir/Patient`, { headers: { authorization: `Bearer ${answer.body.access_token as string}` } });
      expect(search.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a development-mode server also keeps trusting its configured clients', async () => {
    const server = await startSqliteServer('warn', { devMode: true });
    try {
      expect((await fhirFetch(server, 'Patient')).status).toBe(200);
      const answer = await postToken(server.url, new URLSearchParams({ grant_type: 'client_credentials', client_id: DEV_CLIENT_ID, scope: 'system/Patient.rs' }));
      expect(answer.body.scope).toBe('system/Patient.rs');
    } finally {
      await server.stop();
    }
  });
});
