import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import request from 'supertest';
import { captureLogger, createTestApp, unique, type TestApp } from '../../../test/support/test-app';
import { csrfProtection, csrfSecretFrom, csrfTokenFor } from './csrf';
import { errorHandler } from './error-handler';
import { requestId } from './request-id';
import { validate } from './validate';
import { createRateLimiter, limitAlongside } from './rate-limit';
import { SseStream } from './sse';
import { z } from '../zod';
import { AppError, TooManyRequestsError } from '../errors';
import { createLogger } from '../logger';

/** A streamed response read to its end, its body as text. */
const streamed = (test: request.Test) =>
  test.buffer(true).parse((r, cb) => {
    let body = '';
    r.setEncoding('utf8');
    r.on('data', (c: string) => (body += c));
    r.on('end', () => cb(null, body));
  });

describe('HTTP platform', () => {
  let t: TestApp;
  const webRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-web-'));

  beforeAll(async () => {
    fs.mkdirSync(path.join(webRoot, 'assets'));
    fs.writeFileSync(path.join(webRoot, 'index.html'), '<!doctype html><title>Hearth</title><div id="root"></div>');
    fs.writeFileSync(path.join(webRoot, 'assets', 'app-abc123.js'), 'console.log(1)');
    t = await createTestApp({ CORS_ORIGINS: 'https://allowed.example.com', METRICS_TOKEN: 'metrics-token-0123456789', RATE_LIMIT_MAX: '1000' }, { webRoot });
  });
  afterAll(async () => {
    await t.close();
  });

  describe('request id', () => {
    it('when the client sends no X-Request-Id, then a new one is made, echoed, and put on the log line', async () => {
      const res = await request(t.app).get('/health/live');
      const id = res.headers['x-request-id'];
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      const line = t.logs.find((l) => l.message === 'http.request' && l.requestId === id);
      expect(line).toMatchObject({ method: 'GET', status: 200, route: '/health/live' });
    });

    it("when nginx sends its X-Request-Id, then that id is kept end to end", async () => {
      const id = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
      const res = await request(t.app).get('/api/missing-route').set('X-Request-Id', id);
      expect(res.headers['x-request-id']).toBe(id);
      expect(res.body.requestId).toBe(id);
      expect(t.logs.some((l) => l.requestId === id && l.message === 'http.client-error')).toBe(true);
    });

    it('when a request id carries characters that could forge log lines, then it is replaced', async () => {
      const res = await request(t.app).get('/health/live').set('X-Request-Id', 'bad id {"level":"error"} <script>');
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  describe('errors', () => {
    it('when no route matches, then 404 comes in the error shape', async () => {
      const res = await request(t.app).get(`/api/${unique('nothing')}`);
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: { code: 'route-not-found', message: expect.stringContaining('No route') }, requestId: res.headers['x-request-id'] });
    });

    it('when the JSON body is malformed, then 400 invalid-json', async () => {
      const res = await request(t.app).post('/api/anything').set('Content-Type', 'application/json').send('{"a":');
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid-json');
    });

    it('when the JSON body is over the limit, then 413 in the error shape with the limit', async () => {
      const small = await createTestApp({ JSON_BODY_LIMIT_KB: '1' }, { database: t.database });
      try {
        const res = await request(small.app).post('/api/anything').send({ text: 'x'.repeat(4096) });
        expect(res.status).toBe(413);
        expect(res.body.error).toEqual({ code: 'payload-too-large', message: expect.stringContaining('1 KB'), details: { limitBytes: 1024 } });
      } finally {
        await small.close();
      }
    });

    it('when a handler fails unexpectedly, then 500 reveals nothing and the error is logged with the request id', async () => {
      const { logger, lines } = captureLogger();
      const app = express();
      app.use(requestId());
      app.get('/boom', () => {
        throw new Error('secret internal detail: password=hunter2');
      });
      app.get('/typed', () => {
        throw new AppError(503, 'upstream-down', 'The model provider is unavailable.', { provider: 'x' });
      });
      app.use(errorHandler(logger));
      const res = await request(app).get('/boom');
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ error: { code: 'internal-error', message: expect.any(String) }, requestId: expect.any(String) });
      expect(JSON.stringify(res.body)).not.toContain('hunter2');
      // The detail stays on the server, on a line carrying the same request id.
      const line = lines.find((l) => l.message === 'http.error' && l.requestId === res.body.requestId);
      expect(line).toMatchObject({ status: 500, code: 'internal-error', path: '/boom' });
      expect(JSON.stringify(line)).toContain('secret internal detail');
      const typed = await request(app).get('/typed');
      expect(typed.status).toBe(503);
      expect(typed.body.error.details).toBeUndefined();
    });
  });

  describe('validation', () => {
    it('when input breaks the zod schema, then 400 names each bad field; when valid, then typed values reach the handler', async () => {
      const app = express();
      app.use(requestId(), express.json());
      app.post('/items/:id', validate({ params: z.object({ id: z.uuid() }), body: z.object({ name: z.string().min(1).max(10), count: z.number().int() }) }), (req, res) => {
        res.json(req.valid);
      });
      app.use(errorHandler(createLogger({ level: 'error', silent: true })));
      const bad = await request(app).post('/items/nope').send({ name: '', count: 1.5 });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('validation-failed');
      expect(bad.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(['body.count', 'body.name', 'params.id']);
      const id = '3f1c3b7e-6d0a-4b6f-9b1e-2a4c5d6e7f80';
      const good = await request(app).post(`/items/${id}`).send({ name: "O'Brien", count: 2 });
      expect(good.status).toBe(200);
      expect(good.body).toEqual({ params: { id }, body: { name: "O'Brien", count: 2 } });
    });
  });

  describe('security headers and CORS', () => {
    it('when any response is sent, then it carries the strict CSP, nosniff, frame denial and HSTS', async () => {
      const res = await request(t.app).get('/health/live');
      const csp = res.headers['content-security-policy'];
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).toContain("object-src 'none'");
      expect(csp).toContain("base-uri 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("img-src 'self' data: blob:");
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['strict-transport-security']).toContain('max-age=31536000');
      expect(res.headers['x-powered-by']).toBeUndefined();
    });

    it('when an allowlisted origin calls, then CORS allows it with credentials; when another origin calls, then 403', async () => {
      const ok = await request(t.app).options('/api/openapi.json').set('Origin', 'https://allowed.example.com').set('Access-Control-Request-Method', 'POST');
      expect(ok.status).toBe(204);
      expect(ok.headers['access-control-allow-origin']).toBe('https://allowed.example.com');
      expect(ok.headers['access-control-allow-credentials']).toBe('true');
      const denied = await request(t.app).get('/api/openapi.json').set('Origin', 'https://evil.example.net');
      expect(denied.status).toBe(403);
      expect(denied.body.error.code).toBe('cors-origin-denied');
      expect(denied.headers['access-control-allow-origin']).toBeUndefined();
    });

    it('when the browser sends its own origin (same-origin write), then no allowlist entry is needed', async () => {
      const res = await request(t.app).get('/api/openapi.json').set('Host', 'hearth.internal:8080').set('Origin', 'http://hearth.internal:8080');
      expect(res.status).toBe(200);
    });
  });

  describe('client ip and rate limits', () => {
    it('when TRUST_PROXY is unset, then X-Forwarded-For cannot pick the rate-limit key; with TRUST_PROXY=1 it does', async () => {
      const strict = await createTestApp({ RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_MS: '60000', REDIS_URL: '' }, { database: t.database });
      const proxied = await createTestApp({ RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_MS: '60000', TRUST_PROXY: '1', REDIS_URL: '' }, { database: t.database });
      try {
        // Spoofed X-Forwarded-For values do not buy an attacker fresh quota.
        for (let i = 0; i < 2; i++) expect((await request(strict.app).get('/api/openapi.json').set('X-Forwarded-For', `203.0.113.${i}`)).status).toBe(200);
        const limited = await request(strict.app).get('/api/openapi.json').set('X-Forwarded-For', '203.0.113.99');
        expect(limited.status).toBe(429);
        expect(limited.body.error.code).toBe('rate-limited');
        expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
        expect(limited.body.requestId).toBe(limited.headers['x-request-id']);
        // Behind one trusted proxy each client ip has its own budget.
        for (let i = 0; i < 3; i++) expect((await request(proxied.app).get('/api/openapi.json').set('X-Forwarded-For', `198.51.100.${i}`)).status).toBe(200);
        // Health probes are never rate limited.
        expect((await request(strict.app).get('/health/live')).status).toBe(200);
      } finally {
        await strict.close();
        await proxied.close();
      }
    });
  });

  describe('the rate limit alongside authentication', () => {
    it('when a client is well under its limit, then its credentials are read while it is counted; near the limit, or not seen yet, nothing of the chain runs before the verdict, and a refused request never reaches it', async () => {
      const limiter = createRateLimiter({ name: unique('alongside'), windowMs: 60_000, limit: 20, redisPrefix: 'test:' });
      // What the chain's first step saw: whether the limiter had already counted the request.
      const seen: ('counted' | 'not yet')[] = [];
      const chainStep: express.RequestHandler = (req, _res, next) => {
        seen.push((req as { rateLimit?: unknown }).rateLimit ? 'counted' : 'not yet');
        next();
      };
      const app = express();
      app.use(limitAlongside(limiter, [chainStep, express.json()]));
      app.post('/x', (req, res) => res.json({ got: req.body }));
      app.use(errorHandler(captureLogger('error').logger));
      const statuses: number[] = [];
      for (let i = 0; i < 25; i++) {
        const res = await request(app).post('/x').send({ i });
        statuses.push(res.status);
        if (res.status === 200) expect(res.body.got).toEqual({ i });
        else expect(res.body.error.code).toBe('rate-limited');
      }
      expect(statuses).toEqual([...Array(20).fill(200), ...Array(5).fill(429)]);
      // First request: not seen yet. Then overlapped while more than 2 (a tenth) were left, i.e.
      // after counts leaving 19..3; the request after the count that left 2, and the last ones
      // allowed, waited. The refused five never ran the chain.
      expect(seen).toEqual(['counted', ...Array(17).fill('not yet'), 'counted', 'counted']);
      // A body the chain rejects is still refused as such, with the verdict taken.
      const other = express();
      const strict = createRateLimiter({ name: unique('alongside'), windowMs: 60_000, limit: 20, redisPrefix: 'test:' });
      other.use(limitAlongside(strict, [express.json()]));
      other.post('/x', (_req, res) => res.json({}));
      other.use(errorHandler(captureLogger('error').logger));
      expect((await request(other).post('/x').send({ ok: 1 })).status).toBe(200);
      const bad = await request(other).post('/x').set('Content-Type', 'application/json').send('{"unterminated');
      expect(bad.status).toBe(400);
      expect(bad.headers['ratelimit']).toBeDefined();
    });

    it('when a client with headroom sends a burst, then no more are let through early than its limit still allows, and none of the refused ones reaches the chain', async () => {
      // Counted in Redis when the stack has it (its reset times move with its latency), in memory otherwise.
      const limiter = createRateLimiter({ name: unique('burst'), windowMs: 60_000, limit: 20, redisPrefix: `test:${unique('rl')}:`, redis: t.redis });
      let reached = 0;
      let ip: string | undefined;
      const app = express();
      app.use(
        limitAlongside(limiter, [
          (req, _res, next) => {
            reached += 1;
            ip = req.ip;
            next();
          },
        ]),
      );
      app.get('/x', (_req, res) => res.json({}));
      app.use(errorHandler(captureLogger('error').logger));
      expect((await request(app).get('/x')).status).toBe(200);
      // Before any later verdict: of the 19 left, 17 may go early (2, a tenth, are kept back).
      const probe = { ip } as express.Request;
      const early = Array.from({ length: 25 }, () => limiter.takeHeadroom(probe));
      expect(early.filter(Boolean)).toHaveLength(17);
      expect(early.slice(17).some(Boolean)).toBe(false);
      // A verdict that reports an older count does not give any back.
      expect((await request(app).get('/x')).status).toBe(200);
      expect(limiter.takeHeadroom(probe)).toBe(false);
      reached = 0;
      const statuses = await Promise.all(Array.from({ length: 25 }, async () => (await request(app).get('/x')).status));
      expect(statuses.filter((s) => s === 200)).toHaveLength(18);
      expect(statuses.filter((s) => s === 429)).toHaveLength(7);
      expect(reached).toBe(18);
    });

    it('when the limiter refuses a request let through early, then its refusal is the answer even when the chain failed too, and the route never runs', async () => {
      // A limiter that gives headroom and then refuses: what a count taken elsewhere (another
      // process, the same Redis) can do to a request already under way.
      const refusing = Object.assign(
        ((_req, _res, next) => {
          setTimeout(() => next(new TooManyRequestsError('rate-limited', 'Too many requests.', 1)), 20);
        }) as express.RequestHandler,
        { takeHeadroom: () => true },
      );
      let chained = 0;
      let routed = 0;
      const app = express();
      app.use(
        limitAlongside(refusing, [
          (_req, _res, next) => {
            chained += 1;
            next();
          },
          express.json(),
        ]),
      );
      app.post('/x', (_req, res) => {
        routed += 1;
        res.json({});
      });
      app.use(errorHandler(captureLogger('error').logger));
      // The chain fails too (a broken body): the refusal still wins.
      const res = await request(app).post('/x').set('Content-Type', 'application/json').send('{"unterminated');
      expect(res.status).toBe(429);
      expect(res.body.error.code).toBe('rate-limited');
      expect([chained, routed]).toEqual([1, 0]);
    });
  });

  describe('server-sent events', () => {
    it('when events are written in one turn of the event loop and across turns, then the client receives each once and in order, the heartbeat comes while idle, and the stream ends after the last', async () => {
      const app = express();
      app.get('/events', (_req, res) => {
        const sse = new SseStream(res, 30);
        const turn = (from: number) => {
          for (let i = from; i < from + 5; i++) sse.write(`data: ${i}\n\n`);
        };
        turn(0);
        setImmediate(() => {
          turn(5);
          // Idle long enough for a heartbeat, then the last ones, written just before the end.
          setTimeout(() => {
            turn(10);
            sse.end();
            sse.write('data: after the end\n\n');
          }, 80);
        });
      });
      const res = await streamed(request(app).get('/events'));
      expect(res.headers['content-type']).toMatch(/text\/event-stream/);
      expect(res.headers['x-accel-buffering']).toBe('no');
      const body = res.body as string;
      expect([...body.matchAll(/^data: (.*)$/gm)].map((m) => m[1])).toEqual(Array.from({ length: 15 }, (_, i) => String(i)));
      expect(body).toContain(': keep-alive');
    });
    it('when a stream opens, then its headers go out at the end of that turn (with what it wrote, or alone); later, a turn\'s first write reaches the socket at once, ahead of the same turn\'s others', async () => {
      const seen: Record<string, unknown> = {};
      const app = express();
      app.get('/events/:opening', (req, res) => {
        const sse = new SseStream(res, 60_000);
        seen[`${req.params.opening}:sent at once`] = res.headersSent;
        if (req.params.opening === 'writes') sse.write('data: opening\n\n');
        // Queued after the stream's own end-of-turn flush, so it sees what that flush did.
        setImmediate(() => {
          seen[`${req.params.opening}:sent after the turn`] = res.headersSent;
          setTimeout(() => {
            sse.write('data: first\n\n');
            // Node corks a response's socket until the next tick; microtasks (a fast upstream's
            // buffered pieces) all run before it, so a corked first piece would wait for the last.
            seen[`${req.params.opening}:corked after the first`] = res.socket!.writableCorked;
            void Promise.resolve().then(() => sse.write('data: second\n\n'));
            setTimeout(() => sse.end(), 5);
          }, 5);
        });
      });
      const read = (opening: string) => streamed(request(app).get(`/events/${opening}`));
      const [writes, silent] = await Promise.all([read('writes'), read('silent')]);
      expect([...(writes.body as string).matchAll(/^data: (.*)$/gm)].map((m) => m[1])).toEqual(['opening', 'first', 'second']);
      expect([...(silent.body as string).matchAll(/^data: (.*)$/gm)].map((m) => m[1])).toEqual(['first', 'second']);
      expect(seen).toEqual({
        'writes:sent at once': false,
        'writes:sent after the turn': true,
        'writes:corked after the first': 0,
        'silent:sent at once': false,
        'silent:sent after the turn': true,
        'silent:corked after the first': 0,
      });
    });
  });

  describe('server-sent events, ended early', () => {
    it('when a stream ends in the turn that opened it, then its events and the end still arrive; when the client is gone before the first flush, then nothing is written and nothing throws', async () => {
      const thrown: unknown[] = [];
      const app = express();
      app.get('/at-once', (_req, res) => {
        const sse = new SseStream(res, 60_000);
        sse.write('data: only\n\n');
        sse.end();
        sse.write('data: after the end\n\n');
      });
      app.get('/gone', (_req, res) => {
        const sse = new SseStream(res, 60_000);
        sse.write('data: never\n\n');
        res.destroy();
        setImmediate(() => {
          try {
            sse.write('data: still never\n\n');
            sse.end();
          } catch (err) {
            thrown.push(err);
          }
        });
      });
      const res = await streamed(request(app).get('/at-once'));
      expect(res.headers['content-type']).toMatch(/text\/event-stream/);
      expect(res.body).toBe('data: only\n\n');
      await expect(request(app).get('/gone')).rejects.toThrow(/socket hang up|ECONNRESET/);
      await new Promise((r) => setTimeout(r, 20));
      expect(thrown).toEqual([]);
    });
  });

  describe('metrics', () => {
    it('when METRICS_TOKEN is set, then /metrics needs it and reports request durations by route template', async () => {
      await request(t.app).get('/health/live');
      expect((await request(t.app).get('/metrics')).status).toBe(401);
      expect((await request(t.app).get('/metrics').set('Authorization', 'Bearer wrong-token-0123456789')).status).toBe(401);
      const res = await request(t.app).get('/metrics').set('Authorization', 'Bearer metrics-token-0123456789');
      expect(res.status).toBe(200);
      expect(res.text).toContain('hearth_process_cpu_user_seconds_total');
      expect(res.text).toMatch(/hearth_http_request_duration_seconds_count\{method="GET",route="\/health\/live",status_code="200"\} \d+/);
      // Unknown paths are folded into one label instead of one series per URL.
      await request(t.app).get(`/api/${unique('x')}`);
      const again = await request(t.app).get('/metrics').set('Authorization', 'Bearer metrics-token-0123456789');
      expect(again.text).toContain('route="unmatched"');
      expect(again.text).not.toMatch(/route="\/api\/x-/);
    });

    it('when METRICS_TOKEN is unset, then /metrics is off (404)', async () => {
      const off = await createTestApp({}, { database: t.database });
      try {
        const res = await request(off.app).get('/metrics');
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('metrics-disabled');
      } finally {
        await off.close();
      }
    });
  });

  describe('CSRF', () => {
    const secret = Buffer.alloc(32, 7);
    const app = express();
    app.use(requestId(), express.json());
    // Stands in for #3's cookie authentication: the session id comes from a cookie.
    app.use(csrfProtection({ secret, cookieSessionId: (req) => /sid=([\w-]+)/.exec(req.get('cookie') ?? '')?.[1] }));
    app.post('/api/thing', (_req, res) => {
      res.json({ ok: true });
    });
    app.use(errorHandler(createLogger({ level: 'error', silent: true })));

    it('when a cookie-authenticated write has no token or a wrong one, then 403 csrf-invalid', async () => {
      const none = await request(app).post('/api/thing').set('Cookie', 'sid=s1').send({});
      expect(none.status).toBe(403);
      expect(none.body.error.code).toBe('csrf-invalid');
      const otherSession = await request(app).post('/api/thing').set('Cookie', 'sid=s1').set('X-CSRF-Token', csrfTokenFor(secret, 's2')).send({});
      expect(otherSession.status).toBe(403);
    });

    it('when buildApp is given a cookie-session lookup, then every API write by cookie needs the token (the wiring #3 switches on)', async () => {
      const wired = await createTestApp({}, { database: t.database, cookieSessionId: (req) => /sid=([\w-]+)/.exec(req.get('cookie') ?? '')?.[1] });
      try {
        const refused = await request(wired.app).post('/api/anything').set('Cookie', 'sid=s9').send({});
        expect(refused.status).toBe(403);
        expect(refused.body.error.code).toBe('csrf-invalid');
        // Past CSRF, the request reaches routing (no such route yet): the check passed.
        const noCookie = await request(wired.app).post('/api/anything').send({});
        expect(noCookie.status).toBe(404);
        const withToken = await request(wired.app).post('/api/anything').set('Cookie', 'sid=s9').set('X-CSRF-Token', csrfTokenFor(csrfSecretFrom(wired.config.secrets.jwtSecret), 's9')).send({});
        expect(withToken.status).toBe(404);
        expect((await request(wired.app).get('/api/openapi.json').set('Cookie', 'sid=s9')).status).toBe(200);
      } finally {
        await wired.close();
      }
    });

    it('when the token matches the session, or the request is not cookie-authenticated, then it passes', async () => {
      expect((await request(app).post('/api/thing').set('Cookie', 'sid=s1').set('X-CSRF-Token', csrfTokenFor(secret, 's1')).send({})).status).toBe(200);
      expect((await request(app).post('/api/thing').set('Authorization', 'Bearer abc').send({})).status).toBe(200);
    });
  });

  describe('web UI', () => {
    it('when the browser asks for a page, then index.html comes uncached; hashed assets are cached for a year', async () => {
      const page = await request(t.app).get('/some/client/route').set('Accept', 'text/html');
      expect(page.status).toBe(200);
      expect(page.text).toContain('<title>Hearth</title>');
      expect(page.headers['cache-control']).toBe('no-cache');
      const asset = await request(t.app).get('/assets/app-abc123.js');
      expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      const api = await request(t.app).get('/api/nope').set('Accept', 'text/html');
      expect(api.status).toBe(404);
      expect(api.body.error.code).toBe('route-not-found');
    });
  });
});
