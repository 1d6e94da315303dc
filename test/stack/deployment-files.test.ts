import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { projectRoot } from '../../src/platform/paths';
import { requireStack } from '../support/stack';

const root = projectRoot();

describe('deployment files on the real tools', () => {
  const stack = requireStack();

  it('when nginx -t reads the rendered config, then it is valid on this nginx', () => {
    const res = spawnSync('nginx', ['-t', '-c', stack.nginxConf], { encoding: 'utf8' });
    expect(res.stderr).toContain('syntax is ok');
    expect(res.status).toBe(0);
  });

  it('when the rendered nginx config is compared with the repo file, then only ports, paths, user and the upstream differ', () => {
    const repo = fs.readFileSync(path.join(root, 'nginx', 'nginx.conf'), 'utf8').split('\n');
    const rendered = fs.readFileSync(stack.nginxConf, 'utf8').split('\n');
    expect(rendered).toHaveLength(repo.length);
    const allowed = /^\s*(user\b|pid\b|error_log\b|access_log\b|listen\b|server\s+[\d.]+:\d+|ssl_certificate(_key)?\b|root\b|include\b|(client_body|proxy|fastcgi|uwsgi|scgi)_temp_path\b|return\s+30[18]\b)/;
    // Comments may mention the templated values too; only directives count.
    const changed = repo.map((line, i) => [line, rendered[i]!] as const).filter(([a, b]) => a !== b && !/^\s*#/.test(a));
    expect(changed.length).toBeGreaterThan(0);
    for (const [, b] of changed) expect(b).toMatch(allowed);
  });

  it("when Debian's docker-compose validates docker-compose.yml offline, then it is accepted", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-compose-'));
    for (const f of ['docker-compose.yml', '.env.example']) fs.copyFileSync(path.join(root, f), path.join(dir, f));
    for (const d of ['nginx', 'pgbouncer']) fs.cpSync(path.join(root, d), path.join(dir, d), { recursive: true });
    fs.copyFileSync(path.join(root, '.env.example'), path.join(dir, '.env'));
    fs.appendFileSync(path.join(dir, '.env'), `\nPOSTGRES_PASSWORD=${crypto.randomBytes(8).toString('hex')}\n`);
    const res = spawnSync('docker-compose', ['config', '-q'], { cwd: dir, encoding: 'utf8' });
    expect(res.stderr.replace(/^.*(WARN|warning).*$/gim, '').trim()).toBe('');
    expect(res.status).toBe(0);
    const profiles = spawnSync('docker-compose', ['--profile', 'ollama', '--profile', 'backup', 'config', '--services'], { cwd: dir, encoding: 'utf8' });
    expect(profiles.status).toBe(0);
    expect(profiles.stdout.split('\n').filter(Boolean).sort()).toEqual(expect.arrayContaining(['app', 'backup', 'migrate', 'nginx', 'ollama', 'pgbouncer', 'postgres', 'redis']));
  });

  it('when the certificate step runs, then it creates a key pair once and never replaces a mounted certificate', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-cert-'));
    const run = () => execFileSync('sh', [path.join(root, 'nginx', 'gen-cert.sh')], { env: { ...process.env, CERT_DIR: dir }, encoding: 'utf8' });
    run();
    const crt = path.join(dir, 'tls.crt');
    const first = fs.readFileSync(crt, 'utf8');
    expect(first).toContain('BEGIN CERTIFICATE');
    expect(fs.statSync(path.join(dir, 'tls.key')).mode & 0o077).toBe(0);
    run();
    expect(fs.readFileSync(crt, 'utf8')).toBe(first);
    const x509 = new crypto.X509Certificate(first);
    expect(x509.subjectAltName).toContain('IP Address:127.0.0.1');
  });

  it('when the one-shot migrate step runs against the direct connection, then it succeeds, and a second run finds nothing left to apply', () => {
    const cli = path.join(root, 'dist', 'src', 'cli', 'index.js');
    const migrate = () => execFileSync(process.execPath, [cli, 'migrate'], {
      cwd: os.tmpdir(),
      env: { PATH: process.env.PATH, NODE_ENV: 'production', LOG_LEVEL: 'error', DATABASE_URL: stack.databaseUrl, MIGRATION_DATABASE_URL: stack.migrationDatabaseUrl, JWT_SECRET: 'x'.repeat(40), ENCRYPTION_KEY: 'ef'.repeat(32) },
      encoding: 'utf8',
    });
    expect(migrate()).toMatch(/^migrations applied: \d+$/m);
    expect(migrate()).toContain('migrations applied: 0');
  });

  it('when the configuration is wrong, then the app refuses to start and names every bad variable', () => {
    const res = spawnSync(process.execPath, [path.join(root, 'dist', 'src', 'main.js')], {
      cwd: os.tmpdir(),
      env: { PATH: process.env.PATH, PORT: 'abc', DATABASE_URL: 'nonsense', REDIS_URL: 'http://nope' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('Invalid configuration');
    for (const v of ['PORT', 'DATABASE_URL', 'REDIS_URL']) expect(res.stderr).toContain(`- ${v}:`);
  });
});
