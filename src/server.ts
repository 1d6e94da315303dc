import http from 'node:http';
import * as Sentry from '@sentry/node';
import type { Config } from './config';
import { buildApp, type BuiltApp } from './app';
import { createLogger, type Logger } from './platform/logger';
import { createDatabase, type Database } from './platform/db/client';
import { runMigrations } from './platform/db/migrate';
import { closeRedis, createRedis, type RedisClient } from './platform/redis';
import path from 'node:path';

export interface RunningServer {
  server: http.Server;
  built: BuiltApp;
  database: Database;
  redis?: RedisClient;
  logger: Logger;
  /** Stops accepting, lets in-flight requests finish (up to the timeout), then closes everything. */
  shutdown(reason: string): Promise<void>;
}

export async function openResources(config: Config, logger: Logger): Promise<{ database: Database; redis?: RedisClient }> {
  const database = await createDatabase({
    url: config.db.url,
    poolMax: config.db.poolMax,
    statementTimeoutMs: config.db.statementTimeoutMs,
    pgliteDataDir: path.join(config.dataDir, 'pglite'),
    logger,
  });
  if (database.kind === 'pglite') logger.info('db.embedded', { dataDir: path.join(config.dataDir, 'pglite'), note: 'PGlite: one process only; set DATABASE_URL for PostgreSQL' });
  try {
    if (config.db.runMigrations) {
      await runMigrations(database.pglite ? { pglite: database.pglite } : { url: config.db.migrationUrl! }, logger);
    }
    const redis = await createRedis(config.redisUrl, logger);
    return { database, redis };
  } catch (err) {
    await database.close().catch(() => {});
    throw err;
  }
}

export async function startServer(config: Config, logger = createLogger({ level: config.logLevel })): Promise<RunningServer> {
  const { database, redis } = await openResources(config, logger);
  const controller = new AbortController();
  const built = buildApp({ config, logger, database, redis, lifecycle: { signal: controller.signal } });
  // First admin: from ADMIN_EMAIL/ADMIN_PASSWORD, or a one-time setup link in the log.
  await built.auth.service.bootstrap();
  await built.start();
  const server = http.createServer(built.app);
  // Longer than nginx's keepalive to the upstream, so nginx closes idle connections first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    // e.g. EADDRINUSE: close what was opened, so PGlite is shut down cleanly.
    if (redis) await closeRedis(redis);
    await database.close().catch(() => undefined);
    throw err;
  }
  const address = server.address();
  logger.info('server.listening', { port: typeof address === 'object' && address ? address.port : config.port, host: config.host, database: database.kind, redis: Boolean(redis) });
  if (config.secrets.generatedIn) logger.info('config.secrets.generated', { file: config.secrets.generatedIn, note: 'secrets were generated for this development instance; set JWT_SECRET and ENCRYPTION_KEY in production' });

  let closing: Promise<void> | undefined;
  const shutdown = (reason: string) => {
    closing ??= (async () => {
      logger.info('server.shutdown.start', { reason, timeoutMs: config.shutdownTimeoutMs });
      controller.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Idle keep-alive sockets would otherwise hold server.close() open until they time out.
      server.closeIdleConnections();
      const idleSweep = setInterval(() => server.closeIdleConnections(), 250);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        closed.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), config.shutdownTimeoutMs);
        }),
      ]);
      clearInterval(idleSweep);
      clearTimeout(timer);
      if (timedOut) {
        logger.warn('server.shutdown.timeout', { note: 'closing connections still open after SHUTDOWN_TIMEOUT_MS' });
        server.closeAllConnections();
        await closed;
      }
      await built.stop().catch((err: Error) => logger.warn('jobs.stop.failed', { error: err.message }));
      if (redis) await closeRedis(redis);
      await database.close().catch((err: Error) => logger.warn('db.close.failed', { error: err.message }));
      // Send any error events still queued (no-op when Sentry is off).
      await Sentry.close(2_000).catch(() => undefined);
      logger.info('server.shutdown.done', { reason });
    })();
    return closing;
  };

  return { server, built, database, redis, logger, shutdown };
}
