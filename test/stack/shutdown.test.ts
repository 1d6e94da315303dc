import { requireStack, startApp } from '../support/stack';
import { streamChunks } from '../support/http';

describe('graceful shutdown', () => {
  const stack = requireStack();

  it('when SIGTERM arrives with a request and a stream in flight, then both complete, new connections are refused, and the process exits 0', async () => {
    const app = await startApp(stack, stack.appPort + 31, { SHUTDOWN_TIMEOUT_MS: '15000' });
    const slow = fetch(`${app.baseUrl}/api/diagnostics/slow?ms=2500`).then(async (r) => ({ status: r.status, body: await r.json() }));
    const stream = streamChunks(`${app.baseUrl}/api/diagnostics/stream?events=4&intervalMs=600`);
    await new Promise((r) => setTimeout(r, 400));
    app.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    // The listener is closed: nobody new gets in while the old work drains.
    await expect(fetch(`${app.baseUrl}/health/live`)).rejects.toThrow();

    await expect(slow).resolves.toEqual({ status: 200, body: { waitedMs: 2500 } });
    const streamed = await stream;
    expect(streamed.chunks.map((c) => c.text).join('')).toContain('event: done');
    const exit = await app.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    const messages = app.logs.map((l) => l.message);
    expect(messages).toContain('server.shutdown.start');
    expect(messages).toContain('server.shutdown.done');
    expect(messages).not.toContain('server.shutdown.timeout');
  });

  it('when a request outlives SHUTDOWN_TIMEOUT_MS, then the process stops waiting, closes it and still exits 0', async () => {
    const app = await startApp(stack, stack.appPort + 32, { SHUTDOWN_TIMEOUT_MS: '500' });
    const slow = fetch(`${app.baseUrl}/api/diagnostics/slow?ms=20000`).then((r) => r.status, (err: Error) => err.message);
    await new Promise((r) => setTimeout(r, 300));
    app.proc.kill('SIGTERM');
    const exit = await app.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await slow).not.toBe(200);
    expect(app.logs.map((l) => l.message)).toContain('server.shutdown.timeout');
  });
});
