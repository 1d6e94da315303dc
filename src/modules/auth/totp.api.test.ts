import request from 'supertest';
import { eq } from 'drizzle-orm';
import { createTestApp, type TestApp } from '../../../test/support/test-app';
import { auditRows, createUser } from '../../../test/support/auth';
import { Totp } from './auth.totp';
import { users } from './auth.schema';

describe('two-factor authentication (TOTP)', () => {
  let t: TestApp;
  const totp = new Totp();
  beforeAll(async () => {
    t = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000' });
  });
  afterAll(() => t.close());

  async function withTwoFactor() {
    const u = await createUser(t);
    const tok = (await request(t.app).post('/api/auth/token').send({ email: u.email, password: u.password })).body.access_token as string;
    const auth = { Authorization: `Bearer ${tok}` };
    const setup = (await request(t.app).post('/api/auth/totp/setup').set(auth).send({ password: u.password })).body as { secret: string; otpauthUrl: string; qrCode: string };
    const confirmed = await request(t.app).post('/api/auth/totp/confirm').set(auth).send({ code: totp.generate(setup.secret) });
    return { u, auth, setup, recoveryCodes: confirmed.body.recoveryCodes as string[] };
  }

  it('when a user sets up 2FA, then they get an otpauth URI and QR code, a wrong code is refused, and confirming yields 10 recovery codes; the secret is stored encrypted', async () => {
    const u = await createUser(t);
    const tok = (await request(t.app).post('/api/auth/token').send({ email: u.email, password: u.password })).body.access_token as string;
    const auth = { Authorization: `Bearer ${tok}` };
    const other = (await request(t.app).post('/api/auth/token').send({ email: u.email, password: u.password })).body.access_token as string;
    const noPassword = await request(t.app).post('/api/auth/totp/setup').set(auth).send({ password: 'not my password at all' });
    expect(noPassword.status).toBe(400);
    expect(noPassword.body.error.code).toBe('wrong-password');
    const setup = await request(t.app).post('/api/auth/totp/setup').set(auth).send({ password: u.password });
    expect(setup.status).toBe(200);
    const uri = new URL(setup.body.otpauthUrl);
    expect(uri.protocol).toBe('otpauth:');
    expect([uri.host, decodeURIComponent(uri.pathname)]).toEqual(['totp', `/Hearth:${u.email}`]);
    expect(Object.fromEntries(uri.searchParams)).toEqual({ issuer: 'Hearth', secret: setup.body.secret, algorithm: 'SHA1', digits: '6', period: '30' });
    expect(setup.body.qrCode).toMatch(/^data:image\/png;base64,/);
    const wrong = await request(t.app).post('/api/auth/totp/confirm').set(auth).send({ code: totp.generate(setup.body.secret, Date.now() - 10 * 60_000) });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.code).toBe('totp-invalid');
    const ok = await request(t.app).post('/api/auth/totp/confirm').set(auth).send({ code: totp.generate(setup.body.secret) });
    expect(ok.status).toBe(200);
    expect(new Set(ok.body.recoveryCodes).size).toBe(10);
    for (const c of ok.body.recoveryCodes) expect(c).toMatch(/^([A-Z2-9]{5}-){4}[A-Z2-9]{5}$/);
    // Turning 2FA on ends the other sessions (someone may have been in without the second factor).
    expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${other}`)).status).toBe(401);
    const [row] = await t.database.db.select().from(users).where(eq(users.id, u.id));
    expect(row!.totpSecretEnc).toMatch(/^v1\./);
    expect(row!.totpSecretEnc).not.toContain(setup.body.secret);
    expect((await request(t.app).get('/api/auth/me').set(auth)).body.user.twoFactorEnabled).toBe(true);
    expect(await auditRows(t, { action: 'auth.2fa.enable', actorUserId: u.id })).toHaveLength(1);
    expect((await request(t.app).post('/api/auth/totp/setup').set(auth).send({ password: u.password })).status).toBe(409);
  });

  it('when 2FA is on, then sign-in needs a code; a wrong or replayed code is refused; the next code works', async () => {
    const { u, setup } = await withTwoFactor();
    const login = (extra: object) => request(t.app).post('/api/auth/token').send({ email: u.email, password: u.password, ...extra });
    const none = await login({});
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('totp-required');
    expect((await login({ totpCode: '000000' })).body.error.code).toBe('totp-invalid');
    // The code of the next 30-second step (clock drift is tolerated one step either way).
    const next = totp.generate(setup.secret, Date.now() + 30_000);
    expect((await login({ totpCode: next })).status).toBe(200);
    const replay = await login({ totpCode: next });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('totp-invalid');
  });

  it('when a recovery code is used, then it signs in once and is audited; used again it fails', async () => {
    const { u, recoveryCodes } = await withTwoFactor();
    const login = (recoveryCode: string) => request(t.app).post('/api/auth/login').send({ email: u.email, password: u.password, recoveryCode });
    expect((await login(recoveryCodes[3]!.toLowerCase())).status).toBe(200);
    expect((await login(recoveryCodes[3]!)).status).toBe(401);
    expect(await auditRows(t, { action: 'auth.2fa.recovery-used', actorUserId: u.id })).toHaveLength(1);
  });

  it('when 2FA is turned off, then it needs the password and a code; afterwards sign-in needs no code', async () => {
    const { u, auth, recoveryCodes } = await withTwoFactor();
    const bad = await request(t.app).post('/api/auth/totp/disable').set(auth).send({ password: 'not the password!!', code: recoveryCodes[0] });
    expect(bad.status).toBe(400);
    expect((await request(t.app).post('/api/auth/totp/disable').set(auth).send({ password: u.password, code: recoveryCodes[1] })).status).toBe(204);
    expect((await request(t.app).post('/api/auth/token').send({ email: u.email, password: u.password })).status).toBe(200);
    expect(await auditRows(t, { action: 'auth.2fa.disable', actorUserId: u.id })).toHaveLength(1);
  });

  it('when REQUIRE_ADMIN_2FA is on, then an admin without 2FA reaches only 2FA setup until it is on; members are unaffected', async () => {
    const strict = await createTestApp({ REQUIRE_ADMIN_2FA: 'true', CREDENTIAL_RATE_LIMIT_MAX: '10000' }, { database: t.database });
    try {
      const admin = await createUser(strict, { role: 'admin' });
      const member = await createUser(strict);
      const tokenOf = async (x: { email: string; password: string }) => ({ Authorization: `Bearer ${(await request(strict.app).post('/api/auth/token').send({ email: x.email, password: x.password })).body.access_token}` });
      const a = await tokenOf(admin);
      const blocked = await request(strict.app).get('/api/auth/sessions').set(a);
      expect(blocked.status).toBe(403);
      expect(blocked.body.error.code).toBe('two-factor-required');
      expect((await request(strict.app).get('/api/keys').set(a)).status).toBe(403);
      expect((await request(strict.app).get('/api/auth/me').set(a)).status).toBe(200);
      expect((await request(strict.app).get('/api/auth/sessions').set(await tokenOf(member))).status).toBe(200);
      const setup = (await request(strict.app).post('/api/auth/totp/setup').set(a).send({ password: admin.password })).body;
      expect((await request(strict.app).post('/api/auth/totp/confirm').set(a).send({ code: totp.generate(setup.secret) })).status).toBe(200);
      expect((await request(strict.app).get('/api/auth/sessions').set(a)).status).toBe(200);
    } finally {
      await strict.close();
    }
  });
});
