import crypto from 'node:crypto';
import request from 'supertest';
import { createTestApp, type TestApp } from '../test/support/test-app';
import { createUser } from '../test/support/auth';
import { routeTable } from './platform/openapi/route-table';
import { API_KEY_ROUTES, ROUTE_POLICIES } from './route-policies';

const fill = (path: string) => path.replace(/:[A-Za-z0-9_]+/g, () => crypto.randomUUID());

describe('auth matrix (src/route-policies.ts)', () => {
  let t: TestApp;
  let memberToken: string;
  let apiKey: string;
  beforeAll(async () => {
    t = await createTestApp({ DIAGNOSTICS_ROUTES: 'true', METRICS_TOKEN: 'metrics-token-0123456789', CREDENTIAL_RATE_LIMIT_MAX: '10000' });
    const m = await createUser(t);
    memberToken = (await request(t.app).post('/api/auth/token').send({ email: m.email, password: m.password })).body.access_token;
    apiKey = (await request(t.app).post('/api/keys').set('Authorization', `Bearer ${memberToken}`).send({ name: 'matrix', scopes: ['chat', 'conversations', 'knowledge-bases'] })).body.secret;
  });
  afterAll(() => t.close());

  const routes = () => [...new Set(routeTable(t.app).map((r) => `${r.method.toUpperCase()} ${r.path}`))].sort();

  it('when the app serves a route, then the policy table declares it; and the table names no route that does not exist', () => {
    expect(routes().filter((r) => !(r in ROUTE_POLICIES))).toEqual([]);
    expect(Object.keys(ROUTE_POLICIES).filter((r) => !routes().includes(r))).toEqual([]);
  });

  const send = (key: string, auth?: string) => {
    const [method, path] = key.split(' ') as [string, string];
    const req = request(t.app)[method.toLowerCase() as 'get'](fill(path)).query(path.includes('diagnostics') ? { ms: 0, events: 1, intervalMs: 0 } : {});
    if (auth) req.set('Authorization', `Bearer ${auth}`);
    // An event stream never ends: its status is known with the first bytes, then the client leaves.
    if (path.endsWith('/events')) {
      req.buffer(true).parse((res, done) => {
        const streaming = String(res.headers['content-type']).startsWith('text/event-stream');
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
          if (!streaming) return;
          done(null, undefined);
          (res as unknown as { destroy(): void }).destroy();
        });
        res.once('end', () => done(null, streaming ? undefined : JSON.parse(text)));
      });
    }
    return method === 'GET' ? req : req.send({});
  };

  it('when a protected route is called without credentials, then 401; public routes never answer 401 for lack of a user', async () => {
    for (const [key, policy] of Object.entries(ROUTE_POLICIES)) {
      const res = await send(key);
      if (policy === 'public') {
        if (key === 'GET /metrics') continue; // its own bearer token (tested with the platform)
        expect([key, res.status === 401 && res.body.error?.code === 'unauthenticated']).toEqual([key, false]);
      } else {
        expect([key, res.status, res.body.error?.code]).toEqual([key, 401, 'unauthenticated']);
      }
    }
  });

  it('when a member calls an admin route, then 403; member and owner routes let the member past the auth check', async () => {
    for (const [key, policy] of Object.entries(ROUTE_POLICIES)) {
      if (policy === 'public') continue;
      const res = await send(key, memberToken);
      if (policy === 'admin') expect([key, res.status]).toEqual([key, 403]);
      else expect([key, res.status === 401 || res.status === 403]).toEqual([key, false]);
      // logout ends the session the later rows use
      if (key === 'POST /api/auth/logout') {
        const m = await createUser(t);
        memberToken = (await request(t.app).post('/api/auth/token').send({ email: m.email, password: m.password })).body.access_token;
      }
    }
  });

  it('when an API key (with every scope) calls a route, then only the declared API-key routes let it in; the rest answer 403', async () => {
    for (const r of Object.keys(API_KEY_ROUTES)) expect(Object.keys(ROUTE_POLICIES)).toContain(r);
    for (const [key, policy] of Object.entries(ROUTE_POLICIES)) {
      if (policy === 'public') continue;
      const res = await send(key, apiKey);
      if (key in API_KEY_ROUTES) expect([key, res.status === 401 || res.status === 403]).toEqual([key, false]);
      else expect([key, res.status, res.body.error?.code]).toEqual([key, 403, 'interactive-sign-in-required']);
    }
  });

  it('when a signed-in browser (cookies) writes without the CSRF token, then every protected write answers 403; public writes never ask for it', async () => {
    const m = await createUser(t);
    const cookies = (
      (await request(t.app).post('/api/auth/login').send({ email: m.email, password: m.password })).headers['set-cookie'] as unknown as string[]
    )
      .map((c) => c.split(';')[0])
      .join('; ');
    for (const [key, policy] of Object.entries(ROUTE_POLICIES)) {
      const [method, path] = key.split(' ') as [string, string];
      if (method === 'GET') continue;
      const res = await request(t.app)[method.toLowerCase() as 'post'](fill(path)).set('Cookie', cookies).send({});
      if (policy === 'public') expect([key, res.body.error?.code]).not.toEqual([key, 'csrf-invalid']);
      else expect([key, res.status, res.body.error?.code]).toEqual([key, 403, 'csrf-invalid']);
    }
  });
});
