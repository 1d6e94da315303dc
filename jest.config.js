/**
 * Projects:
 *  - app:   unit + API tests beside the code (src/**). Real Postgres/Redis when TEST_DATABASE_URL /
 *           REDIS_URL are set, PGlite and in-memory stores otherwise.
 *  - stack: test/stack, through this repo's nginx and PgBouncer configs (scripts/test-stack.sh up).
 *  - e2e:   test/e2e, Debian's Chromium via playwright-core against the stack.
 * `npm test` runs app; `npm run test:stack` runs stack + e2e one file at a time (a test there stops
 * Postgres, so nothing may run beside it). Without the stack those tests fail, never skip.
 */
// Type checking is `npm run typecheck`'s job; tests only transpile (fast, per file).
const transform = { '^.+\\.tsx?$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json', diagnostics: false }] };
const common = { transform, testEnvironment: 'node', setupFiles: ['<rootDir>/test/support/jest.setup.js'] };

const all = {
  app: { ...common, displayName: 'app', testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/test/repo/**/*.test.ts'] },
  stack: { ...common, displayName: 'stack', testMatch: ['<rootDir>/test/stack/**/*.test.ts'], setupFilesAfterEnv: ['<rootDir>/test/support/stack.setup.js'] },
  e2e: { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'], setupFilesAfterEnv: ['<rootDir>/test/support/stack.setup.js'] },
};

const wanted = process.env.HEARTH_TEST_PROJECTS
  ? process.env.HEARTH_TEST_PROJECTS.split(',').map((s) => s.trim())
  : ['app'];

module.exports = {
  testTimeout: 30_000,
  projects: wanted.map((name) => {
    if (!all[name]) throw new Error(`HEARTH_TEST_PROJECTS: unknown project ${name}`);
    return all[name];
  }),
};
