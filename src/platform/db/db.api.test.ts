import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { createDatabase, DatabaseLockedError } from './client';
import { pendingMigrations, rowsOf, runMigrations } from './migrate';
import { migrationsFolder } from '../paths';
import { captureLogger, openTestDatabase, unique, usingRealDatabase } from '../../../test/support/test-app';

const journal = readMigrationFiles({ migrationsFolder: migrationsFolder() });

describe('database', () => {
  it('when migrations have run, then the vector extension (pgvector 0.8) exists and nothing is pending', async () => {
    const { logger } = captureLogger();
    const database = await openTestDatabase(logger);
    try {
      const res = await database.db.execute(sql`SELECT extversion FROM pg_extension WHERE extname = 'vector'`);
      expect(rowsOf<{ extversion: string }>(res)[0]?.extversion).toMatch(/^0\.8\./);
      expect(await pendingMigrations(database.db)).toBe(0);
      const again = await runMigrations(database.pglite ? { pglite: database.pglite } : { url: process.env.TEST_MIGRATION_DATABASE_URL ?? process.env.TEST_DATABASE_URL! }, logger);
      expect(again.applied).toBe(0);
      const v = await database.db.execute(sql`SELECT '[1,2,3]'::vector <=> '[1,2,4]'::vector AS d`);
      expect(Number(rowsOf<{ d: number }>(v)[0]?.d)).toBeGreaterThan(0);
    } finally {
      await database.close();
    }
  });

  it('when the database has never been migrated, then readiness counts every migration as pending', async () => {
    const { logger } = captureLogger();
    const database = await createDatabase({ poolMax: 1, statementTimeoutMs: 1000, pgliteDataDir: 'memory://', logger });
    try {
      expect(await pendingMigrations(database.db)).toBe(journal.length);
    } finally {
      await database.close();
    }
  });

  describe('PGlite is one process only', () => {
    const dir = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-pglite-')), 'pglite');

    it('when a second Database opens the same data directory while the first runs, then it is refused with a clear error', async () => {
      const { logger } = captureLogger();
      const d = dir();
      const first = await createDatabase({ poolMax: 1, statementTimeoutMs: 1000, pgliteDataDir: d, logger });
      // Another live node process to own the lock (our parent may be a shell, e.g. under npx).
      const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
      try {
        fs.writeFileSync(`${d}.pid`, String(other.pid));
        await expect(createDatabase({ poolMax: 1, statementTimeoutMs: 1000, pgliteDataDir: d, logger })).rejects.toThrow(/already used by process .*set DATABASE_URL/);
      } finally {
        other.kill('SIGKILL');
        fs.writeFileSync(`${d}.pid`, String(process.pid));
        await first.close();
      }
      expect(fs.existsSync(`${d}.pid`)).toBe(false);
    });

    it('when the lock was left by a process that died, then the next start reclaims it', async () => {
      const { logger } = captureLogger();
      const d = dir();
      fs.mkdirSync(path.dirname(d), { recursive: true });
      fs.writeFileSync(`${d}.pid`, '2147483646');
      const db = await createDatabase({ poolMax: 1, statementTimeoutMs: 1000, pgliteDataDir: d, logger });
      await db.close();
    });

    it('when PM2 starts instance 1 of a cluster without DATABASE_URL, then it is refused', async () => {
      const { logger } = captureLogger();
      process.env.NODE_APP_INSTANCE = '1';
      try {
        await expect(createDatabase({ poolMax: 1, statementTimeoutMs: 1000, pgliteDataDir: dir(), logger })).rejects.toBeInstanceOf(DatabaseLockedError);
      } finally {
        delete process.env.NODE_APP_INSTANCE;
      }
    });
  });

  // Needs a server: several connections and a database per test. PGlite runs everything above.
  if (usingRealDatabase()) describe('PostgreSQL', () => {
    const direct = () => process.env.TEST_MIGRATION_DATABASE_URL ?? process.env.TEST_DATABASE_URL!;

    it.each([
      ['directly', () => direct()],
      ['through PgBouncer by mistake', () => process.env.TEST_DATABASE_URL!],
    ])('when four processes migrate a fresh database at once (%s), then each migration is applied exactly once', async (_how, baseUrl) => {
      const name = unique('hearth_mig').replace(/-/g, '_');
      const admin = new Client({ connectionString: direct() });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      try {
        const url = new URL(baseUrl());
        url.pathname = `/${name}`;
        const { logger } = captureLogger();
        const results = await Promise.all(Array.from({ length: 4 }, () => runMigrations({ url: url.toString() }, logger)));
        expect(results.reduce((n, r) => n + r.applied, 0)).toBe(journal.length);
        const checkUrl = new URL(direct());
        checkUrl.pathname = `/${name}`;
        const check = new Client({ connectionString: checkUrl.toString() });
        await check.connect();
        const rows = await check.query('SELECT hash, count(*)::int AS n FROM drizzle.__drizzle_migrations GROUP BY hash');
        await check.end();
        expect(rows.rows).toHaveLength(journal.length);
        expect(rows.rows.every((r: { n: number }) => r.n === 1)).toBe(true);
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await admin.end();
      }
    });

    it('when a statement outlives DATABASE_STATEMENT_TIMEOUT_MS on a direct connection, then the server cancels it', async () => {
      const { logger } = captureLogger();
      const database = await createDatabase({ url: direct(), poolMax: 1, statementTimeoutMs: 200, pgliteDataDir: 'memory://', logger });
      try {
        // drizzle wraps the driver error; the server's reason is its cause.
        await expect(database.db.execute(sql`SELECT pg_sleep(2)`)).rejects.toMatchObject({ cause: { message: expect.stringMatching(/statement timeout/) } });
        await expect(database.ping()).resolves.toBeUndefined();
      } finally {
        await database.close();
      }
    });

    it('when connected through PgBouncer, then the statement timeout set by pgbouncer.ini applies', async () => {
      const { logger } = captureLogger();
      const database = await createDatabase({ url: process.env.TEST_DATABASE_URL, poolMax: 1, statementTimeoutMs: 200, pgliteDataDir: 'memory://', logger });
      try {
        const res = await database.db.execute(sql`SELECT current_setting('statement_timeout') AS t`);
        expect(rowsOf<{ t: string }>(res)[0]?.t).toBe('30s');
      } finally {
        await database.close();
      }
    });
  });
});
