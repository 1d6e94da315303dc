import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '.';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-config-'));

function problemsOf(env: Record<string, string>): Record<string, string> {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return Object.fromEntries(err.problems.map((p) => [p.variable, p.message]));
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('when nothing is configured, then the embedded defaults apply and secrets are generated once under DATA_DIR', () => {
    const dataDir = tmp();
    const a = loadConfig({ DATA_DIR: dataDir });
    expect(a).toMatchObject({ port: 3000, env: 'development', db: { url: undefined, poolMax: 5, runMigrations: true }, redisUrl: undefined, trustProxy: 0, bcryptCost: 12 });
    expect(a.llm.provider).toBe('extractive');
    expect(a.embedding).toMatchObject({ provider: 'local', dimensions: 384 });
    expect(a.secrets.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(a.secrets.encryptionKey).toHaveLength(32);
    const file = path.join(dataDir, 'secrets.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const b = loadConfig({ DATA_DIR: dataDir });
    expect(b.secrets.jwtSecret).toBe(a.secrets.jwtSecret);
    expect(b.secrets.encryptionKey.equals(a.secrets.encryptionKey)).toBe(true);
  });

  it('when several variables are wrong, then one error names every one of them and why', () => {
    const problems = problemsOf({ PORT: 'abc', DATABASE_URL: 'nonsense', LOG_LEVEL: 'loud', BCRYPT_COST: '4', CORS_ORIGINS: 'not a url', TRUST_PROXY: 'yes please', DATA_DIR: tmp() });
    expect(Object.keys(problems).sort()).toEqual(['BCRYPT_COST', 'CORS_ORIGINS', 'DATABASE_URL', 'LOG_LEVEL', 'PORT', 'TRUST_PROXY']);
    expect(problems.PORT).toMatch(/integer between 1 and 65535.*"abc"/);
    expect(problems.DATABASE_URL).toMatch(/PostgreSQL URL/);
    expect(problems.BCRYPT_COST).toMatch(/at least 10/);
    // A URL can hold a password: its value is never echoed.
    expect(problems.DATABASE_URL).not.toContain('nonsense');
    expect(() => loadConfig({ PORT: 'abc', DATABASE_URL: 'nonsense' })).toThrow(/^Invalid configuration:\n {2}- PORT: .*\n {2}- DATABASE_URL: /);
  });

  it('when a value is malformed and a production secret is missing, then both are named in the same message', () => {
    const problems = problemsOf({ PORT: 'abc', NODE_ENV: 'production', ENCRYPTION_KEY: 'ab'.repeat(32), DATA_DIR: tmp() });
    expect(Object.keys(problems).sort()).toEqual(['JWT_SECRET', 'PORT']);
  });

  it('when NODE_ENV=production lacks secrets, then it refuses instead of generating them', () => {
    const dataDir = tmp();
    const problems = problemsOf({ NODE_ENV: 'production', DATA_DIR: dataDir });
    expect(Object.keys(problems).sort()).toEqual(['ENCRYPTION_KEY', 'JWT_SECRET']);
    expect(fs.existsSync(path.join(dataDir, 'secrets.json'))).toBe(false);
    const ok = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40), ENCRYPTION_KEY: 'ab'.repeat(32), DATA_DIR: dataDir });
    expect(ok.secrets.generatedIn).toBeUndefined();
    expect(ok.secrets.encryptionKey.toString('hex')).toBe('ab'.repeat(32));
  });

  it('when related variables come without their partner, then the missing one is named', () => {
    const problems = problemsOf({ ADMIN_EMAIL: 'admin@example.com', LLM_PROVIDER: 'openai', MIGRATION_DATABASE_URL: 'postgres://a@b/c', DATA_DIR: tmp() });
    expect(Object.keys(problems).sort()).toEqual(['ADMIN_PASSWORD', 'LLM_MODEL', 'MIGRATION_DATABASE_URL']);
  });

  it('when values are given, then they are parsed into typed settings', () => {
    const c = loadConfig({
      PORT: '8080',
      DATABASE_URL: 'postgres://u:p@pgbouncer:6432/hearth',
      MIGRATION_DATABASE_URL: 'postgres://u:p@postgres:5432/hearth',
      REDIS_URL: 'redis://redis:6379',
      CORS_ORIGINS: 'https://a.example.com, https://b.example.com',
      TRUST_PROXY: '1',
      RUN_MIGRATIONS: 'false',
      UPLOAD_MAX_MB: '20',
      DATA_DIR: tmp(),
    });
    expect(c).toMatchObject({
      port: 8080,
      db: { url: 'postgres://u:p@pgbouncer:6432/hearth', migrationUrl: 'postgres://u:p@postgres:5432/hearth', runMigrations: false },
      redisUrl: 'redis://redis:6379',
      corsOrigins: ['https://a.example.com', 'https://b.example.com'],
      trustProxy: 1,
      limits: { uploadMaxBytes: 20 * 1024 * 1024 },
    });
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@db/h', DATA_DIR: tmp() }).db.migrationUrl).toBe('postgres://u:p@db/h');
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8', DATA_DIR: tmp() }).trustProxy).toBe('loopback, 10.0.0.0/8');
  });
});
