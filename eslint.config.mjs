import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import jest from 'eslint-plugin-jest';
import moduleBoundaries from './eslint-rules/module-boundaries.mjs';

const ZOD = { name: 'zod', message: "Import { z } from 'src/platform/zod' so schemas carry OpenAPI metadata." };

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
    // Module boundaries (see eslint-rules/module-boundaries.mjs), and every schema uses the
    // OpenAPI-extended zod from the platform.
    files: ['src/**/*.ts'],
    plugins: { hearth: { rules: { 'module-boundaries': moduleBoundaries } } },
    rules: {
      'hearth/module-boundaries': 'error',
      'no-restricted-imports': ['error', { paths: [ZOD] }],
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
