// The readiness checks one by one: draining first (no store call), a store that hangs, a schema
// behind or ahead of this code, FHIR definitions loaded or not (in a fresh process).
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EXPECTED_SCHEMA_VERSION, checkReadiness } from '../../src/observability/readiness.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function storeAt(version: number | Promise<number>): { kind: 'sqlite'; schemaVersion: () => Promise<number>; calls: number } {
  const store = { kind: 'sqlite' as const, calls: 0, schemaVersion: () => (store.calls++, Promise.resolve(version)) };
  return store;
}

describe('checkReadiness', () => {
  it('ready at the expected schema version, and ahead of it (a newer instance migrated first)', async () => {
    for (const version of [EXPECTED_SCHEMA_VERSION, EXPECTED_SCHEMA_VERSION + 1]) {
      expect(await checkReadiness({ store: storeAt(version), definitionsLoaded: () => true })).toEqual({ ready: true, checks: { store: 'ok', migrations: 'ok', definitions: 'ok' }, store: 'sqlite', schemaVersion: version });
    }
  });

  it('draining: not ready, without asking the store', async () => {
    const store = storeAt(EXPECTED_SCHEMA_VERSION);
    const readiness = await checkReadiness({ store, draining: () => true, definitionsLoaded: () => true });
    expect(readiness.ready).toBe(false);
    expect(Object.keys(readiness.checks)).toEqual(['shutdown']);
    expect(store.calls).toBe(0);
  });

  it('a store that does not answer in time: not ready, "store" says how long it waited', async () => {
    const readiness = await checkReadiness({ store: storeAt(new Promise<number>(() => undefined)), storeTimeoutMs: 50, definitionsLoaded: () => true });
    expect(readiness).toEqual({ ready: false, checks: { store: 'no answer within 50 ms', migrations: 'unknown: the store did not answer', definitions: 'ok' }, store: 'sqlite', storeError: 'timeout' });
  });

  it('definitions not loaded: not ready', async () => {
    const readiness = await checkReadiness({ store: storeAt(EXPECTED_SCHEMA_VERSION), definitionsLoaded: () => false });
    expect(readiness.ready).toBe(false);
    expect(readiness.checks.definitions).toBe('FHIR definitions not loaded: validation cannot run');
  });

  it('definitionsIndexed looks in @medplum/core: false in a fresh process, true once loadDefinitions ran', () => {
    const script = [
      "import { definitionsIndexed } from './src/observability/readiness.ts';",
      "import { loadDefinitions } from './src/validation/definitions.ts';",
      'const before = definitionsIndexed();',
      'loadDefinitions();',
      'console.log(JSON.stringify([before, definitionsIndexed()]));',
    ].join('\n');
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([false, true]);
  });
});
