import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RedisClient } from '../../platform/redis';

// The failure that goes over `points` is the one that locks: the 5th (pair) and the 100th (account),
// for blockDuration seconds from that failure.
export const PAIR_FAILURES = 5;
export const ACCOUNT_FAILURES = 100;
const PAIR = { points: PAIR_FAILURES - 1, duration: 15 * 60, blockDuration: 15 * 60 };
const ACCOUNT = { points: ACCOUNT_FAILURES - 1, duration: 60 * 60, blockDuration: 60 * 60 };

export type LockScope = 'account-ip' | 'account';

/**
 * Login throttling that stops guessing without letting a stranger lock the owner out: five
 * failures for one account from one ip lock only that pair; a hundred for the account from anywhere
 * within an hour lock the account (and alert admins). Counters live in Redis when it is configured.
 */
export class LoginThrottle {
  private readonly pair: RateLimiterAbstract;
  private readonly account: RateLimiterAbstract;

  constructor(prefix: string, redis?: RedisClient) {
    const make = (name: string, o: typeof PAIR) =>
      redis ? new RateLimiterRedis({ storeClient: redis, useRedisPackage: true, keyPrefix: `${prefix}login:${name}`, ...o }) : new RateLimiterMemory({ keyPrefix: `${prefix}login:${name}`, ...o });
    this.pair = make('pair', PAIR);
    this.account = make('account', ACCOUNT);
  }

  private static keys(email: string, ip: string) {
    const account = email.trim().toLowerCase();
    return { pair: `${account}|${ip}`, account };
  }

  /** The lock in force for this attempt, if any, with seconds until it lifts. */
  async locked(email: string, ip: string): Promise<{ scope: LockScope; retryAfterSeconds: number } | undefined> {
    const k = LoginThrottle.keys(email, ip);
    const [pair, account] = await Promise.all([this.pair.get(k.pair), this.account.get(k.account)]);
    if (account && account.consumedPoints > ACCOUNT.points) return { scope: 'account', retryAfterSeconds: Math.ceil(account.msBeforeNext / 1000) };
    if (pair && pair.consumedPoints > PAIR.points) return { scope: 'account-ip', retryAfterSeconds: Math.ceil(pair.msBeforeNext / 1000) };
    return undefined;
  }

  /** Counts a failure; says which lock (if any) this failure has just switched on. */
  async failed(email: string, ip: string): Promise<LockScope | undefined> {
    const k = LoginThrottle.keys(email, ip);
    const consume = (l: RateLimiterAbstract, key: string) => l.consume(key).then((r) => r, (r: unknown) => (r instanceof RateLimiterRes ? r : Promise.reject(r)));
    const [pair, account] = await Promise.all([consume(this.pair, k.pair), consume(this.account, k.account)]);
    if (account.consumedPoints === ACCOUNT.points + 1) return 'account';
    if (pair.consumedPoints === PAIR.points + 1) return 'account-ip';
    return undefined;
  }

  async succeeded(email: string, ip: string): Promise<void> {
    await this.pair.delete(LoginThrottle.keys(email, ip).pair);
  }
}
