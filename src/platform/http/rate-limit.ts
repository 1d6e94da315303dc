import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit, type Store } from 'express-rate-limit';
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

export interface RateLimiter extends RequestHandler {
  /**
   * Whether this client's last count seen by this process, in a window still running, left more
   * than a tenth of the limit: its next request will not be the one refused (see limitAlongside).
   */
  hasHeadroom(req: Request): boolean;
}

/** Clients' last counts kept per process (the oldest go first beyond this). */
const REMEMBERED_CLIENTS = 10_000;

export function createRateLimiter(opts: RateLimitOptions): RateLimiter {
  // The default key is the client ip (req.ip, so TRUST_PROXY applies), with IPv6 grouped by /56.
  const keyOf = opts.keyGenerator ?? ((req: Request) => ipKeyGenerator(req.ip ?? ''));
  const seen = new Map<string, { remaining: number; resetAt: number }>();
  const remember = (req: Request) => {
    const info = (req as Request & { rateLimit?: { remaining: number; resetTime?: Date } }).rateLimit;
    if (!info?.resetTime) return; // the store did not answer: nothing is known
    const key = keyOf(req);
    seen.delete(key);
    seen.set(key, { remaining: info.remaining, resetAt: info.resetTime.getTime() });
    if (seen.size > REMEMBERED_CLIENTS) seen.delete(seen.keys().next().value!);
  };
  const limiter = rateLimit({
    windowMs: opts.windowMs,
    limit: opts.limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: opts.name,
    store: createStore(opts.name, opts.redisPrefix, opts.redis),
    // A Redis outage must not take the API down with it; the outage shows in /health/ready.
    passOnStoreError: true,
    skip: opts.skip,
    keyGenerator: keyOf,
    handler: (req, _res, next, options) => {
      const info = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit;
      const retryAfter = info?.resetTime ? Math.ceil((info.resetTime.getTime() - Date.now()) / 1000) : Math.ceil(options.windowMs / 1000);
      next(new TooManyRequestsError('rate-limited', opts.message ?? 'Too many requests. Slow down and try again shortly.', retryAfter));
    },
  });
  const handler = ((req, res, next) =>
    limiter(req, res, (err?: unknown) => {
      remember(req);
      next(err);
    })) as RateLimiter;
  handler.hasHeadroom = (req) => {
    const last = seen.get(keyOf(req));
    return last !== undefined && last.resetAt > Date.now() && last.remaining > opts.limit / 10;
  };
  return handler;
}

const WAITING = Symbol('waiting');

/**
 * `limiter`, then `chain` (body parsing, authentication), as one middleware. For a client with
 * headroom the chain runs while its count is taken, hiding that round trip (Redis, ~0.6 ms before
 * every first token); the limiter's verdict still comes first. A client near its limit, or not
 * seen yet, waits for the verdict before anything of the chain runs, as with plain middleware, so
 * a flood is refused before it costs the database a credential lookup.
 */
export function limitAlongside(limiter: RateLimiter, chain: RequestHandler[]): RequestHandler {
  const run = (req: Request, res: Response, done: (err?: unknown) => void) => {
    let i = 0;
    const step = (err?: unknown) => {
      if (err) return done(err);
      const next = chain[i++];
      if (!next) return done();
      try {
        next(req, res, step);
      } catch (e) {
        done(e);
      }
    };
    step();
  };
  return (req, res, next) => {
    if (!limiter.hasHeadroom(req)) return limiter(req, res, (err?: unknown) => (err ? next(err) : run(req, res, next)));
    let verdict: unknown = WAITING;
    let ran: unknown = WAITING;
    const settle = () => {
      if (verdict === WAITING || ran === WAITING) return;
      next(verdict ?? ran ?? undefined);
    };
    limiter(req, res, (err?: unknown) => {
      verdict = err ?? null;
      settle();
    });
    run(req, res, (err?: unknown) => {
      ran = err ?? null;
      settle();
    });
  };
}
