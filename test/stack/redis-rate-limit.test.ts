import { createClient } from 'redis';
import { requireStack, startApp, type AppProcess } from '../support/stack';

describe('rate limits across processes', () => {
  const stack = requireStack();
  const apps: AppProcess[] = [];

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.stop()));
  });

  async function clearCounters() {
    const redis = createClient({ url: stack.redisUrl });
    await redis.connect();
    for await (const keys of redis.scanIterator({ MATCH: 'hearth:rl:api:*' })) if (keys.length) await redis.del(keys);
    await redis.close();
  }

  /** Alternates requests between the processes; returns the statuses in order. */
  async function hammer(targets: AppProcess[], n: number): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) {
      const res = await fetch(`${targets[i % targets.length]!.baseUrl}/api/openapi.json`);
      statuses.push(res.status);
    }
    return statuses;
  }

  it('when two app processes share Redis, then one client gets the limit once across both, not once per process', async () => {
    await clearCounters();
    const env = { RATE_LIMIT_MAX: '6', RATE_LIMIT_WINDOW_MS: '60000' };
    apps.push(await startApp(stack, stack.appPort + 21, env), await startApp(stack, stack.appPort + 22, env));
    const statuses = await hammer(apps, 10);
    expect(statuses.filter((s) => s === 200)).toHaveLength(6);
    expect(statuses.slice(6)).toEqual([429, 429, 429, 429]);
    const res = await fetch(`${apps[1]!.baseUrl}/api/openapi.json`);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await res.json()) as { error: { code: string } }).toMatchObject({ error: { code: 'rate-limited' } });
  });

  it('when the same two processes run without Redis (the control), then each counts alone and the client gets twice the limit', async () => {
    const env = { RATE_LIMIT_MAX: '6', RATE_LIMIT_WINDOW_MS: '60000', REDIS_URL: '' };
    apps.push(await startApp(stack, stack.appPort + 23, env), await startApp(stack, stack.appPort + 24, env));
    const statuses = await hammer(apps, 14);
    expect(statuses.filter((s) => s === 200)).toHaveLength(12);
  });
});
