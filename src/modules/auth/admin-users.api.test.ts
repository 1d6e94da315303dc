import request from 'supertest';
import { isolatedDatabase } from '../../../test/support/auth';
import { captureLogger, createTestApp, unique, type TestApp } from '../../../test/support/test-app';
import { auditRows, createUser, STRONG_PASSWORD } from '../../../test/support/auth';

describe('user administration (no SMTP: links are handed to the admin)', () => {
  let t: TestApp;
  let admin: Awaited<ReturnType<typeof createUser>>;
  let adminAuth: { Authorization: string };
  beforeAll(async () => {
    t = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000' });
    admin = await createUser(t, { role: 'admin' });
    adminAuth = { Authorization: `Bearer ${(await request(t.app).post('/api/auth/token').send({ email: admin.email, password: admin.password })).body.access_token}` };
  });
  afterAll(() => t.close());

  const tokenFor = async (email: string, password = STRONG_PASSWORD) => (await request(t.app).post('/api/auth/token').send({ email, password })).body as { access_token: string; refresh_token: string };

  it('when an admin creates and finds users, then the search treats % and _ as text, and the new user signs in', async () => {
    const tag = unique('find');
    const created = await request(t.app).post('/api/admin/users').set(adminAuth).send({ email: `${tag}@example.com`, name: `${tag} 100% real_name`, password: STRONG_PASSWORD });
    expect(created.status).toBe(201);
    expect(created.body.user).toMatchObject({ role: 'member', emailVerified: true });
    await request(t.app).post('/api/admin/users').set(adminAuth).send({ email: `${tag}-other@example.com`, name: `${tag} 100 percent realxname`, password: STRONG_PASSWORD });
    // As patterns, '100%' and 'real_name' would match both names; as text only the first.
    for (const search of [`${tag} 100%`, `${tag} 100% real_name`]) {
      const found = await request(t.app).get('/api/admin/users').set(adminAuth).query({ search });
      expect(found.body.users.map((u: { email: string }) => u.email)).toEqual([`${tag}@example.com`]);
    }
    expect((await request(t.app).get('/api/admin/users').set(adminAuth).query({ search: tag, limit: 1 })).body).toMatchObject({ total: 2, users: [expect.any(Object)] });
    expect((await tokenFor(`${tag}@example.com`)).access_token).toEqual(expect.any(String));
    expect(await auditRows(t, { action: 'user.create', targetId: created.body.user.id })).toEqual([expect.objectContaining({ actor_user_id: admin.id })]);
  });

  it('when an admin disables a user, then every token and API key of theirs stops at once; enabling lets them sign in again', async () => {
    const u = await createUser(t);
    const tok = await tokenFor(u.email, u.password);
    const key = (await request(t.app).post('/api/keys').set('Authorization', `Bearer ${tok.access_token}`).send({ name: 'k', scopes: ['chat'] })).body.secret;
    const off = await request(t.app).patch(`/api/admin/users/${u.id}`).set(adminAuth).send({ status: 'disabled' });
    expect(off.body.user.status).toBe('disabled');
    expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${tok.access_token}`)).status).toBe(401);
    expect((await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${key}`)).status).toBe(401);
    expect((await request(t.app).post('/api/auth/refresh').send({ refresh_token: tok.refresh_token })).status).toBe(401);
    await request(t.app).patch(`/api/admin/users/${u.id}`).set(adminAuth).send({ status: 'active' });
    expect((await tokenFor(u.email, u.password)).access_token).toEqual(expect.any(String));
    expect((await auditRows(t, { targetId: u.id })).map((r) => r.action)).toEqual(expect.arrayContaining(['user.disable', 'user.enable']));
  });

  it('when an admin changes a role, then it is audited with before and after; renaming works with quotes', async () => {
    const u = await createUser(t);
    const res = await request(t.app).patch(`/api/admin/users/${u.id}`).set(adminAuth).send({ role: 'admin', name: "D'Arcy" });
    expect(res.body.user).toMatchObject({ role: 'admin', name: "D'Arcy" });
    const [row] = await auditRows(t, { action: 'user.role-change', targetId: u.id });
    expect(row!.metadata).toEqual({ from: 'member', to: 'admin' });
    const empty = await request(t.app).patch(`/api/admin/users/${u.id}`).set(adminAuth).send({});
    expect(empty.status).toBe(400);
  });

  it('when an admin invites without SMTP, then the link comes back to the admin and works once', async () => {
    const email = `${unique('handed')}@example.com`;
    const res = await request(t.app).post('/api/admin/invites').set(adminAuth).send({ email });
    expect(res.body).toMatchObject({ emailed: false, role: 'member' });
    const token = new URL(res.body.link).searchParams.get('token')!;
    const accepted = await request(t.app).post('/api/auth/invites/accept').send({ token, name: 'Handed', password: STRONG_PASSWORD });
    expect(accepted.body.user).toMatchObject({ email, name: 'Handed', emailVerified: false });
    expect((await request(t.app).post('/api/admin/invites').set(adminAuth).send({ email })).status).toBe(409);
  });

  it('when an admin starts a password reset without SMTP, then the admin gets the link and it sets a new password', async () => {
    const u = await createUser(t);
    const res = await request(t.app).post(`/api/admin/users/${u.id}/password-reset`).set(adminAuth);
    expect(res.body.emailed).toBe(false);
    const token = new URL(res.body.link).searchParams.get('token')!;
    expect((await request(t.app).post('/api/auth/password/reset').send({ token, password: 'the admin-led new passphrase' })).status).toBe(204);
    expect((await tokenFor(u.email, 'the admin-led new passphrase')).access_token).toEqual(expect.any(String));
  });

  it('when an admin deletes a user, then they are gone and it is audited; an unknown id answers 404', async () => {
    const u = await createUser(t);
    expect((await request(t.app).delete(`/api/admin/users/${u.id}`).set(adminAuth)).status).toBe(204);
    expect((await request(t.app).delete(`/api/admin/users/${u.id}`).set(adminAuth)).status).toBe(404);
    expect((await request(t.app).post('/api/auth/token').send({ email: u.email, password: u.password })).status).toBe(401);
    expect(await auditRows(t, { action: 'user.delete', targetId: u.id })).toHaveLength(1);
  });

  it('when the last active admin would be demoted, disabled or deleted, then it is refused; nobody disables or deletes themselves', async () => {
    const { logger } = captureLogger();
    const iso = await isolatedDatabase(logger);
    const solo = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000' }, { database: iso.database });
    try {
      const only = await createUser(solo, { role: 'admin' });
      const auth = { Authorization: `Bearer ${(await request(solo.app).post('/api/auth/token').send({ email: only.email, password: only.password })).body.access_token}` };
      expect((await request(solo.app).patch(`/api/admin/users/${only.id}`).set(auth).send({ role: 'member' })).body.error.code).toBe('last-admin');
      expect((await request(solo.app).patch(`/api/admin/users/${only.id}`).set(auth).send({ status: 'disabled' })).body.error.code).toBe('cannot-disable-self');
      expect((await request(solo.app).delete(`/api/admin/users/${only.id}`).set(auth)).body.error.code).toBe('cannot-delete-self');
      const second = await createUser(solo, { role: 'admin' });
      const secondAuth = { Authorization: `Bearer ${(await request(solo.app).post('/api/auth/token').send({ email: second.email, password: second.password })).body.access_token}` };
      // Two admins demote each other at the same moment: one of them must stay an admin.
      const [a, b] = await Promise.all([
        request(solo.app).patch(`/api/admin/users/${second.id}`).set(auth).send({ role: 'member' }),
        request(solo.app).patch(`/api/admin/users/${only.id}`).set(secondAuth).send({ role: 'member' }),
      ]);
      expect([a.status, b.status].sort()).toEqual([200, expect.any(Number)]);
      expect([a.status, b.status].filter((x) => x === 200)).toHaveLength(1);
      const admins = (await request(solo.app).get('/api/admin/users').set(a.status === 200 ? auth : secondAuth)).body.users.filter((u: { role: string }) => u.role === 'admin');
      expect(admins).toHaveLength(1);
    } finally {
      await solo.close();
      await iso.drop();
    }
  });
});
