import type { Request, RequestHandler } from 'express';
import { rateLimit, type Store } from 'express-rate-limit';
import { RedisStore } from 'rate-limit-redis';
import { TooManyRequestsError } from '../errors';
import type { RedisClient } from '../redis';

export interface RateLimitOptions {
  /** Distinguishes counters in Redis: two limiters with the same name share counts. */
  name: string;
  windowMs: number;
  limit: number;
  redis?: RedisClient;
  /** REDIS_PREFIX: keeps instances sharing a Redis apart. */
  redisPrefix: string;
  keyGenerator?: (req: Request) => string;
  message?: string;
  skip?: (req: Request) => boolean;
}

export function createStore(name: string, redisPrefix: string, redis?: RedisClient): Store | undefined {
  if (!redis) return undefined; // express-rate-limit's MemoryStore: per process
  const store = new RedisStore({
    prefix: `${redisPrefix}rl:${name}:`,
    sendCommand: (...args: string[]) => redis.sendCommand(args),
  });
  // The store loads its scripts at once; while Redis is down that fails, and it reloads them on the
  // next increment. Mark the first attempt handled so it is not an unhandled rejection.
  for (const p of [store.incrementScriptSha, store.getScriptSha]) p.catch(() => undefined);
  return store;
}

export function createRateLimiter(opts: RateLimitOptions): RequestHandler {
  return rateLimit({
    windowMs: opts.windowMs,
    limit: opts.limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: opts.name,
    store: createStore(opts.name, opts.redisPrefix, opts.redis),
    // A Redis outage must not take the API down with it; the outage shows in /health/ready.
    passOnStoreError: true,
    skip: opts.skip,
    // The default key is the client ip (req.ip, so TRUST_PROXY applies), with IPv6 grouped by /56.
    ...(opts.keyGenerator ? { keyGenerator: opts.keyGenerator } : {}),
    handler: (req, _res, next, options) => {
      const info = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit;
      const retryAfter = info?.resetTime ? Math.ceil((info.resetTime.getTime() - Date.now()) / 1000) : Math.ceil(options.windowMs / 1000);
      next(new TooManyRequestsError('rate-limited', opts.message ?? 'Too many requests. Slow down and try again shortly.', retryAfter));
    },
  });
}
