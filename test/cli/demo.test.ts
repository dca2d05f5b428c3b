// carebridge demo: the whole story over HTTP with real tokens, against a development-mode server
// or one it starts itself; the demo clients exist in development mode only.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEV_DEMO_CLIENTS } from '../../src/auth/dev-mode.ts';
import { main } from '../../src/cli.ts';
import type { Io } from '../../src/cli/output.ts';
import type { TestServer } from '../api/support/server.ts';
import { startSqliteServer } from '../api/support/server.ts';
import { postToken } from '../support/auth.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (t) => out.push(t), err: (t) => err.push(t) };
  const code = await main(argv, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function expectTheStory(out: string): void {
  expect(out).toMatch(/hospital\s+POST \/transitions broadcast-three-agencies\.json → 20[01]/);
  expect(out).toMatch(/agency-2\s+GET \/fhir\/Task\?code=fulfill → 1 referral/);
  expect(out).toMatch(/agency-2\s+PUT \/fhir\/Task\/\S+ status=accepted → 200/);
  expect(out).toMatch(/agency-1\s+GET \/fhir\/Patient → 0 patients/);
  expect(out).toMatch(/agency-2\s+GET \/fhir\/CarePlan\/\S+\/\$transition → \d+ resources/);
  expect(out).toMatch(/POST \/fhir\/Observation blood glucose 182 mg\/dL → 201/);
  expect(out).toContain('accepted by: Inner Harbor Visiting Nurses');
  expect(out).toMatch(/referrals: Charm City Home Health: cancelled; Inner Harbor Visiting Nurses: accepted \(Start-of-care visit scheduled/);
  expect(out).toMatch(/last report-back: Blood glucose: 182 mg\/dL from Inner Harbor Visiting Nurses/);
  expect(out).toMatch(/Done in \d+\.\d s/);
}

describe('carebridge demo', () => {
  it('starts its own server when asked (the real command, as `npm run demo` runs it) and tells the story', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/carebridge.js'), 'demo', '--in-process'], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'error' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect({ code, err }).toEqual({ code: 0, err: '' });
    expect(out).toMatch(/^carebridge demo: a hospital-to-home transition over the public HTTP API of http:\/\/127\.0\.0\.1:\d+\n/);
    expect(out).toContain('started a development-mode server in this process');
    expectTheStory(out);
    // Its own server pushes to simulated peers: the plan to the agencies, the answers to the hospital's EHR (never a copy of its patient).
    expect(out).toMatch(/carebridge's outbox delivered \d+ changes \(0 waiting, 0 dead\)/);
    expect(out).toMatch(/Inner Harbor Visiting Nurses \(http:\/\/127\.0\.0\.1:\d+\/fhir\): Patient×1, CarePlan×1, CareTeam×1, Goal×\d+, Task×\d+/);
    expect(out).toMatch(/Harbor Point Medical Center EHR \(http:\/\/127\.0\.0\.1:\d+\/fhir\): Task×\d+, Observation×1\n/);
  }, 60_000);

  describe('against a running development-mode server', () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startSqliteServer('warn', { devMode: true });
    });
    afterAll(() => server.stop());

    it('tells the story with --url, and again on the same data', async () => {
      const first = await run('demo', '--url', server.url);
      expect(first.err).toBe('');
      expect(first.code).toBe(0);
      expectTheStory(first.out);
      expect(first.out).toMatch(/POST \/transitions broadcast-three-agencies\.json → 201 Created/);
      const again = await run('demo', '--url', `${server.url}/`);
      expect(again.code).toBe(0);
      expect(again.out).toMatch(/→ 200 OK \(pushed before: updated in place\)/);
      expectTheStory(again.out);
    }, 30_000);
  });

  describe('against a server not in development mode', () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startSqliteServer();
    });
    afterAll(() => server.stop());

    it('the demo clients get no token: the demo says why and exits 1', async () => {
      for (const client of DEV_DEMO_CLIENTS) {
        const answer = await postToken(server.url, new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId }));
        expect(answer.status).toBe(400);
      }
      const { code, err } = await run('demo', '--url', server.url);
      expect(code).toBe(1);
      expect(err).toMatch(/The demo clients exist only in development mode/);
    });
  });

  it('exits 3 when --url names nothing that answers, and 2 on bad usage', async () => {
    const { code, err } = await run('demo', '--url', 'http://127.0.0.1:9');
    expect(code).toBe(3);
    expect(err).toContain('No carebridge answers at http://127.0.0.1:9/healthz');
    expect((await run('demo', '--url', 'http://127.0.0.1:9', '--in-process')).code).toBe(2);
    expect((await run('demo', '--url')).code).toBe(2);
  });
});
