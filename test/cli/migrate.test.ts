// carebridge migrate on SQLite files.
import { afterAll, describe } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrateContract } from './support/migrate-contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'carebridge-migrate-'));
let n = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('carebridge migrate on SQLite', () => {
  migrateContract('sqlite', () => `sqlite:${join(dir, `carebridge-${++n}.db`)}`);
});
