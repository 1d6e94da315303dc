import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { createDatabase } from '../platform/db/client';
import { projectRoot } from '../platform/paths';
import { captureLogger, createTestApp } from '../../test/support/test-app';
import { auditRows } from '../../test/support/auth';

const cli = (args: string[], env: Record<string, string>, input?: string) =>
  spawnSync(process.execPath, [path.join(projectRoot(), 'node_modules', 'tsx', 'dist', 'cli.mjs'), path.join(projectRoot(), 'src', 'cli', 'index.ts'), ...args], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'error', BCRYPT_COST: '10', ...env },
    input,
    encoding: 'utf8',
    timeout: 60_000,
  });

describe('hearth CLI', () => {
  it('when an admin is created and a password reset from the command line, then that admin signs in with the new password through the API', async () => {
    // The embedded database of its own, as a fresh `npm start` would have.
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-cli-'));
    const env = { DATA_DIR: dataDir };
    const created = cli(['admin', 'create', '--email', 'Ops@Example.com', '--name', "Ops O'Neil", '--password-stdin'], env, 'a sturdy first passphrase 1\n');
    expect(created.stderr).toBe('');
    expect(created.stdout).toMatch(/^created admin Ops@Example.com \(/);
    const weak = cli(['admin', 'create', '--email', 'x@example.com', '--password-stdin'], env, 'short\n');
    expect(weak.status).toBe(1);
    expect(weak.stderr).toContain('must be at least 12 characters');
    const taken = cli(['admin', 'create', '--email', 'ops@example.com', '--password-stdin'], env, 'another sturdy passphrase 2\n');
    expect(taken.stderr).toContain('already exists');
    const reset = cli(['admin', 'reset-password', '--email', 'ops@example.com', '--password-stdin'], env, 'a sturdy second passphrase 3\n');
    expect(reset.stdout).toContain('password reset for ops@example.com');

    const { logger } = captureLogger();
    const database = await createDatabase({ poolMax: 1, statementTimeoutMs: 30_000, pgliteDataDir: path.join(dataDir, 'pglite'), logger });
    const t = await createTestApp({ REDIS_URL: '' }, { database });
    try {
      expect((await request(t.app).post('/api/auth/token').send({ email: 'ops@example.com', password: 'a sturdy first passphrase 1' })).status).toBe(401);
      const ok = await request(t.app).post('/api/auth/token').send({ email: 'ops@example.com', password: 'a sturdy second passphrase 3' });
      expect(ok.status).toBe(200);
      const me = await request(t.app).get('/api/auth/me').set('Authorization', `Bearer ${ok.body.access_token}`);
      expect(me.body.user).toMatchObject({ role: 'admin', name: "Ops O'Neil" });
      expect((await auditRows(t, { action: 'user.create' }))[0]).toMatchObject({ actor_user_id: null, metadata: { role: 'admin', via: 'cli' } });
      expect(await auditRows(t, { action: 'auth.password.reset' })).toHaveLength(1);
    } finally {
      await t.close();
      await database.close();
    }
  });
});
