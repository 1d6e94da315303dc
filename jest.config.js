/**
 * Projects:
 *  - app:   unit + API tests beside the code (src/**). Real Postgres/Redis when TEST_DATABASE_URL /
 *           REDIS_URL are set, PGlite and in-memory stores otherwise.
 *  - stack: test/stack, through this repo's nginx and PgBouncer configs (scripts/test-stack.sh up).
 *  - e2e:   test/e2e, Debian's Chromium via playwright-core against the stack.
 * `npm test` runs app; `npm run test:stack` runs stack + e2e one file at a time (a test there stops
 * Postgres, so nothing may run beside it). Without the stack those tests fail, never skip.
 */
const transform = { '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }] };
const common = { transform, testEnvironment: 'node', setupFiles: ['<rootDir>/test/support/jest.setup.js'] };

const all = {
  app: { ...common, displayName: 'app', testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/test/repo/**/*.test.ts'], testTimeout: 30_000 },
  stack: { ...common, displayName: 'stack', testMatch: ['<rootDir>/test/stack/**/*.test.ts'], testTimeout: 120_000 },
  e2e: { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'], testTimeout: 120_000 },
};

const wanted = process.env.HEARTH_TEST_PROJECTS
  ? process.env.HEARTH_TEST_PROJECTS.split(',').map((s) => s.trim())
  : ['app'];

module.exports = {
  projects: wanted.map((name) => {
    if (!all[name]) throw new Error(`HEARTH_TEST_PROJECTS: unknown project ${name}`);
    return all[name];
  }),
};
