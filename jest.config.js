/**
 * Projects:
 *  - app:   unit + API tests beside the code (src/**). Real Postgres/Redis when TEST_DATABASE_URL /
 *           REDIS_URL are set, PGlite and in-memory stores otherwise.
 *  - stack: test/stack, through this repo's nginx and PgBouncer configs (scripts/test-stack.sh up).
 *  - e2e:   test/e2e, Debian's Chromium via playwright-core against the stack.
 * stack and e2e run when the stack is up (HEARTH_STACK_URL) or on CI (where a missing stack is a
 * failure, not a skip). HEARTH_TEST_PROJECTS=app,stack picks projects explicitly.
 */
const transform = { '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }] };
const common = { transform, testEnvironment: 'node', setupFiles: ['<rootDir>/test/support/jest.setup.js'] };

const all = {
  app: { ...common, displayName: 'app', testMatch: ['<rootDir>/src/**/*.test.ts'], testTimeout: 30_000 },
  stack: { ...common, displayName: 'stack', testMatch: ['<rootDir>/test/stack/**/*.test.ts'], testTimeout: 120_000 },
  e2e: { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'], testTimeout: 120_000 },
};

const wanted = process.env.HEARTH_TEST_PROJECTS
  ? process.env.HEARTH_TEST_PROJECTS.split(',').map((s) => s.trim())
  : process.env.HEARTH_STACK_URL || process.env.CI === 'true'
    ? ['app', 'stack', 'e2e']
    : ['app'];

module.exports = {
  projects: wanted.map((name) => {
    if (!all[name]) throw new Error(`HEARTH_TEST_PROJECTS: unknown project ${name}`);
    return all[name];
  }),
};
