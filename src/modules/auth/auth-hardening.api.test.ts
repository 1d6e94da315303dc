import request from 'supertest';
import { eq, sql } from 'drizzle-orm';
import { createTestApp, unique, type TestApp } from '../../../test/support/test-app';
import { auditRows, cookieHeader, cookiesOf, createUser, STRONG_PASSWORD } from '../../../test/support/auth';
import { startSmtp, tokenIn } from '../../../test/support/smtp';
import { Totp } from './auth.totp';
import { authTokens } from './auth.schema';

describe('auth hardening', () => {
  let t: TestApp;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let admin: Awaited<ReturnType<typeof createUser>>;
  let adminAuth: { Authorization: string };
  const bearer = (tok: string) => ({ Authorization: `Bearer ${tok}` });
  const tokens = async (email: string, password: string) => (await request(t.app).post('/api/auth/token').send({ email, password })).body as { access_token: string; refresh_token: string };

  beforeAll(async () => {
    smtp = await startSmtp();
    t = await createTestApp({ SMTP_URL: smtp.url, ALLOW_SIGNUP: 'true', CREDENTIAL_RATE_LIMIT_MAX: '10000' });
    admin = await createUser(t, { role: 'admin' });
    adminAuth = bearer((await tokens(admin.email, admin.password)).access_token);
  });
  afterAll(async () => {
    await t.close();
    await smtp.close();
  });

  it('when a browser holds a cookie for an ended session, then it can still sign in, and the stale cookie is cleared', async () => {
    const u = await createUser(t);
    const signedIn = await request(t.app).post('/api/auth/login').send({ email: u.email, password: u.password });
    const cookies = cookieHeader(signedIn);
    await request(t.app).delete('/api/auth/sessions').set(bearer((await tokens(u.email, u.password)).access_token));
    const me = await request(t.app).get('/api/auth/me').set('Cookie', cookies);
    expect(me.status).toBe(401);
    expect(cookiesOf(me).hearth_at).toMatch(/Expires=Thu, 01 Jan 1970/);
    const again = await request(t.app).post('/api/auth/login').set('Cookie', cookies).send({ email: u.email, password: u.password });
    expect(again.status).toBe(200);
  });

  it('when the same refresh token is presented twice at once, then one rotation wins and the family dies', async () => {
    const u = await createUser(t);
    const tok = await tokens(u.email, u.password);
    const results = await Promise.all([1, 2, 3].map(() => request(t.app).post('/api/auth/refresh').send({ refresh_token: tok.refresh_token })));
    // Only one request can spend the token; every other one is a reuse and ends the family.
    expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(1);
    expect(results.filter((r) => r.status === 401 && r.body.error.code === 'refresh-token-reused').length).toBeGreaterThanOrEqual(2);
    for (const r of results.filter((x) => x.status === 200)) {
      expect((await request(t.app).get('/api/auth/me').set(bearer(r.body.access_token))).status).toBe(401);
      expect((await request(t.app).post('/api/auth/refresh').send({ refresh_token: r.body.refresh_token })).status).toBe(401);
    }
    expect((await request(t.app).get('/api/auth/me').set(bearer(tok.access_token))).status).toBe(401);
  });

  it('when a user signs out everywhere else, then only the current session survives', async () => {
    const u = await createUser(t);
    const a = await tokens(u.email, u.password);
    const b = await tokens(u.email, u.password);
    expect((await request(t.app).delete('/api/auth/sessions').set(bearer(a.access_token))).body).toEqual({ revokedSessions: 1 });
    expect((await request(t.app).get('/api/auth/me').set(bearer(b.access_token))).status).toBe(401);
    expect((await request(t.app).get('/api/auth/me').set(bearer(a.access_token))).status).toBe(200);
  });

  it('when an admin ends a user’s sessions or turns off their 2FA, then it takes effect at once and is audited', async () => {
    const u = await createUser(t);
    const s = await tokens(u.email, u.password);
    expect((await request(t.app).delete(`/api/admin/users/${u.id}/sessions`).set(adminAuth)).body).toEqual({ revokedSessions: 1 });
    expect((await request(t.app).get('/api/auth/me').set(bearer(s.access_token))).status).toBe(401);
    const s2 = await tokens(u.email, u.password);
    const setup = (await request(t.app).post('/api/auth/totp/setup').set(bearer(s2.access_token)).send({ password: u.password })).body;
    await request(t.app).post('/api/auth/totp/confirm').set(bearer(s2.access_token)).send({ code: new Totp().generate(setup.secret) });
    expect((await request(t.app).post('/api/auth/token').send({ email: u.email, password: u.password })).body.error.code).toBe('totp-required');
    expect((await request(t.app).delete(`/api/admin/users/${u.id}/totp`).set(adminAuth)).status).toBe(204);
    expect((await request(t.app).post('/api/auth/token').send({ email: u.email, password: u.password })).status).toBe(200);
    expect(await auditRows(t, { action: 'auth.2fa.reset-by-admin', targetId: u.id })).toHaveLength(1);
    expect(await auditRows(t, { action: 'auth.session.revoke-all', targetId: u.id })).toHaveLength(1);
  });

  it('when an unverified account (mail configured) tries to add an API key, then it must confirm its address first', async () => {
    const email = `${unique('unverified')}@example.com`;
    await request(t.app).post('/api/auth/register').send({ email, name: 'U', password: STRONG_PASSWORD });
    const tok = await tokens(email, STRONG_PASSWORD);
    const refused = await request(t.app).post('/api/keys').set(bearer(tok.access_token)).send({ name: 'k', scopes: ['chat'] });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('email-not-verified');
    const token = tokenIn(await smtp.waitFor(email, /Confirm your email/), '/verify-email');
    await request(t.app).post('/api/auth/email/verify').send({ token });
    expect((await request(t.app).post('/api/keys').set(bearer(tok.access_token)).send({ name: 'k', scopes: ['chat'] })).status).toBe(201);
  });

  it('when a password is reset by link, then API keys and older reset links die with it; an expired link is refused', async () => {
    const u = await createUser(t);
    const key = (await request(t.app).post('/api/keys').set(bearer((await tokens(u.email, u.password)).access_token)).send({ name: 'k', scopes: ['chat'] })).body.secret;
    const first = (await request(t.app).post(`/api/admin/users/${u.id}/password-reset`).set(adminAuth)).body;
    expect(first.emailed).toBe(true);
    const firstToken = tokenIn(await smtp.waitFor(u.email, /Reset your Hearth password/), '/reset-password');
    await request(t.app).post('/api/auth/password/forgot').send({ email: u.email });
    const mails = async () => smtp.mails.filter((m) => m.to.includes(u.email.toLowerCase()) && /Reset your Hearth password/.test(m.raw));
    for (let i = 0; i < 50 && (await mails()).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    const secondToken = tokenIn((await mails())[1]!, '/reset-password');
    // Asking again spends the earlier link.
    expect((await request(t.app).post('/api/auth/password/reset').send({ token: firstToken, password: 'the first reset passphrase' })).body.error.code).toBe('link-invalid');
    expect((await request(t.app).post('/api/auth/password/reset').send({ token: secondToken, password: 'the second reset passphrase' })).status).toBe(204);
    expect((await request(t.app).get('/api/auth/me').set(bearer(key))).status).toBe(401);

    await request(t.app).post('/api/auth/password/forgot').send({ email: u.email });
    for (let i = 0; i < 50 && (await mails()).length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    const third = tokenIn((await mails())[2]!, '/reset-password');
    await t.database.db.update(authTokens).set({ expiresAt: new Date(Date.now() - 1000) }).where(sql`${authTokens.userId} = ${u.id} AND ${authTokens.usedAt} IS NULL`);
    expect((await request(t.app).post('/api/auth/password/reset').send({ token: third, password: 'the third reset passphrase' })).body.error.code).toBe('link-invalid');
  });

  it('when someone asks for many reset mails to one address, then at most three an hour are sent', async () => {
    const u = await createUser(t);
    for (let i = 0; i < 5; i++) expect((await request(t.app).post('/api/auth/password/forgot').send({ email: u.email })).status).toBe(202);
    await new Promise((r) => setTimeout(r, 500));
    expect(smtp.mails.filter((m) => m.to.includes(u.email.toLowerCase())).length).toBe(3);
  });

  it('when an admin invitation outlives its inviter’s admin role, then it can no longer create an admin', async () => {
    const inviter = await createUser(t, { role: 'admin' });
    const inviterAuth = bearer((await tokens(inviter.email, inviter.password)).access_token);
    const email = `${unique('late-admin')}@example.com`;
    await request(t.app).post('/api/admin/invites').set(inviterAuth).send({ email, role: 'admin' });
    const token = tokenIn(await smtp.waitFor(email, /invited you/), '/invite');
    await request(t.app).patch(`/api/admin/users/${inviter.id}`).set(adminAuth).send({ role: 'member' });
    const res = await request(t.app).post('/api/auth/invites/accept').send({ token, password: STRONG_PASSWORD });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('invite-revoked');
  });

  it('when a reset link is older than an hour, then it is refused (the TTL is enforced, not only stored)', async () => {
    const u = await createUser(t);
    const { link } = (await createTestApp({}, { database: t.database }).then(async (noMail) => {
      try {
        const a = await createUser(noMail, { role: 'admin' });
        const auth = { Authorization: `Bearer ${(await request(noMail.app).post('/api/auth/token').send({ email: a.email, password: a.password })).body.access_token}` };
        return (await request(noMail.app).post(`/api/admin/users/${u.id}/password-reset`).set(auth)).body;
      } finally {
        await noMail.close();
      }
    })) as { link: string };
    const token = new URL(link).searchParams.get('token')!;
    const [row] = await t.database.db.select().from(authTokens).where(eq(authTokens.userId, u.id));
    expect(row!.expiresAt!.getTime() - row!.createdAt.getTime()).toBeLessThanOrEqual(3_600_000 + 1000);
    await t.database.db.update(authTokens).set({ expiresAt: new Date(Date.now() - 1) }).where(eq(authTokens.id, row!.id));
    expect((await request(t.app).post('/api/auth/password/reset').send({ token, password: 'a too late passphrase 1' })).body.error.code).toBe('link-invalid');
  });
});
