import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { projectRoot } from '../../src/platform/paths';
import { envSchema } from '../../src/config/config.schema';

const root = projectRoot();
const compose = YAML.parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, { ports?: unknown[]; healthcheck?: unknown; restart?: string; profiles?: string[]; depends_on?: Record<string, { condition: string }>; stop_grace_period?: string; image?: string; build?: unknown; environment?: Record<string, string> | string[]; command?: unknown }>;
  volumes?: Record<string, unknown>;
};

const seconds = (v: string): number => {
  const m = /^(\d+)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new Error(`cannot read duration ${v}`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : n;
};

describe('docker-compose.yml', () => {
  const services = compose.services;
  const oneShot = (name: string) => services[name]!.restart === 'no' || name === 'migrate';

  it('when deployed, then nginx is the only service that publishes ports', () => {
    const publishing = Object.entries(services).filter(([, s]) => s.ports && s.ports.length > 0).map(([n]) => n);
    expect(publishing).toEqual(['nginx']);
    expect(services.nginx!.ports!.map(String).join(' ')).toMatch(/:80\b.*:443\b|:443\b.*:80\b/);
  });

  it('when a service runs for long, then it has a healthcheck; one-shot steps do not', () => {
    for (const [name, s] of Object.entries(services)) if (!oneShot(name)) expect([name, Boolean(s.healthcheck)]).toEqual([name, true]);
  });

  it('when the app starts, then the migrate step has completed and its dependencies are healthy', () => {
    expect(services.app!.depends_on).toMatchObject({ migrate: { condition: 'service_completed_successfully' }, pgbouncer: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    expect(services.migrate!.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' } });
    expect(JSON.stringify(services.migrate!.command)).toContain('migrate');
  });

  it('when the app is stopped, then Compose waits longer than SHUTDOWN_TIMEOUT_MS; PM2 too', () => {
    const shutdownSeconds = Number((envSchema.shape.SHUTDOWN_TIMEOUT_MS.parse(undefined) as number) / 1000);
    expect(seconds(services.app!.stop_grace_period!)).toBeGreaterThan(shutdownSeconds);
    const pm2 = require(path.join(root, 'ecosystem.config.js')) as { apps: { kill_timeout: number; exec_mode: string; max_memory_restart: string }[] };
    expect(pm2.apps[0]!.kill_timeout).toBeGreaterThan(shutdownSeconds * 1000);
    expect(pm2.apps[0]!.exec_mode).toBe('cluster');
    expect(pm2.apps[0]!.max_memory_restart).toBe('512M');
  });

  it('when images are named, then each is pinned to a version (no latest), and Postgres is pgvector on PG 17', () => {
    for (const [name, s] of Object.entries(services)) {
      // Images built from this repo are pinned by their Dockerfile's FROM lines (checked below).
      if (!s.image || s.build) continue;
      expect([name, s.image]).toEqual([name, expect.stringMatching(/:[^:]*\d[^:]*$/)]);
      expect(s.image).not.toMatch(/:latest$/);
    }
    expect(services.postgres!.image).toMatch(/^pgvector\/pgvector:.*pg17/);
    const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    const args = Object.fromEntries([...dockerfile.matchAll(/^ARG\s+(\w+)=(\S+)/gm)].map((m) => [m[1]!, m[2]!]));
    const stages = new Set([...dockerfile.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]!));
    const bases = [...dockerfile.matchAll(/^FROM\s+(\S+)/gim)].map((m) => m[1]!.replace(/\$\{(\w+)\}/g, (_, n: string) => args[n] ?? '')).filter((b) => !stages.has(b));
    expect(bases.length).toBeGreaterThan(0);
    for (const b of bases) expect(b).toMatch(/^[\w./-]+:\d[\w.-]*$/);
    expect(dockerfile).toMatch(/^USER\s+(?!root)\S+/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK\b/m);
  });

  it('when the app connects, then it goes through PgBouncer and migrates over the direct connection', () => {
    const env = JSON.stringify(services.app!.environment);
    expect(env).toMatch(/DATABASE_URL[^,]*@pgbouncer:6432/);
    expect(env).toMatch(/MIGRATION_DATABASE_URL[^,]*@postgres:5432/);
    expect(env).toContain('TRUST_PROXY');
  });

  it('when profiles are used, then ollama and backup exist and stay off by default', () => {
    expect(services.ollama!.profiles).toContain('ollama');
    expect(services.backup!.profiles).toContain('backup');
  });

  it("when nginx's body limit is compared with the app's upload limit, then nginx lets a full upload through", () => {
    const nginx = fs.readFileSync(path.join(root, 'nginx', 'nginx.conf'), 'utf8');
    const mb = Number(/client_max_body_size\s+(\d+)m;/.exec(nginx)?.[1]);
    const uploadMb = envSchema.shape.UPLOAD_MAX_MB.parse(undefined) as number;
    expect(mb).toBe(uploadMb + 1);
  });
});

describe('pgbouncer.ini', () => {
  const ini = fs.readFileSync(path.join(root, 'pgbouncer', 'pgbouncer.ini'), 'utf8');
  const setting = (k: string) => new RegExp(`^\\s*${k}\\s*=\\s*(.+?)\\s*$`, 'm').exec(ini)?.[1];

  it('when read, then it pools by transaction with the sizes DESIGN.md names and SCRAM auth', () => {
    expect(setting('pool_mode')).toBe('transaction');
    expect(setting('max_client_conn')).toBe('1000');
    expect(setting('default_pool_size')).toBe('25');
    expect(setting('reserve_pool_size')).toBe('5');
    expect(setting('auth_type')).toBe('scram-sha-256');
  });

  it('when checked for settings newer than PgBouncer 1.18, then there are none', () => {
    expect(ini).not.toMatch(/^\s*max_prepared_statements/m);
  });
});
