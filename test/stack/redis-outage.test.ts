import { execFileSync } from 'node:child_process';
import { requireStack, startApp, waitFor, type AppProcess } from '../support/stack';

describe('when Redis goes away', () => {
  const stack = requireStack();
  let app: AppProcess | undefined;

  afterEach(async () => {
    execFileSync('bash', [stack.script, 'redis-start'], { stdio: 'ignore' });
    await app?.stop();
    app = undefined;
  });

  const ready = async (a: AppProcess) => {
    const res = await fetch(`${a.baseUrl}/health/ready`);
    return { status: res.status, body: (await res.json()) as { checks: Record<string, { status: string }> } };
  };

  it('when Redis stops, then the API keeps answering (limits fail open), readiness says redis failed, and it recovers when Redis returns', async () => {
    app = await startApp(stack, stack.appPort + 51);
    execFileSync('bash', [stack.script, 'redis-stop'], { stdio: 'ignore' });
    await waitFor('readiness to notice Redis is gone', async () => (await ready(app!)).status === 503);
    expect((await ready(app)).body.checks).toMatchObject({ redis: { status: 'fail' }, database: { status: 'ok' } });

    // A command queued for Redis would wait forever; the abort turns such a hang into a failure.
    const res = await fetch(`${app.baseUrl}/api/openapi.json`, { signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(200);

    execFileSync('bash', [stack.script, 'redis-start'], { stdio: 'ignore' });
    await waitFor('readiness to recover', async () => (await ready(app!)).status === 200, 30_000, 500);
  });

  it('when Redis is down at start, then the app starts anyway and reports it; with Redis gone again, SIGTERM still exits 0', async () => {
    execFileSync('bash', [stack.script, 'redis-stop'], { stdio: 'ignore' });
    const proc = startApp(stack, stack.appPort + 52, { SHUTDOWN_TIMEOUT_MS: '5000' });
    // startApp waits for 200 on /health/ready, which cannot come while Redis is down: start Redis
    // only after the app has logged that it started without it.
    const deadline = Date.now() + 30_000;
    let seen = false;
    while (!seen && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300));
      try {
        const r = await fetch(`http://127.0.0.1:${stack.appPort + 52}/health/ready`);
        const body = (await r.json()) as { checks: Record<string, { status: string }> };
        seen = r.status === 503 && body.checks.redis?.status === 'fail';
      } catch {
        /* not listening yet */
      }
    }
    expect(seen).toBe(true);
    execFileSync('bash', [stack.script, 'redis-start'], { stdio: 'ignore' });
    app = await proc;
    expect(app.logs.map((l) => l.message)).toContain('redis.unavailable-at-start');
    execFileSync('bash', [stack.script, 'redis-stop'], { stdio: 'ignore' });
    app.proc.kill('SIGTERM');
    expect(await app.exited).toEqual({ code: 0, signal: null });
  });
});
