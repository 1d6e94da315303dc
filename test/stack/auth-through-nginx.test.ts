import fs from 'node:fs';
import { PasswordHasher } from '../../src/modules/auth/auth.passwords';
import { AuthRepository } from '../../src/modules/auth/auth.repository';
import { createDatabase, type Database } from '../../src/platform/db/client';
import { captureLogger, unique } from '../support/test-app';
import { requireStack, startApp, type AppProcess } from '../support/stack';
import { rawRequest } from '../support/http';

/** A browser's sign-in as it really travels: TLS at nginx, X-Forwarded-Proto, PgBouncer, Redis. */
describe('browser sign-in through nginx', () => {
  const stack = requireStack();
  const ca = fs.readFileSync(stack.caFile);
  let app: AppProcess;
  let database: Database;
  const email = `${unique('browser')}@example.com`;
  const password = 'a long and unusual passphrase 9';

  beforeAll(async () => {
    database = await createDatabase({ url: stack.databaseUrl, poolMax: 1, statementTimeoutMs: 30_000, pgliteDataDir: 'memory://', logger: captureLogger().logger });
    app = await startApp(stack, stack.appPort);
    await new AuthRepository(database.db).insertUser({ email, name: 'Browser User', role: 'member', passwordHash: await new PasswordHasher(10).hash(password), emailVerified: true });
  });
  afterAll(async () => {
    await app?.stop();
    await database?.close();
  });

  it('when a browser signs in over HTTPS, then it gets Secure __Host- cookies, and a cookie write needs the CSRF token it can fetch', async () => {
    const headers = { 'Content-Type': 'application/json', Origin: stack.httpsUrl };
    const login = await rawRequest(`${stack.httpsUrl}/api/auth/login`, { ca, method: 'POST', headers, body: JSON.stringify({ email, password }) });
    expect(login.status).toBe(200);
    const setCookies = login.headers['set-cookie'] ?? [];
    expect(setCookies.map((c) => c.split('=')[0]).sort()).toEqual(['__Host-hearth_at', '__Host-hearth_rt']);
    for (const c of setCookies) expect(c).toMatch(/; Secure/);
    const cookie = setCookies.map((c) => c.split(';')[0]).join('; ');

    const me = await rawRequest(`${stack.httpsUrl}/api/auth/me`, { ca, headers: { Cookie: cookie } });
    expect(JSON.parse(me.body).user.email).toBe(email);

    const refused = await rawRequest(`${stack.httpsUrl}/api/auth/logout`, { ca, method: 'POST', headers: { ...headers, Cookie: cookie } });
    expect(refused.status).toBe(403);
    const { csrfToken } = JSON.parse((await rawRequest(`${stack.httpsUrl}/api/auth/csrf`, { ca, headers: { Cookie: cookie } })).body) as { csrfToken: string };
    const out = await rawRequest(`${stack.httpsUrl}/api/auth/logout`, { ca, method: 'POST', headers: { ...headers, Cookie: cookie, 'X-CSRF-Token': csrfToken } });
    expect(out.status).toBe(204);
    expect((await rawRequest(`${stack.httpsUrl}/api/auth/me`, { ca, headers: { Cookie: cookie } })).status).toBe(401);
  });
});
