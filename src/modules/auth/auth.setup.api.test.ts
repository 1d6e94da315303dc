import request from 'supertest';
import { captureLogger, createTestApp, unique } from '../../../test/support/test-app';
import { auditRows, cookieHeader, isolatedDatabase, STRONG_PASSWORD } from '../../../test/support/auth';

/** First run: each test gets a database of its own, since "no admin exists yet" is global state. */
describe('first admin', () => {
  it('when no admin exists and ADMIN_EMAIL is unset, then the log shows a one-time setup link that creates the admin once', async () => {
    const { logger } = captureLogger();
    const iso = await isolatedDatabase(logger);
    const t = await createTestApp({}, { database: iso.database });
    try {
      expect((await request(t.app).get('/api/auth/setup')).body).toEqual({ setupRequired: true });
      await t.auth.service.bootstrap();
      const line = t.logs.find((l) => l.message === 'auth.setup.link');
      const link = new URL(String(line?.setupLink));
      const token = link.searchParams.get('token')!;
      expect(link.pathname).toBe('/setup');
      expect(token.length).toBeGreaterThanOrEqual(43);

      const guess = await request(t.app).post('/api/auth/setup').send({ token: 'x'.repeat(43), email: `${unique('eve')}@example.com`, name: 'Eve', password: STRONG_PASSWORD });
      expect(guess.status).toBe(403);
      expect(guess.body.error.code).toBe('setup-token-invalid');

      const email = `${unique('root')}@example.com`;
      const done = await request(t.app).post('/api/auth/setup').send({ token, email, name: 'Root', password: STRONG_PASSWORD });
      expect(done.status).toBe(201);
      expect(done.body.user).toMatchObject({ email, role: 'admin' });
      const me = await request(t.app).get('/api/auth/me').set('Cookie', cookieHeader(done));
      expect(me.body.user.role).toBe('admin');

      const again = await request(t.app).post('/api/auth/setup').send({ token, email: `${unique('late')}@example.com`, name: 'Late', password: STRONG_PASSWORD });
      expect(again.status).toBe(409);
      expect((await request(t.app).get('/api/auth/setup')).body).toEqual({ setupRequired: false });
      expect(await auditRows(t, { action: 'user.create' })).toEqual([expect.objectContaining({ metadata: { via: 'setup-link', role: 'admin' } })]);
      // Nothing more is printed once an admin exists.
      expect(await t.auth.service.bootstrap()).toEqual({});
    } finally {
      await t.close();
      await iso.drop();
    }
  });

  it('when ADMIN_EMAIL and ADMIN_PASSWORD are set, then the first start creates that admin, who can sign in', async () => {
    const { logger } = captureLogger();
    const iso = await isolatedDatabase(logger);
    const email = `${unique('boot')}@example.com`;
    const t = await createTestApp({ ADMIN_EMAIL: email, ADMIN_PASSWORD: STRONG_PASSWORD }, { database: iso.database });
    try {
      const { created } = await t.auth.service.bootstrap();
      expect(created).toMatchObject({ email, role: 'admin' });
      expect(t.logs.some((l) => l.message === 'auth.setup.link')).toBe(false);
      const res = await request(t.app).post('/api/auth/token').send({ email, password: STRONG_PASSWORD });
      expect(res.status).toBe(200);
      expect(await t.auth.service.bootstrap()).toEqual({});
    } finally {
      await t.close();
      await iso.drop();
    }
  });
});
