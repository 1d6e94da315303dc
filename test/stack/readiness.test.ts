import { execFileSync } from 'node:child_process';
import { requireStack, startApp, waitFor, type AppProcess } from '../support/stack';

describe('readiness follows the database', () => {
  const stack = requireStack();
  let app: AppProcess;

  beforeAll(async () => {
    app = await startApp(stack, stack.appPort + 10);
  });
  afterAll(async () => {
    execFileSync('bash', [stack.script, 'pg-start'], { stdio: 'ignore' });
    await app?.stop();
  });

  const ready = async () => {
    const res = await fetch(`${app.baseUrl}/health/ready`);
    return { status: res.status, body: (await res.json()) as { status: string; checks: Record<string, { status: string; error?: string }> } };
  };

  it('when Postgres stops, then /health/ready turns 503 naming the database; when it comes back, then 200 again without restarting the app', async () => {
    const before = await ready();
    expect(before.status).toBe(200);
    expect(before.body.checks).toMatchObject({ database: { status: 'ok' }, redis: { status: 'ok' }, migrations: { status: 'ok' } });
    const pid = app.proc.pid;

    execFileSync('bash', [stack.script, 'pg-stop'], { stdio: 'ignore' });
    try {
      const down = await waitFor('503 while Postgres is down', async () => {
        const r = await ready();
        return r.status === 503 ? r : undefined;
      });
      expect(down.body.status).toBe('fail');
      expect(down.body.checks.database!.status).toBe('fail');
      expect(down.body.checks.redis!.status).toBe('ok');
      // Liveness is about the process, not its dependencies.
      expect((await fetch(`${app.baseUrl}/health/live`)).status).toBe(200);
    } finally {
      execFileSync('bash', [stack.script, 'pg-start'], { stdio: 'ignore' });
    }

    const back = await waitFor('200 after Postgres restarts', async () => {
      const r = await ready();
      return r.status === 200 ? r : undefined;
    }, 60_000, 500);
    expect(back.body.checks.database!.status).toBe('ok');
    expect(app.proc.pid).toBe(pid);
    expect(app.proc.exitCode).toBeNull();
  });
});
