import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMANDS, main } from '../../src/cli.ts';
import type { Command } from '../../src/cli.ts';
import { EXIT_CODES_TABLE } from '../../src/cli/exit-codes.ts';
import type { Io } from '../../src/cli/output.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const plan = (name: string): string => join(ROOT, 'fixtures/plans', name);
const invalid = (name: string): string => join(ROOT, 'fixtures/invalid', name);

function run(...argv: string[]): { code: number; out: string; err: string } {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (t) => out.push(t), err: (t) => err.push(t) };
  const code = main(argv, io) as number;
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('carebridge validate', () => {
  it('exits 0 for valid plans and FHIR, with one summary line each', () => {
    const hl7 = join(ROOT, '../shared/fixtures/hl7/careteam-example.json');
    const { code, out } = run('validate', plan('heart-failure-home-health.json'), hl7);
    expect(code).toBe(0);
    expect(out).toContain('heart-failure-home-health.json (TransitionPlan): valid, 0 errors, 0 warnings');
    expect(out).toContain('careteam-example.json (CareTeam): valid, 0 errors, 0 warnings');
  });

  it('exits 1 when any file has an error, and names the path', () => {
    const { code, out } = run('validate', plan('copd-home-oxygen-medicare.json'), invalid('discharge-before-admission.json'));
    expect(code).toBe(1);
    expect(out).toMatch(/discharge-before-admission.json \(TransitionPlan\): INVALID, 1 error/);
    expect(out).toContain('/hospitalStay/dischargedAt: discharge must be after admission');
  });

  it('exits 0 when a file has only warnings', () => {
    const hl7 = join(ROOT, '../shared/fixtures/hl7/coverageeligibilityresponse-example.json');
    const { code, out } = run('validate', hl7);
    expect(code).toBe(0);
    expect(out).toContain('valid, 0 errors, 1 warning');
  });

  it('prints OperationOutcomes as JSON with --json', () => {
    const { code, out } = run('validate', '--json', invalid('unknown-role.json'));
    expect(code).toBe(1);
    const results = JSON.parse(out) as { file: string; kind: string; outcome: { resourceType: string; issue: { location: string[] }[] } }[];
    expect(results).toHaveLength(1);
    expect(results[0]?.kind).toBe('transition-plan');
    expect(results[0]?.outcome.resourceType).toBe('OperationOutcome');
    expect(results[0]?.outcome.issue[0]?.location).toEqual(['/careTeam/6/role']);
  });

  it('reports unreadable, non-JSON and too deeply nested files as errors, not crashes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'carebridge-cli-'));
    writeFileSync(join(dir, 'not-json.json'), 'care plan, not JSON');
    writeFileSync(join(dir, 'deep.json'), '['.repeat(100) + ']'.repeat(100));
    const { code, out } = run('validate', join(dir, 'missing.json'), join(dir, 'not-json.json'), join(dir, 'deep.json'));
    expect(code).toBe(1);
    expect(out).toMatch(/missing.json \(unreadable\): INVALID[\s\S]*ENOENT/);
    expect(out).toMatch(/not-json.json \(unreadable\): INVALID[\s\S]*Not valid JSON/);
    expect(out).toMatch(/deep.json \(unreadable\): INVALID[\s\S]*deeper than 64 levels/);
  });

  it('refuses bad usage with exit code 2', () => {
    expect(run('validate').code).toBe(2);
    expect(run('validate', '--bogus', 'x.json').code).toBe(2);
    expect(run('frobnicate').code).toBe(2);
  });
});

describe('carebridge map', () => {
  it('prints the transaction Bundle of a valid plan', () => {
    const { code, out } = run('map', '--stable-ids', plan('dementia-medicaid-waiver.json'));
    expect(code).toBe(0);
    const bundle = JSON.parse(out) as { resourceType: string; type: string; entry: { fullUrl: string }[] };
    expect(bundle.resourceType).toBe('Bundle');
    expect(bundle.type).toBe('transaction');
    expect(bundle.entry[0]?.fullUrl).toBe('urn:uuid:00000000-0000-4000-8000-000000000001');
  });

  it('refuses an invalid plan on stderr with exit code 1', () => {
    const { code, out, err } = run('map', invalid('empty-care-team.json'));
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toContain('/careTeam: must not be empty');
  });
});

describe('the carebridge command', () => {
  it('runs from npx after npm ci, on Node 24, with --help', () => {
    const result = spawnSync(process.execPath, [join(ROOT, 'bin/carebridge.js'), '--help'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^carebridge — carries a patient's care plan/);
    expect(result.stdout).toContain('validate <file...>');
  });

  it('has --help on every command, listing its options and its exit codes', () => {
    const commands: [string[], Command][] = Object.entries(COMMANDS).flatMap(([name, command]) => [[[name], command] as [string[], Command], ...Object.entries(command.subcommands ?? {}).map(([sub, c]) => [[name, sub], c] as [string[], Command])]);
    expect(commands.map(([path]) => path.join(' '))).toEqual(expect.arrayContaining(['serve', 'demo', 'validate', 'map', 'migrate', 'outbox', 'replay', 'sync', 'backfill', 'clients', 'clients add', 'clients list', 'clients keygen']));
    for (const [path, command] of commands) {
      const { code, out } = run(...path, '--help');
      expect({ path, code }).toEqual({ path, code: 0 });
      expect(out).toMatch(new RegExp(`^Usage: carebridge ${path.join(' ')}`));
      for (const option of [...(command.options ?? []), ...(command.stringOptions ?? [])]) {
        expect({ path, option, listed: out.includes(`--${option}`) }).toEqual({ path, option, listed: true });
      }
      // In the shared table's sense: 0 success, 2 bad usage; 3 wherever a store or peer is reached.
      expect(out).toMatch(/\nExit codes: 0 [^\n]+, 2 bad usage/);
      if (/CAREBRIDGE_DATABASE/.test(out)) {
        expect({ path, unreachable: /2 bad usage, 3 [^\n]*reached/.test(out) }).toEqual({ path, unreachable: true });
      }
    }
  });

  it('lists every command and the shared exit codes in the top-level help', () => {
    const { code, out } = run('--help');
    expect(code).toBe(0);
    for (const name of Object.keys(COMMANDS)) {
      expect(out).toMatch(new RegExp(`\\n  ${name}\\b`));
    }
    expect(out).toContain(EXIT_CODES_TABLE);
    expect(run().code).toBe(2);
    expect(run('clients').code).toBe(2);
    expect(run('clients', 'frobnicate').code).toBe(2);
  });

  it('exits 3 when the store cannot be reached, and 2 when CAREBRIDGE_DATABASE is not a store', async () => {
    const saved = process.env.CAREBRIDGE_DATABASE;
    try {
      for (const [database, expected] of [['postgres://carebridge@127.0.0.1:1/carebridge', 3], ['mysql://db/carebridge', 2]] as const) {
        process.env.CAREBRIDGE_DATABASE = database;
        for (const argv of [['migrate'], ['outbox'], ['replay', '--all'], ['sync']]) {
          const err: string[] = [];
          const code = await main(argv, { out: () => undefined, err: (t) => err.push(t) });
          expect({ argv, database, code }).toEqual({ argv, database, code: expected });
          // A password in the URL is never shown.
          expect(err.join('\n')).not.toMatch(/carebridge@/);
        }
      }
    } finally {
      if (saved === undefined) {
        delete process.env.CAREBRIDGE_DATABASE;
      } else {
        process.env.CAREBRIDGE_DATABASE = saved;
      }
    }
  });

  it('runs the offline demo over every bundled plan', () => {
    const { code, out } = run('demo', '--offline');
    expect(code).toBe(0);
    expect(out).toMatch(/All \d+ example plans went through\./);
  });
});
