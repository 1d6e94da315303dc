import { Client } from 'pg';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import type { PGlite } from '@electric-sql/pglite';
import type { Logger } from '../logger';
import { migrationsFolder } from '../paths';
import type { Db } from './client';

// Any fixed 64-bit number works; it only has to be the same in every Hearth process.
const MIGRATION_LOCK_KEY = 4_242_420_001n;
const MIGRATIONS = { migrationsFolder: migrationsFolder(), migrationsTable: '__drizzle_migrations', migrationsSchema: 'drizzle' };

export type MigrationTarget = { url: string } | { pglite: PGlite };

async function appliedCount(query: (text: string) => Promise<{ rows: unknown[] }>): Promise<number> {
  const { rows } = await query(
    `SELECT count(*)::int AS n FROM pg_catalog.pg_tables WHERE schemaname = 'drizzle' AND tablename = '__drizzle_migrations'`,
  );
  if ((rows[0] as { n: number }).n === 0) return 0;
  const res = await query('SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations');
  return (res.rows[0] as { n: number }).n;
}

/**
 * Applies pending migrations once, even when N processes start together: each takes the same
 * session advisory lock first, so the others wait and then find nothing left to do. The URL must
 * be a direct connection (MIGRATION_DATABASE_URL): session locks mean nothing through PgBouncer.
 */
export async function runMigrations(target: MigrationTarget, logger: Logger): Promise<{ applied: number }> {
  const started = Date.now();
  if ('pglite' in target) {
    const before = await appliedCount((t) => target.pglite.query(t));
    await migratePglite(drizzlePglite(target.pglite), MIGRATIONS);
    const applied = (await appliedCount((t) => target.pglite.query(t))) - before;
    logger.info('db.migrations.done', { applied, durationMs: Date.now() - started, database: 'pglite' });
    return { applied };
  }
  const client = new Client({ connectionString: target.url, application_name: 'hearth-migrate' });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    const waitedMs = Date.now() - started;
    try {
      const before = await appliedCount((t) => client.query(t));
      await migratePg(drizzlePg(client), MIGRATIONS);
      const applied = (await appliedCount((t) => client.query(t))) - before;
      logger.info('db.migrations.done', { applied, waitedForLockMs: waitedMs, durationMs: Date.now() - started, database: 'postgres' });
      return { applied };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()]);
    }
  } finally {
    await client.end();
  }
}

/** Migrations in `migrations/` that the database has not applied yet (readiness check). */
export async function pendingMigrations(db: Db): Promise<number> {
  const files = readMigrationFiles(MIGRATIONS);
  const exists = await db.execute<{ n: number }>(
    sql`SELECT count(*)::int AS n FROM pg_catalog.pg_tables WHERE schemaname = 'drizzle' AND tablename = '__drizzle_migrations'`,
  );
  if (Number(rowsOf<{ n: number }>(exists)[0]?.n ?? 0) === 0) return files.length;
  const res = await db.execute<{ last: string | null }>(sql`SELECT max(created_at)::text AS last FROM drizzle.__drizzle_migrations`);
  const last = Number(rowsOf<{ last: string | null }>(res)[0]?.last ?? 0);
  // Same rule as drizzle's migrator: a migration is applied when its folder time is not newer.
  return files.filter((m) => m.folderMillis > last).length;
}

/** node-postgres answers `{ rows }`, PGlite too; drizzle's typing differs per driver. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
