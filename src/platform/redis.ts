import { createClient } from 'redis';
import type { Logger } from './logger';

export type RedisClient = ReturnType<typeof createClient>;

/**
 * Connects when REDIS_URL is set. The client reconnects forever with backoff. While Redis is away,
 * commands fail at once instead of queueing (so rate limits fail open and requests never hang),
 * and /health/ready says so. An unreachable Redis at start does not stop the app from starting.
 */
export async function createRedis(url: string | undefined, logger: Logger, opts: { connectTimeoutMs?: number } = {}): Promise<RedisClient | undefined> {
  if (!url) {
    logger.info('redis.disabled', { note: 'REDIS_URL is not set: rate limits and caches are in memory and apply per process' });
    return undefined;
  }
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: connectTimeoutMs,
      reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 5_000),
    },
  });
  let lastError = '';
  client.on('error', (err: Error) => {
    // Reconnect loops repeat the same error; log each distinct one once.
    if (err.message !== lastError) logger.warn('redis.error', { error: err.message });
    lastError = err.message;
  });
  client.on('ready', () => {
    lastError = '';
    logger.info('redis.ready');
  });
  const connecting = client.connect().catch((err: Error) => logger.error('redis.connect.failed', { error: err.message }));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    connecting.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), connectTimeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (timedOut) logger.error('redis.unavailable-at-start', { note: 'starting without Redis; it keeps reconnecting and /health/ready reports it' });
  return client;
}

/** Closes politely, but never lets a dead Redis hold up shutdown. */
export async function closeRedis(client: RedisClient, timeoutMs = 2_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closed = client.isOpen ? client.close().then(() => true, () => false) : Promise.resolve(false);
  const ok = await Promise.race([closed, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))]);
  clearTimeout(timer);
  if (!ok && client.isOpen) client.destroy();
}
