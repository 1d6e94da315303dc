import type { Response } from 'supertest';
import { sql } from 'drizzle-orm';
import { Client } from 'pg';
import { PasswordHasher } from '../../src/modules/auth/auth.passwords';
import { AuthRepository } from '../../src/modules/auth/auth.repository';
import { createDatabase, type Database } from '../../src/platform/db/client';
import { runMigrations } from '../../src/platform/db/migrate';
import type { Logger } from '../../src/platform/logger';
import { unique, type TestApp } from './test-app';

export const STRONG_PASSWORD = 'correct horse battery staple 42';

/** Test data set-up: a user straight in the database (there is no admin API for it yet). */
export async function createUser(t: TestApp, opts: { role?: 'admin' | 'member'; password?: string; email?: string; name?: string } = {}) {
  const repo = new AuthRepository(t.database.db);
  const password = opts.password ?? STRONG_PASSWORD;
  const user = await repo.insertUser({
    email: opts.email ?? `${unique('user')}@example.com`,
    name: opts.name ?? 'Test User',
    role: opts.role ?? 'member',
    passwordHash: await new PasswordHasher(10).hash(password),
    emailVerified: true,
  });
  return { ...user, password };
}

/** The Set-Cookie headers of a response, by cookie name. */
export function cookiesOf(res: Response): Record<string, string> {
  const raw = res.headers['set-cookie'] as unknown as string[] | undefined;
  const out: Record<string, string> = {};
  for (const c of raw ?? []) out[c.split('=')[0]!] = c;
  return out;
}

export const cookieHeader = (res: Response): string =>
  Object.values(cookiesOf(res))
    .map((c) => c.split(';')[0])
    .join('; ');

export async function auditRows(t: TestApp, where: { action?: string; targetId?: string; actorUserId?: string }) {
  const res = await t.database.db.execute(sql`SELECT action, actor_user_id, target_type, target_id, ip, request_id, metadata FROM audit_logs
    WHERE (${where.action ?? null}::text IS NULL OR action = ${where.action ?? null})
      AND (${where.targetId ?? null}::text IS NULL OR target_id = ${where.targetId ?? null})
      AND (${where.actorUserId ?? null}::text IS NULL OR actor_user_id::text = ${where.actorUserId ?? null})
    ORDER BY created_at`);
  return ((res as unknown as { rows: Record<string, unknown>[] }).rows ?? []) as Record<string, unknown>[];
}

/**
 * A database of its own (for tests that need "no admin exists yet"): a fresh PostgreSQL database
 * on the stack, reached through PgBouncer like the rest, or a new in-memory PGlite.
 */
export async function isolatedDatabase(logger: Logger): Promise<{ database: Database; drop: () => Promise<void> }> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) {
    const database = await createDatabase({ poolMax: 1, statementTimeoutMs: 30_000, pgliteDataDir: 'memory://', logger });
    await runMigrations({ pglite: database.pglite! }, logger);
    return { database, drop: () => database.close() };
  }
  const direct = process.env.TEST_MIGRATION_DATABASE_URL ?? url;
  const name = unique('hearth_iso').replace(/-/g, '_');
  const admin = new Client({ connectionString: direct });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const at = (u: string) => {
    const x = new URL(u);
    x.pathname = `/${name}`;
    return x.toString();
  };
  await runMigrations({ url: at(direct) }, logger);
  const database = await createDatabase({ url: at(url), poolMax: 2, statementTimeoutMs: 30_000, pgliteDataDir: 'memory://', logger });
  return {
    database,
    drop: async () => {
      await database.close();
      const c = new Client({ connectionString: direct });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
