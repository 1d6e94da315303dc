import { Writable } from 'node:stream';
import crypto from 'node:crypto';
import { loadConfig, type Config } from '../../src/config';
import { buildApp, type AppDeps, type BuiltApp } from '../../src/app';
import { createLogger, type Logger } from '../../src/platform/logger';
import { createDatabase, type Database } from '../../src/platform/db/client';
import { runMigrations } from '../../src/platform/db/migrate';
import { closeRedis, createRedis, type RedisClient } from '../../src/platform/redis';

/** A unique suffix for names created by one test, so tests never trip over each other's data. */
export const unique = (prefix = 't'): string => `${prefix}-${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`;

/** The real services when the environment names them (CI, `scripts/test-stack.sh env`), PGlite otherwise. */
export const usingRealDatabase = (): boolean => Boolean(process.env.TEST_DATABASE_URL);

export async function openTestDatabase(logger: Logger): Promise<Database> {
  const url = process.env.TEST_DATABASE_URL;
  const database = await createDatabase({ url, poolMax: 4, statementTimeoutMs: 30_000, pgliteDataDir: 'memory://', logger });
  await runMigrations(database.pglite ? { pglite: database.pglite } : { url: process.env.TEST_MIGRATION_DATABASE_URL ?? url! }, logger);
  return database;
}

/** Log lines as parsed JSON objects, for tests that assert what was (and was not) logged. */
export function captureLogger(level = 'debug'): { logger: Logger; lines: Record<string, unknown>[]; text: () => string } {
  const lines: Record<string, unknown>[] = [];
  let raw = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw += chunk.toString();
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ level, stream }), lines, text: () => raw };
}

export interface TestApp extends BuiltApp {
  config: Config;
  database: Database;
  redis?: RedisClient;
  logs: Record<string, unknown>[];
  logText: () => string;
  close(): Promise<void>;
}

export async function createTestApp(env: Record<string, string> = {}, opts: { database?: Database; webRoot?: string; logLevel?: string; cookieSessionId?: AppDeps['cookieSessionId'] } = {}): Promise<TestApp> {
  const config = loadConfig({
    NODE_ENV: 'test',
    JWT_SECRET: 'test-jwt-secret-that-is-long-enough-0123456789',
    ENCRYPTION_KEY: '0'.repeat(64),
    BCRYPT_COST: '10',
    REDIS_URL: process.env.REDIS_URL ?? '',
    // Each test app counts its own rate limits, even when many share one Redis.
    REDIS_PREFIX: `${unique('test').replace(/-/g, '_')}:`,
    ...env,
  });
  const { logger, lines, text } = captureLogger(opts.logLevel);
  const database = opts.database ?? (await openTestDatabase(logger));
  const redis = await createRedis(config.redisUrl, logger);
  const lifecycle = new AbortController();
  const built = buildApp({ config, logger, database, redis, webRoot: opts.webRoot, cookieSessionId: opts.cookieSessionId, lifecycle: { signal: lifecycle.signal } });
  await built.start();
  return {
    ...built,
    config,
    database,
    redis,
    logs: lines,
    logText: text,
    close: async () => {
      lifecycle.abort();
      await built.stop();
      if (redis) await closeRedis(redis);
      if (!opts.database) await database.close();
    },
  };
}
