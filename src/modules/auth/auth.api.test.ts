import crypto from 'node:crypto';
import request from 'supertest';
import jwt from 'jsonwebtoken';
import { eq } from 'drizzle-orm';
import { createTestApp, unique, type TestApp } from '../../../test/support/test-app';
import { auditRows, cookieHeader, cookiesOf, createUser, STRONG_PASSWORD } from '../../../test/support/auth';
import { users } from './auth.schema';

describe('auth API', () => {
  let t: TestApp;
  beforeAll(async () => {
    // TRUST_PROXY=1 lets tests play different client ips (X-Forwarded-For) and TLS (X-Forwarded-Proto).
    t = await createTestApp({ TRUST_PROXY: '1', CREDENTIAL_RATE_LIMIT_MAX: '1000' });
  });
  afterAll(() => t.close());

  const ip = () => `198.51.100.${crypto.randomInt(1, 254)}`;
  const login = (email: string, password: string, from = ip()) => request(t.app).post('/api/auth/login').set('X-Forwarded-For', from).send({ email, password });
  const token = (email: string, password: string, from = ip()) => request(t.app).post('/api/auth/token').set('X-Forwarded-For', from).send({ email, password });

  describe('browser sign-in', () => {
    it('when a browser signs in, then httpOnly SameSite=Lax cookies carry the tokens and the body holds only the user', async () => {
      const u = await createUser(t);
      const res = await login(u.email.toUpperCase(), u.password);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ user: expect.objectContaining({ id: u.id, email: u.email, role: 'member' }) });
      expect(JSON.stringify(res.body)).not.toMatch(/token/i);
      const cookies = cookiesOf(res);
      expect(Object.keys(cookies).sort()).toEqual(['hearth_at', 'hearth_rt']);
      for (const c of Object.values(cookies)) {
        expect(c).toMatch(/HttpOnly/);
        expect(c).toMatch(/SameSite=Lax/);
        expect(c).toMatch(/Path=\//);
      }
      const me = await request(t.app).get('/api/auth/me').set('Cookie', cookieHeader(res));
      expect(me.status).toBe(200);
      expect(me.body.user.id).toBe(u.id);
      const [row] = await auditRows(t, { action: 'auth.login.success', actorUserId: u.id });
      expect(row).toMatchObject({ target_type: 'session', request_id: res.headers['x-request-id'] });
    });

    it('when the request came over TLS, then the cookies are Secure with the __Host- prefix', async () => {
      const u = await createUser(t);
      const res = await request(t.app).post('/api/auth/login').set('X-Forwarded-Proto', 'https').set('X-Forwarded-For', ip()).send({ email: u.email, password: u.password });
      const cookies = cookiesOf(res);
      expect(Object.keys(cookies).sort()).toEqual(['__Host-hearth_at', '__Host-hearth_rt']);
      for (const c of Object.values(cookies)) {
        expect(c).toMatch(/; Secure/);
        expect(c).not.toMatch(/Domain=/);
      }
    });

    it('when the password is wrong or the email unknown, then both get the same 401 and each failure is audited', async () => {
      const u = await createUser(t);
      const wrong = await login(u.email, 'not the password at all');
      const unknown = await login(`${unique('nobody')}@example.com`, 'whatever whatever');
      expect(wrong.status).toBe(401);
      expect(unknown.status).toBe(401);
      expect(wrong.body.error).toEqual(unknown.body.error);
      expect(wrong.body.error).toEqual({ code: 'invalid-credentials', message: 'Email or password is wrong.' });
      const [failure] = await auditRows(t, { action: 'auth.login.failure', targetId: u.id });
      expect(failure!.metadata).toEqual({ reason: 'wrong-password' });
    });
  });

  describe('tokens for programs', () => {
    it('when a program asks for tokens, then it gets access and refresh tokens in JSON and can call the API with the bearer token', async () => {
      const u = await createUser(t);
      const res = await token(u.email, u.password);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ access_token: expect.any(String), refresh_token: expect.any(String), token_type: 'Bearer', expires_in: 900 });
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.headers['cache-control']).toBe('no-store');
      const me = await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${res.body.access_token}`);
      expect(me.body.user.email).toBe(u.email);
    });

    it('when a refresh token is used, then it is rotated; when the spent one comes back, then the whole family and session die and it is audited', async () => {
      const u = await createUser(t);
      const first = (await token(u.email, u.password)).body;
      const second = await request(t.app).post('/api/auth/refresh').send({ refresh_token: first.refresh_token });
      expect(second.status).toBe(200);
      expect(second.body.refresh_token).not.toBe(first.refresh_token);
      const replay = await request(t.app).post('/api/auth/refresh').send({ refresh_token: first.refresh_token });
      expect(replay.status).toBe(401);
      expect(replay.body.error.code).toBe('refresh-token-reused');
      // The legitimate holder's newer tokens die with the family.
      expect((await request(t.app).post('/api/auth/refresh').send({ refresh_token: second.body.refresh_token })).status).toBe(401);
      expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${second.body.access_token}`)).status).toBe(401);
      expect(await auditRows(t, { action: 'auth.refresh.reuse', actorUserId: u.id })).toHaveLength(1);
    });

    it('when the browser refreshes with its cookie, then new cookies come back and the old refresh cookie is spent', async () => {
      const u = await createUser(t);
      const signedIn = await login(u.email, u.password);
      const refreshed = await request(t.app).post('/api/auth/refresh').set('Cookie', cookieHeader(signedIn));
      expect(refreshed.status).toBe(200);
      expect(refreshed.body.user.id).toBe(u.id);
      expect(cookiesOf(refreshed).hearth_rt).toBeDefined();
      expect(cookiesOf(refreshed).hearth_rt).not.toBe(cookiesOf(signedIn).hearth_rt);
    });
  });

  describe('hostile access tokens', () => {
    let good: string;
    let kid: string;
    let claims: jwt.JwtPayload;
    const secret = () => t.config.secrets.jwtSecret;
    beforeAll(async () => {
      const u = await createUser(t);
      good = (await token(u.email, u.password)).body.access_token;
      const decoded = jwt.decode(good, { complete: true })!;
      kid = decoded.header.kid!;
      claims = decoded.payload as jwt.JwtPayload;
    });
    const me = (tok: string) => request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${tok}`);
    const forge = (payload: object, opts: jwt.SignOptions = {}, key: jwt.Secret = secret()) => jwt.sign(payload, key, { algorithm: 'HS256', keyid: kid, ...opts });
    const base = () => ({ sub: claims.sub, sid: claims.sid, typ: 'access', iss: claims.iss, aud: claims.aud });

    it('when the token is genuine (the control), then it works', async () => {
      expect((await me(good)).status).toBe(200);
      expect((await me(forge({ ...base() }, { expiresIn: 60 }))).status).toBe(200);
    });

    it.each([
      ['a tampered payload', () => good.split('.')[0] + '.' + Buffer.from(JSON.stringify({ ...claims, sub: crypto.randomUUID() })).toString('base64url') + '.' + good.split('.')[2]],
      ['an expired token', () => forge({ ...base(), exp: Math.floor(Date.now() / 1000) - 60 })],
      ['the wrong audience', () => forge({ ...base(), aud: 'someone-else' }, { expiresIn: 60 })],
      ['the wrong issuer', () => forge({ ...base(), iss: 'https://evil.example' }, { expiresIn: 60 })],
      ['the wrong type', () => forge({ ...base(), typ: 'refresh' }, { expiresIn: 60 })],
      ['no expiry', () => forge({ ...base() })],
      ['another secret', () => forge({ ...base() }, { expiresIn: 60 }, 'another-secret-that-is-long-enough-000000')],
      ['an unknown key id', () => forge({ ...base() }, { expiresIn: 60, keyid: 'nope' })],
      ['alg none', () => `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid })).toString('base64url')}.${Buffer.from(JSON.stringify({ ...base(), exp: Math.floor(Date.now() / 1000) + 60, iat: Math.floor(Date.now() / 1000) })).toString('base64url')}.`],
      [
        'RS256 (key confusion)',
        () => {
          const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
          return jwt.sign({ ...base() }, privateKey, { algorithm: 'RS256', keyid: kid, expiresIn: 60 });
        },
      ],
      ['garbage', () => 'not.a.jwt'],
    ])('when the token has %s, then 401', async (_what, make) => {
      const res = await me(make());
      expect(res.status).toBe(401);
      expect(res.body.error.code).toMatch(/^(invalid-token|unauthenticated)$/);
    });
  });

  describe('sessions', () => {
    it('when a user signs out, then that session stops working at once', async () => {
      const u = await createUser(t);
      const tok = (await token(u.email, u.password)).body;
      expect((await request(t.app).post('/api/auth/logout').set('Authorization', `Bearer ${tok.access_token}`)).status).toBe(204);
      expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${tok.access_token}`)).status).toBe(401);
      expect((await request(t.app).post('/api/auth/refresh').send({ refresh_token: tok.refresh_token })).status).toBe(401);
      expect(await auditRows(t, { action: 'auth.logout', actorUserId: u.id })).toHaveLength(1);
    });

    it("when a user lists and revokes a session, then only theirs are visible and someone else's answers 404", async () => {
      const u = await createUser(t);
      const other = await createUser(t);
      const a = (await token(u.email, u.password)).body;
      const b = (await token(u.email, u.password)).body;
      const o = (await token(other.email, other.password)).body;
      const list = await request(t.app).get('/api/auth/sessions').set('Authorization', `Bearer ${a.access_token}`);
      expect(list.body.sessions).toHaveLength(2);
      expect(list.body.sessions.filter((s: { current: boolean }) => s.current)).toHaveLength(1);
      const bId = jwt.decode(b.access_token, { json: true })!.sid as string;
      const oId = jwt.decode(o.access_token, { json: true })!.sid as string;
      expect((await request(t.app).delete(`/api/auth/sessions/${oId}`).set('Authorization', `Bearer ${a.access_token}`)).status).toBe(404);
      expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${o.access_token}`)).status).toBe(200);
      expect((await request(t.app).delete(`/api/auth/sessions/${bId}`).set('Authorization', `Bearer ${a.access_token}`)).status).toBe(204);
      expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${b.access_token}`)).status).toBe(401);
      expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${a.access_token}`)).status).toBe(200);
    });

    it('when a user is disabled, then their access token and refresh token stop working at once', async () => {
      const u = await createUser(t);
      const tok = (await token(u.email, u.password)).body;
      await t.database.db.update(users).set({ status: 'disabled' }).where(eq(users.id, u.id));
      expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${tok.access_token}`)).status).toBe(401);
      expect((await request(t.app).post('/api/auth/refresh').send({ refresh_token: tok.refresh_token })).body.error.code).toBe('account-disabled');
      expect((await login(u.email, u.password)).status).toBe(401);
    });
  });

  describe('passwords', () => {
    it('when a password is changed, then the other sessions end and the new password works; weak or wrong input gets a 400 naming the field', async () => {
      const u = await createUser(t);
      const a = (await token(u.email, u.password)).body;
      const b = (await token(u.email, u.password)).body;
      const change = (body: object) => request(t.app).put('/api/auth/password').set('Authorization', `Bearer ${a.access_token}`).send(body);
      const weak = await change({ currentPassword: u.password, newPassword: 'unbelievable' });
      expect(weak.status).toBe(400);
      expect(weak.body.error).toMatchObject({ code: 'weak-password', details: [{ field: 'body.newPassword' }] });
      const short = await change({ currentPassword: u.password, newPassword: 'short' });
      expect(short.body.error.message).toContain('at least 12 characters');
      const wrong = await change({ currentPassword: 'not my password!!', newPassword: 'a brand new passphrase 77' });
      expect(wrong.body.error.code).toBe('wrong-password');
      const ok = await change({ currentPassword: u.password, newPassword: 'a brand new passphrase 77' });
      expect(ok.status).toBe(200);
      expect(ok.body.revokedSessions).toBe(1);
      expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${b.access_token}`)).status).toBe(401);
      expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${a.access_token}`)).status).toBe(200);
      expect((await login(u.email, u.password)).status).toBe(401);
      expect((await login(u.email, 'a brand new passphrase 77')).status).toBe(200);
    });

    it("when two long passwords share their first 72 bytes, then only the right one signs in (bcrypt's limit does not truncate)", async () => {
      const prefix = 'é'.repeat(40); // 80 bytes of UTF-8
      const u = await createUser(t, { password: `${prefix}-right-ending` });
      expect((await login(u.email, `${prefix}-wrong-ending`)).status).toBe(401);
      expect((await login(u.email, `${prefix}-right-ending`)).status).toBe(200);
    });
  });

  describe('brute force', () => {
    it('when one ip fails five times for an account, then that pair is locked with 429 and Retry-After, and the owner still signs in from another ip', async () => {
      const u = await createUser(t, { role: 'admin' });
      const attacker = ip();
      for (let i = 0; i < 5; i++) expect((await login(u.email, `wrong password ${i}!!`, attacker)).status).toBe(401);
      const locked = await login(u.email, u.password, attacker);
      expect(locked.status).toBe(429);
      expect(locked.body.error.code).toBe('login-locked');
      expect(Number(locked.headers['retry-after'])).toBeGreaterThan(800);
      expect(locked.body.requestId).toBe(locked.headers['x-request-id']);
      let owner = ip();
      while (owner === attacker) owner = ip();
      expect((await login(u.email, u.password, owner)).status).toBe(200);
      expect(await auditRows(t, { action: 'auth.login.lockout', targetId: u.id })).toHaveLength(1);
      expect(await auditRows(t, { action: 'auth.login.locked', targetId: u.id })).toHaveLength(1);
    });

    it('when twenty wrong guesses arrive at once from one address, then no more than five are even checked; the rest are refused', async () => {
      const u = await createUser(t);
      const from = ip();
      const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => login(u.email, `parallel guess ${i}!!`, from).then((r) => r.status)));
      expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(15);
    });

    it('when the guesses come from many IPv6 addresses of one /56, then they count as one address', async () => {
      const u = await createUser(t);
      // The first 56 bits are fixed: three groups and the high byte of the fourth.
      const net = `2001:db8:${crypto.randomInt(1, 0xffff).toString(16)}:${crypto.randomInt(0x10, 0xff).toString(16)}`;
      for (let i = 1; i <= 5; i++) expect((await login(u.email, `v6 guess ${i}!!`, `${net}${i.toString(16).padStart(2, '0')}::${i}`)).status).toBe(401);
      expect((await login(u.email, u.password, `${net}ff::1`)).status).toBe(429);
      expect((await login(u.email, u.password, '2001:db8:ffff:ff00::1')).status).toBe(200);
    });

    it('when one ip hammers the credential endpoints, then its cap answers 429 there but never on me', async () => {
      const capped = await createTestApp({ TRUST_PROXY: '1', CREDENTIAL_RATE_LIMIT_MAX: '3', REDIS_URL: '' }, { database: t.database });
      try {
        const from = ip();
        const u = await createUser(capped);
        const tok = (await request(capped.app).post('/api/auth/token').set('X-Forwarded-For', from).send({ email: u.email, password: u.password })).body;
        for (let i = 0; i < 2; i++) await request(capped.app).post('/api/auth/login').set('X-Forwarded-For', from).send({ email: u.email, password: 'nope nope nope' });
        const res = await request(capped.app).post('/api/auth/login').set('X-Forwarded-For', from).send({ email: u.email, password: u.password });
        expect(res.status).toBe(429);
        expect(res.body.error.code).toBe('rate-limited');
        expect((await request(capped.app).get('/api/auth/me').set('X-Forwarded-For', from).set('Authorization', `Bearer ${tok.access_token}`)).status).toBe(200);
      } finally {
        await capped.close();
      }
    });
  });

  describe('CSRF for cookie-authenticated writes', () => {
    it('when a cookie-authenticated write comes without the token, then 403; with the token from /api/auth/csrf it passes; bearer needs none', async () => {
      const u = await createUser(t);
      const signedIn = await login(u.email, u.password);
      const cookies = cookieHeader(signedIn);
      const refused = await request(t.app).post('/api/auth/logout').set('Cookie', cookies);
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('csrf-invalid');
      const wrong = await request(t.app).post('/api/auth/logout').set('Cookie', cookies).set('X-CSRF-Token', 'x'.repeat(43));
      expect(wrong.status).toBe(403);
      const { csrfToken } = (await request(t.app).get('/api/auth/csrf').set('Cookie', cookies)).body;
      expect(csrfToken).toEqual(expect.any(String));
      expect((await request(t.app).post('/api/auth/logout').set('Cookie', cookies).set('X-CSRF-Token', csrfToken)).status).toBe(204);
      const tok = (await token(u.email, u.password)).body;
      expect((await request(t.app).get('/api/auth/csrf').set('Authorization', `Bearer ${tok.access_token}`)).body).toEqual({ csrfToken: null });
      expect((await request(t.app).post('/api/auth/logout').set('Authorization', `Bearer ${tok.access_token}`)).status).toBe(204);
    });
  });

  describe('input', () => {
    it('when sign-up is off (the default), then register answers 403 signup-disabled', async () => {
      const res = await request(t.app).post('/api/auth/register').send({ email: `${unique('s')}@example.com`, name: 'X', password: STRONG_PASSWORD });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('signup-disabled');
    });

    it('when values are quote-laden they round-trip unchanged; a field over its limit gets a 400 naming it', async () => {
      const open = await createTestApp({ ALLOW_SIGNUP: 'true', TRUST_PROXY: '1', CREDENTIAL_RATE_LIMIT_MAX: '1000' }, { database: t.database });
      try {
        for (const name of ["O'Brien", "'; DROP TABLE users; --"]) {
          const email = `${unique("o'brien")}@example.com`;
          const res = await request(open.app).post('/api/auth/register').set('X-Forwarded-For', ip()).send({ email, name, password: STRONG_PASSWORD });
          expect(res.status).toBe(201);
          expect(res.body.user).toMatchObject({ name, email, role: 'member' });
          const tok = (await request(open.app).post('/api/auth/token').set('X-Forwarded-For', ip()).send({ email, password: STRONG_PASSWORD })).body;
          expect((await request(open.app).get('/api/auth/me').set('Authorization', `Bearer ${tok.access_token}`)).body.user.name).toBe(name);
        }
        const long = await request(open.app).post('/api/auth/register').send({ email: `${unique('l')}@example.com`, name: 'n'.repeat(101), password: STRONG_PASSWORD });
        expect(long.status).toBe(400);
        expect(long.body.error.details).toEqual([expect.objectContaining({ field: 'body.name' })]);
        const taken = await request(open.app).post('/api/auth/register').send({ email: (await createUser(open)).email.toUpperCase(), name: 'Dup', password: STRONG_PASSWORD });
        expect(taken.status).toBe(409);
      } finally {
        await open.close();
      }
    });
  });
});
