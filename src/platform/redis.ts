import { createClient } from 'redis';
import type { Logger } from './logger';

export type RedisClient = ReturnType<typeof createClient>;

/**
 * Connects when REDIS_URL is set. The client reconnects forever with backoff; while Redis is
 * away /health/ready says so and rate limits fail open (see rate-limit.ts).
 */
export async function createRedis(url: string | undefined, logger: Logger, opts: { connectTimeoutMs?: number } = {}): Promise<RedisClient | undefined> {
  if (!url) {
    logger.info('redis.disabled', { note: 'REDIS_URL is not set: rate limits and caches are in memory and apply per process' });
    return undefined;
  }
  const client = createClient({
    url,
    socket: {
      connectTimeout: opts.connectTimeoutMs ?? 5_000,
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
  await client.connect();
  return client;
}
