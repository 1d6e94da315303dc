import fs from 'node:fs';
import { Pool, type QueryConfig } from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite/vector';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type { Logger } from '../logger';
import * as schema from './schema';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  kind: 'postgres' | 'pglite';
  db: Db;
  /** Throws when the database cannot answer a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
  pool?: Pool;
  pglite?: PGlite;
}

export interface DatabaseOptions {
  url?: string;
  poolMax: number;
  statementTimeoutMs: number;
  /** Where PGlite keeps its files; `memory://` for an in-memory database (tests). */
  pgliteDataDir: string;
  logger: Logger;
}

/**
 * A query built once and run many times with placeholders, for the lookups every request makes
 * (building a drizzle query costs about as much as a PgBouncer round trip: measured 0.6 → 0.4 ms
 * for the API-key lookup). Unnamed on purpose: a named server-side prepared statement lives on one
 * PostgreSQL connection, and behind PgBouncer in transaction mode the next run may land on another.
 */
export function reusable<P>(query: { prepare(name: string): P }): P {
  return query.prepare(undefined as unknown as string);
}

export class DatabaseLockedError extends Error {
  override name = 'DatabaseLockedError';
}

export async function createDatabase(opts: DatabaseOptions): Promise<Database> {
  return opts.url ? createPostgres(opts, opts.url) : createPglite(opts);
}

function createPostgres(opts: DatabaseOptions, url: string): Database {
  // Small on purpose: PgBouncer does the pooling, and every process holds its own pool.
  const pool = new Pool({
    connectionString: url,
    max: opts.poolMax,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: 5_000,
    // Sent as a startup parameter: honoured by a direct connection, ignored by PgBouncer
    // (pgbouncer.ini sets the same timeout with connect_query).
    statement_timeout: opts.statementTimeoutMs,
    // Client-side bound as well: through PgBouncer a query can wait for a server connection (e.g.
    // while Postgres restarts); the pool then drops that connection instead of waiting on it.
    query_timeout: opts.statementTimeoutMs + 5_000,
    application_name: 'hearth',
  });
  // An idle client losing its server (Postgres restart) must not crash the process.
  pool.on('error', (err) => opts.logger.warn('db.pool.idle-client-error', { error: err.message }));
  const db = drizzlePg(pool, { schema }) as unknown as Db;
  return {
    kind: 'postgres',
    db,
    pool,
    ping: async () => {
      // Short, so a readiness probe during an outage frees its connection quickly.
      await pool.query({ text: 'SELECT 1', query_timeout: 2_000 } as QueryConfig);
    },
    close: () => pool.end(),
  };
}

/** A live process that is Hearth (node), not an unrelated process that reused a dead one's pid. */
function isLiveNode(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return /node|hearth/i.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true; // no /proc (macOS): trust the signal check
  }
}

/**
 * PGlite does not lock its data directory and two writers corrupt it, so a pid file guards it.
 * The pid file is created atomically (write a temporary file, link it into place); one whose
 * process is gone (crash, SIGKILL) is moved aside atomically and the claim retried.
 */
function acquirePgliteLock(dataDir: string): () => void {
  // Beside, not inside: PGlite refuses to initialise a non-empty directory.
  const lockFile = `${dataDir.replace(/\/+$/, '')}.pid`;
  const mine = String(process.pid);
  const tmp = `${lockFile}.${mine}.tmp`;
  fs.writeFileSync(tmp, mine);
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        fs.linkSync(tmp, lockFile);
        return () => {
          try {
            if (fs.readFileSync(lockFile, 'utf8') === mine) fs.unlinkSync(lockFile);
          } catch {
            /* already gone */
          }
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let owner: number;
      try {
        owner = Number(fs.readFileSync(lockFile, 'utf8'));
      } catch {
        continue; // released between our link and read: try again
      }
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isLiveNode(owner)) {
        throw new DatabaseLockedError(
          `The embedded database in ${dataDir} is already used by process ${owner}. ` +
            'PGlite serves one process only: set DATABASE_URL to run several processes (PM2 cluster, replicas).',
        );
      }
      try {
        fs.renameSync(lockFile, `${lockFile}.stale-${mine}`);
        fs.rmSync(`${lockFile}.stale-${mine}`, { force: true });
      } catch {
        /* another process reclaimed it first; retry */
      }
    }
    throw new DatabaseLockedError(`Could not lock the embedded database in ${dataDir}.`);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

async function createPglite(opts: DatabaseOptions): Promise<Database> {
  const instance = process.env.NODE_APP_INSTANCE;
  if (instance !== undefined && instance !== '0') {
    throw new DatabaseLockedError(
      `This is process ${instance} of a cluster, but the embedded database (PGlite) serves one process only. Set DATABASE_URL to a PostgreSQL server to run several processes.`,
    );
  }
  const inMemory = opts.pgliteDataDir.startsWith('memory://');
  let release = () => {};
  if (!inMemory) {
    fs.mkdirSync(opts.pgliteDataDir, { recursive: true });
    release = acquirePgliteLock(opts.pgliteDataDir);
  }
  let pglite: PGlite;
  try {
    // create(undefined, options) would drop the options: the one-argument form is the in-memory one.
    pglite = (await (inMemory ? PGlite.create({ extensions: { vector } }) : PGlite.create(opts.pgliteDataDir, { extensions: { vector } }))) as unknown as PGlite;
  } catch (err) {
    release();
    throw err;
  }
  const db = drizzlePglite(pglite, { schema }) as unknown as Db;
  return {
    kind: 'pglite',
    db,
    pglite,
    ping: async () => {
      await db.execute(sql`SELECT 1`);
    },
    close: async () => {
      await pglite.close();
      release();
    },
  };
}
