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
   * Whether this client may be let through before its verdict (see limitAlongside): its last count
   * seen by this process, in a window still running, minus the requests let through early since,
   * leaves more than a tenth of the limit. Answering yes takes one of those requests, so a burst
   * gets at most that many past its verdicts, all of which the limit still allows.
   */
  takeHeadroom(req: Request): boolean;
}

/** Clients' last counts kept per process (the oldest go first beyond this). */
const REMEMBERED_CLIENTS = 10_000;

type LimitInfo = { key?: string; remaining: number; resetTime?: Date };

export function createRateLimiter(opts: RateLimitOptions): RateLimiter {
  // The key of a request before the limiter has seen it: the limiter's own default (the client ip,
  // req.ip, so TRUST_PROXY applies, IPv6 grouped by /56) unless a key generator is given. The
  // default is left to the limiter, whose checks warn about a missing TRUST_PROXY.
  const keyOf = opts.keyGenerator ?? ((req: Request) => (req.ip ? ipKeyGenerator(req.ip) : undefined));
  const seen = new Map<string, { remaining: number; resetAt: number }>();
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
    ...(opts.keyGenerator ? { keyGenerator: opts.keyGenerator } : {}),
    handler: (req, _res, next, options) => {
      const info = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit;
      const retryAfter = info?.resetTime ? Math.ceil((info.resetTime.getTime() - Date.now()) / 1000) : Math.ceil(options.windowMs / 1000);
      next(new TooManyRequestsError('rate-limited', opts.message ?? 'Too many requests. Slow down and try again shortly.', retryAfter));
    },
  });
  const handler = ((req, res, next) => {
    const before = (req as Request & { rateLimit?: LimitInfo }).rateLimit;
    return limiter(req, res, (err?: unknown) => {
      // Only this limiter's own count (another limiter's, left on the request, is not ours).
      const info = (req as Request & { rateLimit?: LimitInfo }).rateLimit;
      if (info && info !== before && info.key !== undefined && info.resetTime) {
        const reported = info.resetTime.getTime();
        const known = seen.get(info.key);
        // Within one window a verdict never gives back what takeHeadroom took: the count it
        // reports may predate requests let through since. The Redis store reports the reset as
        // now + TTL, which moves by its latency, so "the same window" is a reset within half a
        // window of the one known (the next window's is a whole window later).
        const sameWindow = known !== undefined && Math.abs(known.resetAt - reported) < opts.windowMs / 2;
        const entry = sameWindow ? { remaining: Math.min(known.remaining, info.remaining), resetAt: known.resetAt } : { remaining: info.remaining, resetAt: reported };
        seen.delete(info.key);
        seen.set(info.key, entry);
        if (seen.size > REMEMBERED_CLIENTS) seen.delete(seen.keys().next().value!);
      }
      next(err);
    });
  }) as RateLimiter;
  handler.takeHeadroom = (req) => {
    const key = keyOf(req);
    const last = key === undefined ? undefined : seen.get(key);
    if (!last || last.resetAt <= Date.now() || last.remaining <= opts.limit / 10) return false;
    last.remaining -= 1;
    return true;
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
  /** Runs the chain like Express would; `done` once, with the first error (thrown, passed or rejected). */
  const run = (req: Request, res: Response, done: (err?: unknown) => void) => {
    let i = 0;
    let finished = false;
    const end = (err?: unknown) => {
      if (finished) return;
      finished = true;
      done(err);
    };
    const step = (err?: unknown) => {
      if (finished) return;
      if (err) return end(err);
      const next = chain[i++];
      if (!next) return end();
      try {
        const returned: unknown = next(req, res, step);
        if (returned instanceof Promise) returned.catch(end);
      } catch (e) {
        end(e);
      }
    };
    step();
  };
  return (req, res, next) => {
    if (!limiter.takeHeadroom(req)) return limiter(req, res, (err?: unknown) => (err ? next(err) : run(req, res, next)));
    let verdict: unknown = WAITING;
    let ran: unknown = WAITING;
    let settled = false;
    const settle = () => {
      if (settled || verdict === WAITING || ran === WAITING) return;
      settled = true;
      // The limiter's refusal comes first, whatever the chain decided.
      next(verdict ?? ran ?? undefined);
    };
    limiter(req, res, (err?: unknown) => {
      if (verdict !== WAITING) return;
      verdict = err ?? null;
      settle();
    });
    run(req, res, (err?: unknown) => {
      ran = err ?? null;
      settle();
    });
  };
}
