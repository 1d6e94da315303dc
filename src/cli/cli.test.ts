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
  }, 120_000);

  it('when a folder is imported twice, then every supported file becomes a searchable entry, and the second run only adds what changed', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-cli-kb-'));
    const env = { DATA_DIR: dataDir };
    expect(cli(['admin', 'create', '--email', 'librarian@example.com', '--password-stdin'], env, 'a sturdy librarian passphrase 9\n').status).toBe(0);
    const { logger } = captureLogger();
    const inApp = async <T>(fn: (t: Awaited<ReturnType<typeof createTestApp>>, auth: { Authorization: string }) => Promise<T>): Promise<T> => {
      const database = await createDatabase({ poolMax: 1, statementTimeoutMs: 30_000, pgliteDataDir: path.join(dataDir, 'pglite'), logger });
      const t = await createTestApp({ REDIS_URL: '', INGEST_WORKERS: '0' }, { database });
      try {
        const tok = (await request(t.app).post('/api/auth/token').send({ email: 'librarian@example.com', password: 'a sturdy librarian passphrase 9' })).body.access_token;
        return await fn(t, { Authorization: `Bearer ${tok}` });
      } finally {
        await t.close();
        await database.close();
      }
    };
    const kbId = await inApp(async (t, auth) => (await request(t.app).post('/api/knowledge-bases').set(auth).send({ name: 'Handbook' })).body.knowledgeBase.id as string);

    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-import-'));
    fs.mkdirSync(path.join(folder, 'policies'));
    fs.writeFileSync(path.join(folder, 'onboarding.md'), '# Onboarding\n\nNew hires get a laptop and a badge on day one.');
    fs.writeFileSync(path.join(folder, 'policies', 'travel.txt'), 'Trains are preferred over planes for trips under four hours.');
    fs.writeFileSync(path.join(folder, 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    const first = cli(['kb', 'import', 'Handbook', folder, '--as', 'librarian@example.com'], env);
    expect(first.status).toBe(0);
    expect(first.stdout).toContain(`imported into ${kbId}: 2 new, 0 updated, 0 unchanged, 1 skipped (not a supported type), 0 refused; indexing: 2 done, 0 failed`);
    // The progress bar goes to stderr, the report to stdout.
    expect(first.stderr).toMatch(/files +\[.*\] 2\/2/);
    expect(first.stderr).toMatch(/indexing \[.*\] 2\/2/);

    fs.writeFileSync(path.join(folder, 'onboarding.md'), '# Onboarding\n\nNew hires get a laptop, a badge and a mentor on day one.');
    fs.writeFileSync(path.join(folder, 'policies', 'tool.pdf'), Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(64)]));
    const second = cli(['kb', 'import', kbId, folder, '--as', 'librarian@example.com'], env);
    expect(second.status).toBe(1);
    expect(second.stdout).toContain('0 new, 1 updated, 1 unchanged, 1 skipped (not a supported type), 1 refused; indexing: 1 done, 0 failed');
    expect(second.stdout).toMatch(/refused policies\/tool\.pdf: .*\(unsupported-file-type\)/);

    await inApp(async (t, auth) => {
      const list = await request(t.app).get(`/api/knowledge-bases/${kbId}/entries`).set(auth);
      expect(list.body.entries.map((e: { title: string; currentRevision: number }) => [e.title, e.currentRevision]).sort()).toEqual([
        ['onboarding.md', 2],
        ['policies/travel.txt', 1],
      ]);
      const hits = (await request(t.app).get(`/api/knowledge-bases/${kbId}/search`).query({ q: 'who gets a mentor' }).set(auth)).body.hits;
      expect(hits[0]).toMatchObject({ entryTitle: 'onboarding.md', revisionNumber: 2 });
    });
    const unknown = cli(['kb', 'import', 'No such base', folder, '--as', 'librarian@example.com'], env);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('hearth: No knowledge base "No such base" that this account can see.');
    // Five command-line processes, each starting TypeScript and the embedded database.
  }, 180_000);
});
