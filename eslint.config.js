import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'coverage/', 'dist/', '.scratch/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': ['error', { selector: 'TSEnumDeclaration', message: 'Enums are not erasable; use a union of string literals.' }],
    },
  },
  {
    // The core never talks to the network or a database (DESIGN.md: ports and adapters).
    files: ['src/model/**', 'src/mapping/**', 'src/validation/**', 'src/search/**', 'src/workflow/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['express', 'better-sqlite3', 'pg', 'node:http', 'node:https', 'node:net', '*/store/*', '*/api/*', '*/sync/*'] }],
    },
  },
  {
    // Model and mapping are pure: not even files (validation loads its definitions once at start).
    files: ['src/model/**', 'src/mapping/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['express', 'better-sqlite3', 'pg', 'node:http', 'node:https', 'node:net', 'node:fs', 'node:fs/promises', '*/store/*', '*/api/*', '*/sync/*', '*/validation/*'] }],
    },
  },
);
