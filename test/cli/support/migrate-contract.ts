// carebridge migrate on either store: a new database goes from 0 to the latest version, a second
// run changes nothing, and the store it leaves is one that opens and works.
import { expect, it } from '@jest/globals';
import { runMigrate } from '../../../src/cli/migrate-command.ts';
import { openStore } from '../../../src/store/open-store.ts';
import { MIGRATIONS } from '../../../src/store/sql/schema.ts';
import { capture } from './capture.ts';

const LATEST = Math.max(...MIGRATIONS.map((m) => m.version));

interface MigrateReport {
  store: string;
  database: string;
  from: number;
  to: number;
  applied: { version: number; description: string }[];
}

/** `database()` names a fresh, empty database for each call of the suite. */
export function migrateContract(kind: 'sqlite' | 'postgres', database: () => string): void {
  it('migrates a new database from 0 to the latest version, then finds it up to date', async () => {
    const env = { CAREBRIDGE_DATABASE: database() };
    const first = capture();
    expect(await runMigrate({ json: true }, first, env)).toBe(0);
    const report = first.json() as MigrateReport;
    expect(report).toMatchObject({ store: kind, from: 0, to: LATEST });
    expect(report.applied.map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(report.database).not.toMatch(/\/\/[^*]+@/);

    const again = capture();
    expect(await runMigrate({ json: true }, again, env)).toBe(0);
    expect(again.json()).toMatchObject({ from: LATEST, to: LATEST, applied: [] });
    const text = capture();
    expect(await runMigrate({}, text, env)).toBe(0);
    expect(text.lines).toEqual([`The ${kind} schema is up to date at version ${LATEST}.`]);

    const store = await openStore(env.CAREBRIDGE_DATABASE);
    try {
      expect(store.migration).toEqual({ from: LATEST, to: LATEST, applied: [] });
      const created = await store.create({ resourceType: 'Organization', name: 'Harbor Point Medical Center' });
      expect(created.version.versionId).toBe('1');
    } finally {
      await store.close();
    }
  });

  it('prints the migrations it applies, one line each', async () => {
    const io = capture();
    expect(await runMigrate({}, io, { CAREBRIDGE_DATABASE: database() })).toBe(0);
    expect(io.lines[0]).toBe(`Migrated the ${kind} schema from version 0 to ${LATEST}:`);
    expect(io.lines.slice(1)).toEqual(MIGRATIONS.map((m) => `  ${String(m.version).padStart(3)}  ${m.description}`));
  });
}
