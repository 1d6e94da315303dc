import fs from 'node:fs';
import tls from 'node:tls';
import crypto from 'node:crypto';
import { requireStack, startApp, waitFor, type AppProcess } from '../support/stack';
import { rawRequest, streamChunks } from '../support/http';

/**
 * The production edge as it runs in Compose: this repo's nginx.conf (only ports, paths and the
 * upstream templated by scripts/test-stack.sh) in front of the built app, PgBouncer and Redis.
 */
describe('through nginx', () => {
  const stack = requireStack();
  const ca = fs.readFileSync(stack.caFile);
  let app: AppProcess;

  beforeAll(async () => {
    app = await startApp(stack, stack.appPort);
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('when a client connects over TLS, then nginx presents the generated certificate and a TLS 1.2+ session', async () => {
    const url = new URL(stack.httpsUrl);
    const info = await new Promise<{ protocol: string | null; subject: string; san: string }>((resolve, reject) => {
      const socket = tls.connect({ host: url.hostname, port: Number(url.port), ca, servername: 'localhost' }, () => {
        const cert = socket.getPeerCertificate();
        resolve({ protocol: socket.getProtocol(), subject: String(cert.subject.CN ?? ''), san: cert.subjectaltname ?? '' });
        socket.end();
      });
      socket.on('error', reject);
    });
    expect(['TLSv1.2', 'TLSv1.3']).toContain(info.protocol);
    expect(info.san).toContain('IP Address:127.0.0.1');
    const res = await rawRequest(`${stack.httpsUrl}/health/live`, { ca });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ok' });
    // Control: the certificate really is self-signed, so a client without it as CA refuses it.
    await expect(rawRequest(`${stack.httpsUrl}/health/live`)).rejects.toThrow(/self[- ]signed|unable to verify/i);
  });

  it('when a client uses plain HTTP, then nginx redirects it to HTTPS', async () => {
    const res = await rawRequest(`${stack.httpUrl}/some/page?x=1`);
    expect([301, 308]).toContain(res.status);
    // To the standard HTTPS port of the same host (the test stack's own HTTPS port is not 443).
    expect(res.headers.location).toBe(`https://${new URL(stack.httpUrl).hostname}/some/page?x=1`);
  });

  it('when the API or the static UI answers through nginx, then HSTS, CSP, nosniff and frame denial are present', async () => {
    for (const path of ['/api/openapi.json', '/', '/health/ready']) {
      const res = await rawRequest(`${stack.httpsUrl}${path}`, { ca, headers: { Accept: 'text/html,application/json' } });
      expect([path, res.status]).toEqual([path, 200]);
      const hsts = /max-age=(\d+)/.exec(String(res.headers['strict-transport-security']));
      expect(Number(hsts?.[1])).toBeGreaterThanOrEqual(31_536_000);
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("object-src 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      // One CSP header, not two stacked (nginx must not add its own on top of the app's).
      expect(Array.isArray(res.headers['content-security-policy'])).toBe(false);
    }
  });

  it('when the app streams server-sent events, then the first event arrives through nginx long before the stream ends', async () => {
    const res = await streamChunks(`${stack.httpsUrl}/api/diagnostics/stream?events=3&intervalMs=1500`, { ca });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('text/event-stream');
    const first = res.chunks.find((c) => c.text.includes('event: tick'));
    expect(first).toBeDefined();
    expect(res.chunks.map((c) => c.text).join('')).toContain('event: done');
    // The stream lasts ≥ 3 s; a buffering proxy would deliver everything at the end.
    expect(res.endedAtMs - first!.atMs).toBeGreaterThan(2000);
  });

  it("when a request passes nginx, then its request id reaches the response, the app's log line and nginx's access log", async () => {
    const mine = crypto.randomBytes(16).toString('hex');
    const res = await rawRequest(`${stack.httpsUrl}/api/openapi.json`, { ca, headers: { 'X-Request-Id': mine } });
    expect(res.headers['x-request-id']).toBe(mine);
    expect(JSON.parse(res.body).openapi).toBe('3.1.0');
    const line = await waitFor('app log line', async () => app.logs.find((l) => l.message === 'http.request' && l.requestId === mine));
    // TRUST_PROXY=1 (as in Compose): the app sees the client's address from X-Forwarded-For.
    expect(line).toMatchObject({ method: 'GET', status: 200, ip: '127.0.0.1' });
    await waitFor('nginx access log line', async () => fs.readFileSync(stack.nginxAccessLog, 'utf8').includes(mine));

    // Without a client id, nginx makes one ($request_id) and the app uses it.
    const fresh = await rawRequest(`${stack.httpsUrl}/health/live`, { ca });
    const id = String(fresh.headers['x-request-id']);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    await waitFor('app log line for nginx id', async () => app.logs.some((l) => l.requestId === id));
  });

  it('when the browser loads the UI, then nginx serves index.html uncached and hashed assets cached for a year', async () => {
    const page = await rawRequest(`${stack.httpsUrl}/`, { ca, headers: { Accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>Hearth</title>');
    expect(String(page.headers['cache-control'])).toMatch(/no-cache/);
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(page.body)?.[1];
    expect(asset).toBeDefined();
    const js = await rawRequest(`${stack.httpsUrl}${asset}`, { ca, headers: { 'Accept-Encoding': 'gzip' } });
    expect(js.status).toBe(200);
    expect(String(js.headers['cache-control'])).toContain('max-age=31536000');
    expect(String(js.headers['cache-control'])).toContain('immutable');
    expect(js.headers['content-encoding']).toBe('gzip');
    // Client-side routes fall back to index.html.
    const deep = await rawRequest(`${stack.httpsUrl}/chat/some-conversation`, { ca, headers: { Accept: 'text/html' } });
    expect(deep.body).toContain('<title>Hearth</title>');
  });

  it('when someone asks nginx for /metrics, then it is not exposed publicly', async () => {
    const res = await rawRequest(`${stack.httpsUrl}/metrics`, { ca });
    expect([403, 404]).toContain(res.status);
  });

  it('when a body is larger than client_max_body_size, then nginx refuses it with 413 before the app', async () => {
    // nginx judges the declared length before reading the body, as it would for a real 22 MB upload.
    const res = await rawRequest(`${stack.httpsUrl}/api/anything`, { ca, method: 'POST', body: 'x', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(22 * 1024 * 1024) } });
    expect(res.status).toBe(413);
    const body = JSON.parse(res.body) as { error: { code: string }; requestId: string };
    expect(body.error.code).toBe('payload-too-large');
    expect(body.requestId).toBe(res.headers['x-request-id']);
  });

  it("when the browser sends its own origin through nginx (a same-origin write), then the app recognises it; another origin is refused", async () => {
    const same = await rawRequest(`${stack.httpsUrl}/api/openapi.json`, { ca, headers: { Origin: stack.httpsUrl } });
    expect(same.status).toBe(200);
    const other = await rawRequest(`${stack.httpsUrl}/api/openapi.json`, { ca, headers: { Origin: 'https://evil.example.net' } });
    expect(other.status).toBe(403);
    expect(JSON.parse(other.body).error.code).toBe('cors-origin-denied');
  });
});
