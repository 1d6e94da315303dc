import PgBoss from 'pg-boss';
import type { PGlite } from '@electric-sql/pglite';
import { Client, type Pool } from 'pg';
import type { Database } from '../db/client';
import type { Logger } from '../logger';

/** pg-boss keeps its tables in their own schema; the queues Hearth uses are created with it. */
export const JOB_SCHEMA = 'pgboss';
export const QUEUES = ['kb-ingest'] as const;
const JOB_SCHEMA_LOCK_KEY = '4242420002';
export type QueueName = (typeof QUEUES)[number];

type SqlResult = { rows: unknown[]; rowCount?: number };
interface BossDb {
  executeSql(text: string, values?: unknown[]): Promise<SqlResult>;
}

/**
 * pg-boss sends multi-statement SQL without parameters (its schema, maintenance), which PGlite runs
 * only through `exec`; everything else goes through `query` (DESIGN.md, "Jobs").
 */
function pgliteAdapter(pglite: PGlite): BossDb {
  return {
    executeSql: async (text, values) => {
      if (values && values.length > 0) {
        const r = await pglite.query(text, values);
        return { rows: r.rows, rowCount: r.affectedRows };
      }
      const results = await pglite.exec(text);
      const last = results[results.length - 1];
      return { rows: last?.rows ?? [], rowCount: last?.affectedRows };
    },
  };
}

/** Through the app's own (small) pool: PgBouncer-safe, since pg-boss uses no session state. */
const poolAdapter = (pool: Pool): BossDb => ({ executeSql: (text, values) => pool.query(text, values as unknown[]) as Promise<SqlResult> });

/**
 * Creates or upgrades pg-boss's schema and Hearth's queues: once, at migration time, over the direct
 * connection (pg-boss takes a transaction-scoped advisory lock for this, so processes starting
 * together agree).
 */
export async function migrateJobSchema(target: { url: string } | { pglite: PGlite }): Promise<void> {
  if ('pglite' in target) return installJobSchema(target);
  // pg-boss's CREATE SCHEMA IF NOT EXISTS races when processes start together: hold a
  // transaction-scoped lock on a connection of our own while it runs (safe through PgBouncer too).
  const guard = new Client({ connectionString: target.url, application_name: 'hearth-migrate' });
  await guard.connect();
  try {
    await guard.query('BEGIN');
    await guard.query('SELECT pg_advisory_xact_lock($1::bigint)', [JOB_SCHEMA_LOCK_KEY]);
    await installJobSchema(target);
    await guard.query('COMMIT');
  } finally {
    await guard.end();
  }
}

async function installJobSchema(target: { url: string } | { pglite: PGlite }): Promise<void> {
  const boss = new PgBoss({
    ...('url' in target ? { connectionString: target.url, max: 2, application_name: 'hearth-migrate' } : { db: pgliteAdapter(target.pglite) }),
    schema: JOB_SCHEMA,
    migrate: true,
    supervise: false,
    schedule: false,
  });
  boss.on('error', () => undefined);
  await boss.start();
  try {
    for (const name of QUEUES) if (!(await boss.getQueue(name))) await boss.createQueue(name, { name, policy: 'standard' });
  } finally {
    await boss.stop({ graceful: false, wait: true, close: 'url' in target });
  }
}

export interface SendOptions {
  retryLimit?: number;
  retryDelaySeconds?: number;
  expireInSeconds?: number;
  startAfterSeconds?: number;
}

export interface JobQueue {
  start(): Promise<void>;
  send(queue: QueueName, data: object, opts?: SendOptions): Promise<string | null>;
  /** Handles jobs one at a time per worker; a throw makes pg-boss retry with backoff. */
  work(queue: QueueName, opts: { workers: number; pollingIntervalSeconds?: number }, handler: (data: Record<string, unknown>, job: { id: string; retryCount: number }) => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The durable job queue (pg-boss 10 on the app's database: jobs are backed up with everything else
 * and survive restarts). The schema is the migration step's job; here it is only checked.
 */
export function createJobQueue(database: Database, logger: Logger, opts: { maintenanceIntervalSeconds?: number } = {}): JobQueue {
  const db = database.pglite ? pgliteAdapter(database.pglite) : poolAdapter(database.pool!);
  const boss = new PgBoss({ db, schema: JOB_SCHEMA, migrate: false, schedule: false, supervise: true, maintenanceIntervalSeconds: opts.maintenanceIntervalSeconds ?? 60 });
  boss.on('error', (err: Error) => logger.warn('jobs.error', { error: err.message }));
  let started: Promise<unknown> | undefined;
  let stopped = false;
  return {
    start: async () => {
      started ??= boss.start();
      await started;
    },
    send: (queue, data, o = {}) =>
      boss.send(queue, data, {
        retryLimit: o.retryLimit ?? 5,
        retryDelay: o.retryDelaySeconds ?? 5,
        retryBackoff: true,
        expireInSeconds: o.expireInSeconds ?? 3600,
        startAfter: o.startAfterSeconds,
      }),
    work: async (queue, o, handler) => {
      for (let i = 0; i < o.workers; i++) {
        let workerId = '';
        workerId = await boss.work(queue, { batchSize: 1, includeMetadata: true, pollingIntervalSeconds: o.pollingIntervalSeconds ?? 2 }, async (jobs) => {
          try {
            for (const job of jobs) await handler(job.data as Record<string, unknown>, { id: job.id, retryCount: job.retryCount });
          } finally {
            // pg-boss waits a polling interval even after a job; a busy queue is drained back to back.
            if (jobs.length > 0 && workerId) boss.notifyWorker(workerId);
          }
        });
      }
    },
    stop: async () => {
      if (stopped || !started) return;
      stopped = true;
      await started.catch(() => undefined);
      // The app owns the pool (or PGlite); pg-boss must not close it. In-flight handlers get a moment.
      await boss.stop({ graceful: true, wait: true, close: false, timeout: 5_000 });
    },
  };
}
