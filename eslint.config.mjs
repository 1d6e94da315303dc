import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import jest from 'eslint-plugin-jest';

const ZOD = { name: 'zod', message: "Import { z } from 'src/platform/zod' so schemas carry OpenAPI metadata." };
const INTO_MODULE = { regex: '^(\\.\\.?/)+(.*/)?modules/[^/]+/.+', message: "Import another module only through its index.ts (e.g. './modules/auth')." };
// From src/modules/<a>/x.ts, '../<b>/anything' reaches into module b.
const INTO_SIBLING = { regex: '^\\.\\./[^./][^/]*/.+', message: "Import a sibling module only through its index.ts (e.g. '../auth')." };

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**', 'reports/**', 'web/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', require: 'readonly', module: 'writable', __dirname: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', fetch: 'readonly', URL: 'readonly', performance: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    // Module boundaries: another module is reached only through its index.ts, and every schema
    // uses the OpenAPI-extended zod from the platform.
    files: ['src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [ZOD], patterns: [INTO_MODULE] }] },
  },
  {
    files: ['src/modules/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [ZOD], patterns: [INTO_MODULE, INTO_SIBLING] }] },
  },
  {
    // Platform code must not depend on modules (modules depend on the platform, never the reverse).
    files: ['src/platform/**/*.ts', 'src/config/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [ZOD], patterns: [{ regex: '(^|/)modules(/|$)', message: 'The platform must not import modules.' }] },
      ],
    },
  },
  { files: ['src/platform/zod.ts', 'src/config/config.schema.ts', 'src/config/index.ts'], rules: { 'no-restricted-imports': 'off' } },
  {
    files: ['**/*.test.ts', 'test/**/*.ts'],
    plugins: { jest },
    rules: {
      'jest/no-focused-tests': 'error',
      'jest/no-disabled-tests': 'error',
      'jest/no-identical-title': 'error',
      'jest/valid-expect': 'error',
    },
  },
);
