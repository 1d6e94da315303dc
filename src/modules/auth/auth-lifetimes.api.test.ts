import crypto from 'node:crypto';
import request from 'supertest';
import jwt from 'jsonwebtoken';
import { eq } from 'drizzle-orm';
import { createTestApp, type TestApp } from '../../../test/support/test-app';
import { auditRows, createUser } from '../../../test/support/auth';
import { startSmtp } from '../../../test/support/smtp';
import { sessions } from './auth.schema';

describe('session lifetimes, secret rotation and account lockout', () => {
  let t: TestApp;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  beforeAll(async () => {
    smtp = await startSmtp();
    t = await createTestApp({ SESSION_IDLE_MINUTES: '30', SESSION_MAX_AGE_HOURS: '24', TRUST_PROXY: '1', CREDENTIAL_RATE_LIMIT_MAX: '100000', SMTP_URL: smtp.url });
  });
  afterAll(async () => {
    await t.close();
    await smtp.close();
  });

  const signIn = async (u: { email: string; password: string }) => (await request(t.app).post('/api/auth/token').send({ email: u.email, password: u.password })).body as { access_token: string; refresh_token: string };
  const sidOf = (token: string) => jwt.decode(token, { json: true })!.sid as string;

  it('when a session has been idle longer than SESSION_IDLE_MINUTES, then its tokens stop; an active one (the control) keeps working', async () => {
    const u = await createUser(t);
    const idle = await signIn(u);
    const active = await signIn(u);
    await t.database.db.update(sessions).set({ lastSeenAt: new Date(Date.now() - 31 * 60_000) }).where(eq(sessions.id, sidOf(idle.access_token)));
    const res = await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${idle.access_token}`);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('session-expired');
    expect((await request(t.app).post('/api/auth/refresh').send({ refresh_token: idle.refresh_token })).status).toBe(401);
    expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${active.access_token}`)).status).toBe(200);
  });

  it('when a session is past its absolute lifetime, then it ends however active it is', async () => {
    const u = await createUser(t);
    const s = await signIn(u);
    await t.database.db.update(sessions).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(sessions.id, sidOf(s.access_token)));
    expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${s.access_token}`)).body.error.code).toBe('session-expired');
  });

  it('when JWT_SECRET is rotated with JWT_PREVIOUS_SECRET set, then tokens signed with the old secret still verify; without it they do not', async () => {
    const u = await createUser(t);
    const old = (await signIn(u)).access_token;
    const rotated = await createTestApp({ JWT_SECRET: 'a-brand-new-jwt-secret-0123456789-abcdef', JWT_PREVIOUS_SECRET: t.config.secrets.jwtSecret }, { database: t.database });
    const cut = await createTestApp({ JWT_SECRET: 'a-brand-new-jwt-secret-0123456789-abcdef' }, { database: t.database });
    try {
      expect((await request(rotated.app).get('/api/auth/me').set('Authorization', `Bearer ${old}`)).status).toBe(200);
      expect((await request(cut.app).get('/api/auth/me').set('Authorization', `Bearer ${old}`)).status).toBe(401);
      const fresh = (await request(rotated.app).post('/api/auth/token').send({ email: u.email, password: u.password })).body.access_token;
      expect((await request(cut.app).get('/api/auth/me').set('Authorization', `Bearer ${fresh}`)).status).toBe(200);
    } finally {
      await rotated.close();
      await cut.close();
    }
  });

  it('when an account fails 100 times within an hour from many addresses, then it is locked everywhere and the admins are alerted', async () => {
    const admin = await createUser(t, { role: 'admin' });
    const victim = await createUser(t);
    // 25 addresses × 4 attempts: no address reaches its own 5-failure lock.
    for (let i = 0; i < 100; i++) {
      const res = await request(t.app).post('/api/auth/login').set('X-Forwarded-For', `203.0.113.${Math.floor(i / 4) + 1}`).send({ email: victim.email, password: `guess number ${i}!!` });
      expect(res.status).toBe(401);
    }
    const fresh = `192.0.2.${crypto.randomInt(1, 254)}`;
    const locked = await request(t.app).post('/api/auth/login').set('X-Forwarded-For', fresh).send({ email: victim.email, password: victim.password });
    expect(locked.status).toBe(429);
    expect(locked.body.error.code).toBe('login-locked');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(3000);
    const [lockout] = await auditRows(t, { action: 'auth.login.lockout', targetId: victim.id });
    expect(lockout!.metadata).toEqual({ scope: 'account' });
    expect(t.logs.some((l) => l.message === 'security.alert.account-locked' && l.userId === victim.id)).toBe(true);
    const alert = await smtp.waitFor(admin.email, /security alert/);
    expect(alert.text).toContain(victim.email);
  });
});
