import { z } from '../zod';
import type { ApiDocs } from '../openapi';
import type { Database } from '../db/client';
import { pendingMigrations } from '../db/migrate';
import type { RedisClient } from '../redis';

export type CheckStatus = 'ok' | 'fail';
export interface CheckResult {
  status: CheckStatus;
  latencyMs: number;
  error?: string;
  [extra: string]: unknown;
}

const CheckSchema = z.object({ status: z.enum(['ok', 'fail']), latencyMs: z.number(), error: z.string().optional() }).catchall(z.unknown());
const ReadySchema = z
  .object({ status: z.enum(['ok', 'fail']), checks: z.record(z.string(), CheckSchema) })
  .openapi('Readiness');

async function timed(timeoutMs: number, fn: () => Promise<Record<string, unknown> | void>): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const extra = await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { status: 'ok', latencyMs: Math.round(performance.now() - started), ...(extra ?? {}) };
  } catch (err) {
    return { status: 'fail', latencyMs: Math.round(performance.now() - started), error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export interface HealthDeps {
  database: Database;
  redis?: RedisClient;
  shuttingDown: () => boolean;
  /** Extra checks later modules add (e.g. provider circuit breakers); they report but never fail readiness. */
  informational?: () => Record<string, unknown>;
  timeoutMs?: number;
}

export function healthRoutes(docs: ApiDocs, deps: HealthDeps) {
  const timeoutMs = deps.timeoutMs ?? 2_000;
  const api = docs.router();
  api.route(
    {
      method: 'get',
      access: 'public',
      path: '/health/live',
      summary: 'Liveness: the process is up and its event loop answers',
      tags: ['health'],
      responses: { 200: { description: 'Alive', schema: z.object({ status: z.literal('ok') }) } },
    },
    (_req, res) => {
      res.json({ status: 'ok' });
    },
  );
  api.route(
    {
      method: 'get',
      access: 'public',
      path: '/health/ready',
      summary: 'Readiness: database, Redis (when configured) and migrations',
      tags: ['health'],
      responses: { 200: { description: 'Ready', schema: ReadySchema }, 503: { description: 'Not ready; see the failing check', schema: ReadySchema } },
    },
    async (_req, res) => {
      const checks: Record<string, CheckResult | Record<string, unknown>> = {};
      const [database, migrations, redis] = await Promise.all([
        timed(timeoutMs, () => deps.database.ping().then(() => ({ kind: deps.database.kind }))),
        timed(timeoutMs, async () => {
          const pending = await pendingMigrations(deps.database.db);
          if (pending > 0) throw new Error(`${pending} migration(s) pending: run npm run db:migrate`);
          return { pending };
        }),
        deps.redis
          ? timed(timeoutMs, async () => {
              if (!deps.redis!.isReady) throw new Error('not connected');
              await deps.redis!.ping();
            })
          : undefined,
      ]);
      checks.database = database;
      checks.migrations = migrations;
      if (redis) checks.redis = redis;
      if (deps.shuttingDown()) checks.process = { status: 'fail', latencyMs: 0, error: 'shutting down' };
      const failed = Object.values(checks).some((c) => (c as CheckResult).status === 'fail');
      if (deps.informational) Object.assign(checks, deps.informational());
      res.setHeader('Cache-Control', 'no-store');
      res.status(failed ? 503 : 200).json({ status: failed ? 'fail' : 'ok', checks });
    },
  );
  return api.router;
}
