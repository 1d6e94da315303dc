import { ipKeyGenerator } from 'express-rate-limit';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RedisClient } from '../../platform/redis';

// The attempt that goes over `points` is refused: five failures in a row lock the pair, a hundred
// lock the account, each for blockDuration seconds from the attempt that tripped it.
export const PAIR_FAILURES = 5;
export const ACCOUNT_FAILURES = 100;
const PAIR = { points: PAIR_FAILURES, duration: 15 * 60, blockDuration: 15 * 60 };
const ACCOUNT = { points: ACCOUNT_FAILURES, duration: 60 * 60, blockDuration: 60 * 60 };

const MAIL = { points: 3, duration: 60 * 60, blockDuration: 0 };

export type LockScope = 'account-ip' | 'account';

export interface Attempt {
  /** Set when the attempt is refused before the password is even looked at. */
  locked?: { scope: LockScope; retryAfterSeconds: number; justLocked: boolean };
}

/**
 * Login throttling that stops guessing without letting a stranger lock the owner out: five
 * failures for one account from one address (IPv6 grouped by /56) lock only that pair; a hundred
 * for the account from anywhere within an hour lock the account. Every attempt is counted *before*
 * the password is checked, atomically in Redis when configured, so parallel requests cannot slip
 * past the limit; a successful sign-in gives its point back.
 */
export class LoginThrottle {
  private readonly pair: RateLimiterAbstract;
  private readonly account: RateLimiterAbstract;
  private readonly mail: RateLimiterAbstract;

  constructor(prefix: string, redis?: RedisClient) {
    const make = (name: string, o: { points: number; duration: number; blockDuration: number }) => {
      const keyPrefix = `${prefix}login:${name}`;
      if (!redis) return new RateLimiterMemory({ keyPrefix, ...o });
      // If Redis fails, fall back to per-process counting rather than refusing every sign-in.
      return new RateLimiterRedis({ storeClient: redis, useRedisPackage: true, keyPrefix, ...o, insuranceLimiter: new RateLimiterMemory({ keyPrefix, ...o }) });
    };
    this.pair = make('pair', PAIR);
    this.account = make('account', ACCOUNT);
    this.mail = make('mail', MAIL);
  }

  /** Whether another mail may go to this address now (3 an hour), counting this one. */
  async mailAllowed(address: string): Promise<boolean> {
    return !(await LoginThrottle.consume(this.mail, address.trim().toLowerCase())).over;
  }

  private static keys(account: string, ip: string) {
    const a = account.trim().toLowerCase();
    return { pair: `${a}|${ipKeyGenerator(ip, 56)}`, account: a };
  }

  private static async consume(limiter: RateLimiterAbstract, key: string): Promise<{ over: boolean; res: RateLimiterRes }> {
    try {
      return { over: false, res: await limiter.consume(key) };
    } catch (rej) {
      if (rej instanceof RateLimiterRes) return { over: true, res: rej };
      throw rej;
    }
  }

  /** Counts an attempt for `account` (an email, or a user id for re-authentication) from `ip`. */
  async attempt(account: string, ip: string): Promise<Attempt> {
    const k = LoginThrottle.keys(account, ip);
    const [pair, acc] = await Promise.all([LoginThrottle.consume(this.pair, k.pair), LoginThrottle.consume(this.account, k.account)]);
    const lock = acc.over ? { scope: 'account' as const, r: acc.res, points: ACCOUNT.points } : pair.over ? { scope: 'account-ip' as const, r: pair.res, points: PAIR.points } : undefined;
    if (!lock) return {};
    return { locked: { scope: lock.scope, retryAfterSeconds: Math.max(1, Math.ceil(lock.r.msBeforeNext / 1000)), justLocked: lock.r.consumedPoints === lock.points + 1 } };
  }

  /** A correct password: the pair starts afresh and the account gets its point back. */
  async succeeded(account: string, ip: string): Promise<void> {
    const k = LoginThrottle.keys(account, ip);
    await Promise.all([this.pair.delete(k.pair), this.account.reward(k.account, 1)]);
  }
}
