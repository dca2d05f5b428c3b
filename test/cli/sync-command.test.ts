// carebridge sync: an operator polls an EHR now (a real simulated EHR on 127.0.0.1, a real SQLite
// file, the peer from a real config file) and reads the pollers' health.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSync } from '../../src/cli/sync-command.ts';
import type { Io } from '../../src/cli/output.ts';
import type { EhrServer } from '../sync/poller/support/ehr-server.ts';
import { startEhrServer } from '../sync/poller/support/ehr-server.ts';
import { RIVERSIDE, at, encounter, patient } from '../sync/poller/support/poll-fixtures.ts';

let ehr: EhrServer;
let dir: string;
let env: NodeJS.ProcessEnv;

function capture(): Io & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (t) => lines.push(t), err: (t) => errors.push(t) };
}

beforeAll(async () => {
  ehr = await startEhrServer();
  await ehr.seed(patient('p1'), at(1));
  await ehr.seed(encounter('e1', 'Patient/p1'), at(2));
  await ehr.seed(encounter('e2', 'Patient/p1', { status: 'in-progress' }), at(3));
  dir = mkdtempSync(join(tmpdir(), 'carebridge-sync-cli-'));
  const config = join(dir, 'carebridge.json');
  writeFileSync(config, JSON.stringify({ clients: [], peers: [{ name: 'riverside-ehr', kind: 'ehr', organization: RIVERSIDE, fhirBaseUrl: ehr.baseUrl, pull: { queries: ['Encounter?status=finished'], schedule: '0 7 * * *' } }] }));
  env = { CAREBRIDGE_DATABASE: `sqlite:${join(dir, 'carebridge.db')}`, CAREBRIDGE_CONFIG: config };
});

afterAll(async () => {
  await ehr?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('carebridge sync', () => {
  it('polls an EHR now and shows how the pollers are doing', async () => {
    const before = capture();
    expect(await runSync({}, before, env)).toBe(0);
    expect(before.lines[0]).toBe('No EHR has been polled yet.');
    const polled = capture();
    expect(await runSync({ poll: 'riverside-ehr' }, polled, env)).toBe(0);
    // The finished encounter and its patient, fetched to resolve the reference; not the one in progress.
    expect(polled.lines).toEqual([expect.stringMatching(/^✔ Encounter\?status=finished: \d+ pages, stored 2, unchanged 0, skipped 0$/)]);
    const status = capture();
    expect(await runSync({ json: true }, status, env)).toBe(0);
    const shown = JSON.parse(status.lines.join('\n')) as { polls: { peer: string; queryKey: string; lastSuccessAt?: string; totalStored: number }[] };
    expect(shown.polls).toEqual(expect.arrayContaining([expect.objectContaining({ peer: 'riverside-ehr', queryKey: 'Encounter?status=finished', lastSuccessAt: expect.any(String), totalStored: 2 })]));
    const again = capture();
    expect(await runSync({ poll: 'riverside-ehr' }, again, env)).toBe(1);
    expect(again.lines).toEqual(['Not polled: its last successful run is more recent than its minimum interval.']);
  });

  it('exits 3 when the EHR cannot be reached, and records the failure', async () => {
    const config = join(dir, 'unreachable.json');
    // Port 9 (discard): nothing listens there.
    writeFileSync(config, JSON.stringify({ clients: [], peers: [{ name: 'gone-ehr', kind: 'ehr', organization: RIVERSIDE, fhirBaseUrl: 'http://127.0.0.1:9/fhir', pull: { queries: ['Encounter?status=finished'], schedule: '0 7 * * *' }, limits: { timeoutMs: 2000 } }] }));
    const polled = capture();
    expect(await runSync({ poll: 'gone-ehr' }, polled, { ...env, CAREBRIDGE_CONFIG: config })).toBe(3);
    expect(polled.lines).toEqual([expect.stringMatching(/^✖ Encounter\?status=finished: 0 pages, .* — peer gone-ehr unreachable/)]);
    const status = capture();
    expect(await runSync({ peer: 'gone-ehr', json: true }, status, env)).toBe(0);
    expect((JSON.parse(status.lines.join('\n')) as { polls: { lastError?: string }[] }).polls).toEqual(expect.arrayContaining([expect.objectContaining({ lastError: expect.stringMatching(/unreachable/) })]));
  });

  it('refuses a peer that is not a polled EHR, and --poll without a config', async () => {
    expect(await runSync({ poll: 'nobody' }, capture(), env)).toBe(2);
    expect(await runSync({ poll: 'riverside-ehr' }, capture(), { CAREBRIDGE_DATABASE: env.CAREBRIDGE_DATABASE })).toBe(2);
    expect(await runSync({ poll: 'x', peer: 'y' }, capture(), env)).toBe(2);
  });
});
