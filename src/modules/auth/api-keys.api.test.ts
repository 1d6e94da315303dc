import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { eq, sql } from 'drizzle-orm';
import { createTestApp, type TestApp } from '../../../test/support/test-app';
import { auditRows, createUser } from '../../../test/support/auth';
import { apiKeys, users } from './auth.schema';

describe('API keys', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000' });
  });
  afterAll(() => t.close());

  async function signedIn() {
    const u = await createUser(t);
    const tok = (await request(t.app).post('/api/auth/token').send({ email: u.email, password: u.password })).body.access_token as string;
    return { u, auth: { Authorization: `Bearer ${tok}` } };
  }

  it('when a key is created, then its secret is shown once, stored only as a hash, listed by prefix, and it identifies its owner', async () => {
    const { u, auth } = await signedIn();
    const created = await request(t.app).post('/api/keys').set(auth).send({ name: "O'Brien's script", scopes: ['chat'] });
    expect(created.status).toBe(201);
    const { key, secret } = created.body;
    expect(secret).toMatch(/^hk_[A-Za-z0-9_-]{40}$/);
    expect(key).toMatchObject({ name: "O'Brien's script", scopes: ['chat'], prefix: secret.slice(0, 11), expiresAt: null, lastUsedAt: null });
    const stored = await t.database.db.execute(sql`SELECT count(*)::int AS n FROM api_keys WHERE key_hash = ${secret} OR prefix = ${secret}`);
    expect((stored as unknown as { rows: { n: number }[] }).rows[0]!.n).toBe(0);
    const list = await request(t.app).get('/api/keys').set(auth);
    expect(list.body.keys).toEqual([expect.objectContaining({ id: key.id, prefix: key.prefix })]);
    expect(JSON.stringify(list.body)).not.toContain(secret);
    const me = await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${secret}`);
    expect(me.body.user.id).toBe(u.id);
    const used = await request(t.app).get('/api/keys').set(auth);
    expect(used.body.keys[0].lastUsedAt).not.toBeNull();
    expect(await auditRows(t, { action: 'auth.api-key.create', targetId: key.id })).toHaveLength(1);
  });

  it("when a key is revoked, then it stops at once; someone else's key id answers 404 and stays valid", async () => {
    const a = await signedIn();
    const b = await signedIn();
    const mine = (await request(t.app).post('/api/keys').set(a.auth).send({ name: 'a', scopes: ['chat'] })).body;
    const theirs = (await request(t.app).post('/api/keys').set(b.auth).send({ name: 'b', scopes: ['chat'] })).body;
    expect((await request(t.app).delete(`/api/keys/${theirs.key.id}`).set(a.auth)).status).toBe(404);
    expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${theirs.secret}`)).status).toBe(200);
    expect((await request(t.app).delete(`/api/keys/${mine.key.id}`).set(a.auth)).status).toBe(204);
    const after = await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${mine.secret}`);
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('invalid-api-key');
    expect(await auditRows(t, { action: 'auth.api-key.revoke', targetId: mine.key.id })).toHaveLength(1);
  });

  it('when a request bearing a key fails before authentication (a malformed body), then it answers 400, and the key lookup it started ends unread, with no unhandled rejection', async () => {
    const { auth } = await signedIn();
    const good = (await request(t.app).post('/api/keys').set(auth).send({ name: 'early', scopes: ['chat'] })).body;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      // The lookup starts before the body is read: an unknown key's lookup rejects with nobody to read it.
      for (const secret of [`hk_${'x'.repeat(40)}`, good.secret as string]) {
        const res = await request(t.app).post('/v1/chat/completions').set('Authorization', `Bearer ${secret}`).set('Content-Type', 'application/json').send('{"model":');
        expect(res.status).toBe(400);
        expect(res.body.error.code).toBe('invalid-json');
      }
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    // With a body that parses, the same unknown key is refused and the good one is let in.
    expect((await request(t.app).get('/v1/models').set('Authorization', `Bearer hk_${'x'.repeat(40)}`)).status).toBe(401);
    expect((await request(t.app).get('/v1/models').set('Authorization', `Bearer ${good.secret}`)).status).toBe(200);
  });

  it('when a key is revoked while its request\'s body is still arriving, then that request is refused (the lookup made as its headers came does not stand)', async () => {
    const { auth } = await signedIn();
    const made = (await request(t.app).post('/api/keys').set(auth).send({ name: 'slow body', scopes: ['chat'] })).body;
    const server = t.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const body = JSON.stringify({ model: 'no-such-agent', messages: [{ role: 'user', content: 'hi' }] });
      const answer = new Promise<{ status: number; code: string }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, method: 'POST', path: '/v1/chat/completions', headers: { Authorization: `Bearer ${made.secret}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, code: (JSON.parse(text) as { error: { code: string } }).error.code }));
        });
        req.on('error', reject);
        req.write(body.slice(0, 10));
        // The rest comes after the key is revoked, later than an early lookup may stand.
        setTimeout(() => {
          void request(t.app).delete(`/api/keys/${made.key.id}`).set(auth).then(() => req.end(body.slice(10)), reject);
        }, 1200);
      });
      expect(await answer).toEqual({ status: 401, code: 'invalid-api-key' });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('when the key has expired or its owner is disabled, then it stops working', async () => {
    const { u, auth } = await signedIn();
    const k1 = (await request(t.app).post('/api/keys').set(auth).send({ name: 'short-lived', scopes: ['chat'], expiresInDays: 1 })).body;
    const k2 = (await request(t.app).post('/api/keys').set(auth).send({ name: 'long-lived', scopes: ['chat'] })).body;
    await t.database.db.update(apiKeys).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(apiKeys.id, k1.key.id));
    expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${k1.secret}`)).body.error.code).toBe('api-key-expired');
    expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${k2.secret}`)).status).toBe(200);
    await t.database.db.update(users).set({ status: 'disabled' }).where(eq(users.id, u.id));
    expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${k2.secret}`)).status).toBe(401);
  });

  it('when a key is used to manage keys or a made-up key is sent, then 403 and 401', async () => {
    const { auth } = await signedIn();
    const k = (await request(t.app).post('/api/keys').set(auth).send({ name: 'k', scopes: ['chat'] })).body;
    const res = await request(t.app).post('/api/keys').set('Authorization', `Bearer ${k.secret}`).send({ name: 'escalate', scopes: ['chat'] });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('interactive-sign-in-required');
    expect((await request(t.app).get('/api/auth/me').set('Authorization', 'Bearer hk_madeupmadeupmadeupmadeupmadeupmadeupmade')).status).toBe(401);
  });

  it('when the request is malformed, then 400 names the field', async () => {
    const { auth } = await signedIn();
    const res = await request(t.app).post('/api/keys').set(auth).send({ name: '', scopes: ['root'] });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(['body.name', 'body.scopes.0']);
  });

  it('when a user already holds 50 active keys, then a 51st is refused until one is revoked', async () => {
    const { auth } = await signedIn();
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) ids.push((await request(t.app).post('/api/keys').set(auth).send({ name: `k${i}`, scopes: ['chat'] })).body.key.id);
    const over = await request(t.app).post('/api/keys').set(auth).send({ name: 'one too many', scopes: ['chat'] });
    expect(over.status).toBe(409);
    expect(over.body.error.code).toBe('api-key-limit');
    await request(t.app).delete(`/api/keys/${ids[0]}`).set(auth);
    expect((await request(t.app).post('/api/keys').set(auth).send({ name: 'now fine', scopes: ['chat'] })).status).toBe(201);
  });
});
