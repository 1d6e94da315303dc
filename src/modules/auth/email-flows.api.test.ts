import request from 'supertest';
import { createTestApp, unique, type TestApp } from '../../../test/support/test-app';
import { auditRows, createUser, STRONG_PASSWORD } from '../../../test/support/auth';
import { startSmtp, tokenIn } from '../../../test/support/smtp';

describe('email flows over a real SMTP server', () => {
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let t: TestApp;
  let adminAuth: { Authorization: string };
  beforeAll(async () => {
    smtp = await startSmtp();
    t = await createTestApp({ SMTP_URL: smtp.url, SMTP_FROM: 'Hearth <noreply@hearth.test>', ALLOW_SIGNUP: 'true', CREDENTIAL_RATE_LIMIT_MAX: '10000' });
    const admin = await createUser(t, { role: 'admin' });
    adminAuth = { Authorization: `Bearer ${(await request(t.app).post('/api/auth/token').send({ email: admin.email, password: admin.password })).body.access_token}` };
  });
  afterAll(async () => {
    await t.close();
    await smtp.close();
  });

  it('when someone forgets their password, then a mailed single-use link sets a new one and ends their sessions; unknown emails get the same answer and no mail', async () => {
    const u = await createUser(t);
    const old = (await request(t.app).post('/api/auth/token').send({ email: u.email, password: u.password })).body;
    const asked = await request(t.app).post('/api/auth/password/forgot').send({ email: u.email.toUpperCase() });
    const unknownEmail = `${unique('ghost')}@example.com`;
    const unknown = await request(t.app).post('/api/auth/password/forgot').send({ email: unknownEmail });
    expect(asked.status).toBe(202);
    expect(unknown.status).toBe(202);
    expect(unknown.body).toEqual(asked.body);
    const mail = await smtp.waitFor(u.email, /Reset your Hearth password/);
    expect(mail.raw).toContain('noreply@hearth.test');
    expect(smtp.mails.some((m) => m.to.includes(unknownEmail))).toBe(false);
    const token = tokenIn(mail, '/reset-password');

    const weak = await request(t.app).post('/api/auth/password/reset').send({ token, password: 'short' });
    expect(weak.body.error.code).toBe('weak-password');
    expect((await request(t.app).post('/api/auth/password/reset').send({ token, password: 'a fresh reset passphrase 5' })).status).toBe(204);
    expect((await request(t.app).post('/api/auth/password/reset').send({ token, password: 'a second reset passphrase 6' })).body.error.code).toBe('link-invalid');
    expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${old.access_token}`)).status).toBe(401);
    expect((await request(t.app).post('/api/auth/token').send({ email: u.email, password: 'a fresh reset passphrase 5' })).status).toBe(200);
    expect(await auditRows(t, { action: 'auth.password.reset', targetId: u.id })).toHaveLength(1);
  });

  it('when someone signs up, then a verification mail arrives and its link marks the address verified once', async () => {
    const email = `${unique('new')}@example.com`;
    const res = await request(t.app).post('/api/auth/register').send({ email, name: 'New Person', password: STRONG_PASSWORD });
    expect(res.body.user.emailVerified).toBe(false);
    const token = tokenIn(await smtp.waitFor(email, /Confirm your email/), '/verify-email');
    expect((await request(t.app).post('/api/auth/email/verify').send({ token })).status).toBe(204);
    expect((await request(t.app).post('/api/auth/email/verify').send({ token })).status).toBe(400);
    const tok = (await request(t.app).post('/api/auth/token').send({ email, password: STRONG_PASSWORD })).body.access_token;
    expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${tok}`)).body.user.emailVerified).toBe(true);
    expect(await auditRows(t, { action: 'auth.email.verify', targetId: res.body.user.id })).toHaveLength(1);
  });

  it('when an admin invites someone, then the mail carries a 7-day link that creates the account once, with the role chosen', async () => {
    const email = `${unique('invitee')}@example.com`;
    const invited = await request(t.app).post('/api/admin/invites').set(adminAuth).send({ email, name: 'Invited One', role: 'admin' });
    expect(invited.status).toBe(201);
    expect(invited.body).toMatchObject({ email, role: 'admin', emailed: true });
    expect(invited.body.link).toBeUndefined();
    expect(new Date(invited.body.expiresAt).getTime() - Date.now()).toBeGreaterThan(6.9 * 24 * 3_600_000);
    const token = tokenIn(await smtp.waitFor(email, /invited you to Hearth/), '/invite');
    const accepted = await request(t.app).post('/api/auth/invites/accept').send({ token, password: STRONG_PASSWORD });
    expect(accepted.status).toBe(201);
    expect(accepted.body.user).toMatchObject({ email, name: 'Invited One', role: 'admin', emailVerified: true });
    expect((await request(t.app).post('/api/auth/invites/accept').send({ token, password: STRONG_PASSWORD })).body.error.code).toBe('link-invalid');
    expect(await auditRows(t, { action: 'user.invite', targetId: email })).toHaveLength(1);
  });
});
