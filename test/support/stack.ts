import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../src/platform/paths';

/**
 * The test stack started by `scripts/test-stack.sh up` (its `env` command prints these variables).
 * A stack test never returns early: without the stack it fails, naming what is missing.
 */
export interface Stack {
  databaseUrl: string;
  migrationDatabaseUrl: string;
  redisUrl: string;
  httpsUrl: string;
  httpUrl: string;
  appPort: number;
  caFile: string;
  dir: string;
  nginxConf: string;
  nginxAccessLog: string;
  script: string;
}

export function requireStack(): Stack {
  const names = ['TEST_DATABASE_URL', 'TEST_MIGRATION_DATABASE_URL', 'REDIS_URL', 'HEARTH_STACK_URL', 'HEARTH_STACK_HTTP_URL', 'HEARTH_STACK_APP_PORT', 'HEARTH_STACK_CA', 'HEARTH_STACK_DIR', 'HEARTH_STACK_NGINX_CONF', 'HEARTH_STACK_NGINX_LOG', 'HEARTH_STACK_SCRIPT'];
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length > 0) {
    throw new Error(`The test stack is not up (missing ${missing.join(', ')}). Run: bash scripts/test-stack.sh up && eval "$(bash scripts/test-stack.sh env)"`);
  }
  const e = process.env as Record<string, string>;
  return {
    databaseUrl: e.TEST_DATABASE_URL!,
    migrationDatabaseUrl: e.TEST_MIGRATION_DATABASE_URL!,
    redisUrl: e.REDIS_URL!,
    httpsUrl: e.HEARTH_STACK_URL!,
    httpUrl: e.HEARTH_STACK_HTTP_URL!,
    appPort: Number(e.HEARTH_STACK_APP_PORT),
    caFile: e.HEARTH_STACK_CA!,
    dir: e.HEARTH_STACK_DIR!,
    nginxConf: e.HEARTH_STACK_NGINX_CONF!,
    nginxAccessLog: e.HEARTH_STACK_NGINX_LOG!,
    script: e.HEARTH_STACK_SCRIPT!,
  };
}

export interface AppProcess {
  proc: ChildProcess;
  port: number;
  baseUrl: string;
  /** Parsed JSON log lines the process has written so far. */
  logs: Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts the built app (`node dist/src/main.js`, as production does) wired to the stack.
 * Needs `npm run build` first; says so instead of starting something else.
 */
export async function startApp(stack: Stack, port: number, env: Record<string, string> = {}): Promise<AppProcess> {
  const main = path.join(projectRoot(), 'dist', 'src', 'main.js');
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: run npm run build before the stack tests`);
  const dataDir = fs.mkdtempSync(path.join(stack.dir, 'app-'));
  const proc = spawn(process.execPath, [main], {
    cwd: dataDir, // no stray .env is picked up from the repo
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'http',
      DATA_DIR: dataDir,
      DATABASE_URL: stack.databaseUrl,
      MIGRATION_DATABASE_URL: stack.migrationDatabaseUrl,
      REDIS_URL: stack.redisUrl,
      TRUST_PROXY: '1',
      JWT_SECRET: 'stack-test-jwt-secret-0123456789-abcdefghij',
      ENCRYPTION_KEY: 'cd'.repeat(32),
      BCRYPT_COST: '10',
      DIAGNOSTICS_ROUTES: 'true',
      SHUTDOWN_TIMEOUT_MS: '10000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let buffered = '';
  let stderr = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ raw: line });
      }
    }
  });
  proc.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const baseUrl = `http://127.0.0.1:${port}`;
  const app: AppProcess = {
    proc,
    port,
    baseUrl,
    logs,
    stderr: () => stderr,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`app exited with ${proc.exitCode} during start: ${stderr}\n${JSON.stringify(logs.slice(-5))}`);
    try {
      const res = await fetch(`${baseUrl}/health/ready`);
      if (res.status === 200) return app;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await app.stop('SIGKILL');
      throw new Error(`app on port ${port} did not become ready in 30 s: ${stderr}\n${JSON.stringify(logs.slice(-5))}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
