import http from 'node:http';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import { createTestApp } from '../test/support/test-app';

/**
 * Requests per second of the full middleware stack (request id, access log, metrics, helmet, CORS,
 * rate limit, JSON body parser, error handler) against bare node:http in the same process, on
 * loopback, 10 s each at 50 connections. DESIGN.md notes ~0.19× for bare Express vs node:http here.
 */
async function measure(server: http.Server, path: string): Promise<{ rps: number; p50: number; p99: number }> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  const result = await autocannon({ url: `http://127.0.0.1:${port}${path}`, connections: 50, duration: 10 });
  await new Promise<void>((r) => server.close(() => r()));
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

export async function httpPlatform(): Promise<void> {
  const baseline = await measure(
    http.createServer((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end('{"status":"ok"}');
    }),
    '/health/live',
  );
  // The limiter would stop the run; raise it so the middleware still runs but never refuses.
  // Production's default LOG_LEVEL (info) does not write per-request lines.
  const t = await createTestApp({ RATE_LIMIT_MAX: '1000000' }, { logLevel: 'info' });
  const live = await measure(http.createServer(t.app), '/health/live');
  const api = await measure(http.createServer(t.app), '/api/openapi.json');
  await t.close();
  const row = (name: string, m: { rps: number; p50: number; p99: number }) =>
    console.log(`${name.padEnd(34)} ${m.rps.toFixed(0).padStart(7)} req/s  p50 ${m.p50} ms  p99 ${m.p99} ms  ratio ${(m.rps / baseline.rps).toFixed(2)}×`);
  row('node:http baseline', baseline);
  row('app /health/live', live);
  row('app /api/openapi.json (rate-limited)', api);
}
