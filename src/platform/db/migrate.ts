import { Client } from 'pg';
import { sql } from 'drizzle-orm';
import { readMigrationFiles, type MigrationMeta } from 'drizzle-orm/migrator';
import type { PGlite, Transaction } from '@electric-sql/pglite';
import type { Logger } from '../logger';
import { migrationsFolder } from '../paths';
import { migrateJobSchema } from '../jobs/queue';
import type { Db } from './client';

// Any fixed 64-bit number works; it only has to be the same in every Hearth process.
const MIGRATION_LOCK_KEY = '4242420001';

export type MigrationTarget = { url: string } | { pglite: PGlite };

let cachedFiles: MigrationMeta[] | undefined;
/** drizzle-kit's files (SQL split at breakpoints, hash, folder time), read once per process. */
function migrationFiles(): MigrationMeta[] {
  cachedFiles ??= readMigrationFiles({ migrationsFolder: migrationsFolder() });
  return cachedFiles;
}

interface Executor {
  /** Runs SQL without parameters (may hold several statements). */
  exec(text: string): Promise<void>;
  query<T>(text: string, params?: unknown[]): Promise<T[]>;
}

/**
 * Applies pending migrations once, even when N processes start together. Everything happens in one
 * transaction that first takes a transaction-scoped advisory lock: the others wait, then find nothing
 * left to do. Being one transaction it is also safe if someone points it at PgBouncer by mistake
 * (a session lock there would be taken and released on different server connections), though the
 * rule stays: MIGRATION_DATABASE_URL is a direct connection. drizzle-kit's migration files and
 * drizzle's bookkeeping table (drizzle.__drizzle_migrations) are used as they are, so
 * `drizzle-kit migrate` and this agree on what has been applied.
 */
async function migrateWith(tx: Executor): Promise<number> {
  await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
  await tx.exec(`CREATE SCHEMA IF NOT EXISTS drizzle;
    CREATE TABLE IF NOT EXISTS drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`);
  const last = await tx.query<{ created_at: string }>('SELECT created_at::text AS created_at FROM drizzle.__drizzle_migrations ORDER BY created_at DESC LIMIT 1');
  const lastMillis = Number(last[0]?.created_at ?? 0);
  let applied = 0;
  for (const m of migrationFiles()) {
    if (m.folderMillis <= lastMillis) continue;
    for (const statement of m.sql) if (statement.trim()) await tx.exec(statement);
    await tx.query('INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ($1, $2)', [m.hash, m.folderMillis]);
    applied += 1;
  }
  return applied;
}

export async function runMigrations(target: MigrationTarget, logger: Logger): Promise<{ applied: number }> {
  const started = Date.now();
  if ('pglite' in target) {
    const applied = await target.pglite.transaction((tx: Transaction) =>
      migrateWith({
        exec: async (text) => {
          await tx.exec(text);
        },
        query: async <T>(text: string, params?: unknown[]) => (await tx.query<T>(text, params)).rows,
      }),
    );
    await migrateJobSchema(target);
    logger.info('db.migrations.done', { applied, durationMs: Date.now() - started, database: 'pglite' });
    return { applied };
  }
  const client = new Client({ connectionString: target.url, application_name: 'hearth-migrate' });
  let applied = 0;
  await client.connect();
  try {
    await client.query('BEGIN');
    try {
      applied = await migrateWith({
        exec: async (text) => {
          await client.query(text);
        },
        query: async <T>(text: string, params?: unknown[]) => (await client.query(text, params)).rows as T[],
      });
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  } finally {
    await client.end();
  }
  // pg-boss's own schema and Hearth's queues, over the same direct connection (pg-boss locks it itself).
  await migrateJobSchema(target);
  logger.info('db.migrations.done', { applied, durationMs: Date.now() - started, database: 'postgres' });
  return { applied };
}

/** Migrations in `migrations/` that the database has not applied yet (readiness check). */
export async function pendingMigrations(db: Db): Promise<number> {
  const files = migrationFiles();
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
