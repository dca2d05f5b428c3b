// Jest runs in native ESM mode (see package.json test:unit) so that ESM-only nock loads
// without listing its dependencies in transformIgnorePatterns.
import { Socket } from 'node:net';

/** PostgreSQL-backed suites (*.int.test.ts) need the server; CI must have it (.ci/run starts it). */
function postgresReachable() {
  const url = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1500, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(url.port || 5432), url.hostname, () => done(true));
  });
}

export default async () => {
  const postgres = await postgresReachable();
  if (!postgres && process.env.CI !== 'true') {
    console.warn('PostgreSQL is not reachable: the *.int.test.ts suites are skipped on this machine (CI runs them).');
  }
  /** @type {import('jest').Config} */
  return {
    testEnvironment: 'node',
    extensionsToTreatAsEsm: ['.ts'],
    transform: {
      '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2024' }, module: { type: 'es6' } }],
    },
    testMatch: ['<rootDir>/test/**/*.test.ts'],
    testPathIgnorePatterns: ['/node_modules/', ...(postgres || process.env.CI === 'true' ? [] : ['\\.int\\.test\\.ts$'])],
    // Definitions load once per worker (~0.5 s); two workers match the two cores here.
    maxWorkers: 2,
    testTimeout: 30000,
  };
};
