// Jest runs in native ESM mode (see package.json test:unit) so that ESM-only nock loads
// without listing its dependencies in transformIgnorePatterns.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2024' }, module: { type: 'es6' } }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // Definitions load once per worker (~0.5 s); two workers match the two cores here.
  maxWorkers: 2,
  testTimeout: 20000,
};
