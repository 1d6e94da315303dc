import http from 'node:http';
import zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { requireStack, startApp, waitFor } from '../support/stack';

/** A loopback stand-in for Sentry's ingest endpoint: it only records the envelopes it receives. */
function fakeSentry(): Promise<{ url: string; envelopes: string[]; close: () => Promise<void> }> {
  const envelopes: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
      envelopes.push(body.toString());
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://publickey@127.0.0.1:${port}/1`, envelopes, close: () => new Promise((r) => server.close(() => r())) });
    }),
  );
}

describe('error reporting', () => {
  const stack = requireStack();

  it('when SENTRY_DSN is set and a request fails unexpectedly, then the client gets a detail-free 500 and Sentry gets the error tagged with the request id, without cookies or credentials', async () => {
    const sentry = await fakeSentry();
    const app = await startApp(stack, stack.appPort + 41, { SENTRY_DSN: sentry.url });
    try {
      const res = await fetch(`${app.baseUrl}/api/diagnostics/error`, { headers: { Cookie: 'session=very-secret-cookie', 'X-CSRF-Token': 'very-secret-csrf-token' } });
      expect(res.status).toBe(500);
      const body = (await res.json()) as { error: { code: string; message: string }; requestId: string };
      expect(body.error.code).toBe('internal-error');
      expect(body.error.message).not.toContain('deliberate');
      const envelope = await waitFor('an event at the fake Sentry', async () => sentry.envelopes.find((e) => e.includes('deliberate unexpected failure')));
      expect(envelope).toContain(`"request_id":"${body.requestId}"`);
      expect(envelope).not.toContain('very-secret');
      expect(app.logs.some((l) => l.message === 'http.error' && l.requestId === body.requestId)).toBe(true);
    } finally {
      await app.stop();
      await sentry.close();
    }
  });
});
