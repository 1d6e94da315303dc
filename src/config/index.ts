import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { z } from 'zod';
import { envSchema, type Env } from './config.schema';

export { envSchema, FULL_TEXT_LANGUAGES } from './config.schema';

export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p.variable}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface Config {
  env: Env['NODE_ENV'];
  isProduction: boolean;
  port: number;
  host: string;
  logLevel: Env['LOG_LEVEL'];
  dataDir: string;
  publicUrl: string;
  db: {
    url?: string;
    migrationUrl?: string;
    poolMax: number;
    statementTimeoutMs: number;
    runMigrations: boolean;
  };
  redisUrl?: string;
  redisPrefix: string;
  corsOrigins: string[];
  trustProxy: number | string;
  bcryptCost: number;
  secrets: {
    jwtSecret: string;
    jwtPreviousSecret?: string;
    encryptionKey: Buffer;
    /** Where generated secrets were stored, when they were generated rather than configured. */
    generatedIn?: string;
  };
  sentryDsn?: string;
  metricsToken?: string;
  shutdownTimeoutMs: number;
  admin: { email?: string; password?: string };
  usage: { staleSeconds: number; sweepMs: number };
  llm: { provider: Env['LLM_PROVIDER']; baseUrl?: string; apiKey?: string; model?: string; firstTokenTimeoutMs: number; timeoutMs: number; maxRetries: number; breakerResetMs: number };
  embedding: { provider: Env['EMBEDDING_PROVIDER']; baseUrl?: string; apiKey?: string; model?: string; dimensions: number; batchSize: number; timeoutMs: number };
  ingest: { workers: number; threads: number; maxAttempts: number; leaseSeconds: number; exactScanMaxChunks: number };
  urlImport: { enabled: boolean; allowCidrs: string[]; timeoutMs: number };
  kbLanguage: Env['KB_LANGUAGE'];
  limits: { uploadMaxBytes: number; jsonBodyBytes: number; rateLimitWindowMs: number; rateLimitMax: number; credentialRateLimitMax: number };
  diagnosticsRoutes: boolean;
  mail: { smtpUrl?: string; from: string };
  auth: { sessionMaxAgeMs: number; sessionIdleMs: number; allowSignup: boolean; requireAdmin2fa: boolean };
}

function describeIssue(issue: z.core.$ZodIssue, raw: Record<string, string | undefined>): { variable: string; message: string } {
  const variable = String(issue.path[0] ?? '(environment)');
  const value = raw[variable];
  // Never echo secrets back into logs; a short value preview helps with typos in everything else.
  const secret = /SECRET|KEY|PASSWORD|TOKEN|DSN|URL/.test(variable);
  const shown = value === undefined ? '' : secret ? '' : ` (got "${value.length > 40 ? `${value.slice(0, 40)}…` : value}")`;
  return { variable, message: `${issue.message}${shown}` };
}

function decodeKey(value: string): Buffer {
  return /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
}

interface StoredSecrets {
  jwtSecret: string;
  encryptionKey: string;
}

/**
 * Outside production a missing secret is generated once and kept under DATA_DIR, so that
 * `npm start` works with no configuration and tokens survive restarts.
 */
function loadOrCreateSecrets(dataDir: string): { secrets: StoredSecrets; file: string } {
  const file = path.join(dataDir, 'secrets.json');
  if (fs.existsSync(file)) {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<StoredSecrets>;
    if (typeof parsed.jwtSecret === 'string' && typeof parsed.encryptionKey === 'string') return { secrets: parsed as StoredSecrets, file };
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const secrets: StoredSecrets = {
    jwtSecret: crypto.randomBytes(48).toString('base64url'),
    encryptionKey: crypto.randomBytes(32).toString('hex'),
  };
  // Written whole to a temporary file, then linked into place: link() fails if the file exists, so
  // of two processes racing here one wins and the other reads a complete file, never a partial one.
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  try {
    fs.linkSync(tmp, file);
    return { secrets, file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { secrets: JSON.parse(fs.readFileSync(file, 'utf8')) as StoredSecrets, file };
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

export function loadConfig(raw: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(raw);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => describeIssue(i, raw));
  // Rules across variables read the raw values, so one message names every problem at once.
  const v = (name: string) => raw[name]?.trim() || undefined;
  const named = (name: string) => problems.some((p) => p.variable === name);
  const add = (variable: string, message: string) => {
    if (!named(variable)) problems.push({ variable, message });
  };
  if (v('NODE_ENV') === 'production') {
    if (!v('JWT_SECRET')) add('JWT_SECRET', 'is required when NODE_ENV=production (e.g. openssl rand -base64 48)');
    if (!v('ENCRYPTION_KEY')) add('ENCRYPTION_KEY', 'is required when NODE_ENV=production (e.g. openssl rand -hex 32)');
  }
  if (v('ADMIN_EMAIL') && !v('ADMIN_PASSWORD')) add('ADMIN_PASSWORD', 'is required when ADMIN_EMAIL is set');
  if (v('ADMIN_PASSWORD') && !v('ADMIN_EMAIL')) add('ADMIN_EMAIL', 'is required when ADMIN_PASSWORD is set');
  if (v('MIGRATION_DATABASE_URL') && !v('DATABASE_URL')) add('MIGRATION_DATABASE_URL', 'only makes sense together with DATABASE_URL');
  const llm = v('LLM_PROVIDER');
  if (llm && llm !== 'extractive' && !v('LLM_MODEL')) add('LLM_MODEL', `is required when LLM_PROVIDER=${llm}`);
  if (v('EMBEDDING_PROVIDER') === 'openai' && !v('EMBEDDING_MODEL')) add('EMBEDDING_MODEL', 'is required when EMBEDDING_PROVIDER=openai');
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  const e = parsed.data;
  const isProduction = e.NODE_ENV === 'production';

  const dataDir = path.resolve(e.DATA_DIR);
  let jwtSecret = e.JWT_SECRET;
  let encryptionKey = e.ENCRYPTION_KEY;
  let generatedIn: string | undefined;
  if (!jwtSecret || !encryptionKey) {
    const stored = loadOrCreateSecrets(dataDir);
    jwtSecret ??= stored.secrets.jwtSecret;
    encryptionKey ??= stored.secrets.encryptionKey;
    generatedIn = stored.file;
  }

  return {
    env: e.NODE_ENV,
    isProduction,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    dataDir,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    db: {
      url: e.DATABASE_URL,
      migrationUrl: e.MIGRATION_DATABASE_URL ?? e.DATABASE_URL,
      poolMax: e.DATABASE_POOL_MAX,
      statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
      runMigrations: e.RUN_MIGRATIONS,
    },
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    corsOrigins: e.CORS_ORIGINS,
    trustProxy: e.TRUST_PROXY,
    bcryptCost: e.BCRYPT_COST,
    secrets: { jwtSecret, jwtPreviousSecret: e.JWT_PREVIOUS_SECRET, encryptionKey: decodeKey(encryptionKey), generatedIn },
    sentryDsn: e.SENTRY_DSN,
    metricsToken: e.METRICS_TOKEN,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    admin: { email: e.ADMIN_EMAIL, password: e.ADMIN_PASSWORD },
    usage: { staleSeconds: e.USAGE_STALE_SECONDS, sweepMs: e.USAGE_SWEEP_MS },
    llm: { provider: e.LLM_PROVIDER, baseUrl: e.LLM_BASE_URL, apiKey: e.LLM_API_KEY, model: e.LLM_MODEL, firstTokenTimeoutMs: e.LLM_FIRST_TOKEN_TIMEOUT_MS, timeoutMs: e.LLM_TIMEOUT_MS, maxRetries: e.LLM_MAX_RETRIES, breakerResetMs: e.LLM_BREAKER_RESET_MS },
    kbLanguage: e.KB_LANGUAGE,
    embedding: { provider: e.EMBEDDING_PROVIDER, baseUrl: e.EMBEDDING_BASE_URL, apiKey: e.EMBEDDING_API_KEY, model: e.EMBEDDING_MODEL, dimensions: e.EMBEDDING_DIMENSIONS, batchSize: e.EMBEDDING_BATCH_SIZE, timeoutMs: e.EMBEDDING_TIMEOUT_MS },
    ingest: { workers: e.INGEST_WORKERS, threads: e.INGEST_THREADS, maxAttempts: e.INGEST_MAX_ATTEMPTS, leaseSeconds: e.INGEST_LEASE_SECONDS, exactScanMaxChunks: e.KB_EXACT_SCAN_MAX_CHUNKS },
    urlImport: { enabled: e.URL_IMPORT, allowCidrs: e.URL_IMPORT_ALLOW_CIDRS, timeoutMs: e.URL_IMPORT_TIMEOUT_MS },
    limits: {
      uploadMaxBytes: e.UPLOAD_MAX_MB * 1024 * 1024,
      jsonBodyBytes: e.JSON_BODY_LIMIT_KB * 1024,
      rateLimitWindowMs: e.RATE_LIMIT_WINDOW_MS,
      rateLimitMax: e.RATE_LIMIT_MAX,
      credentialRateLimitMax: e.CREDENTIAL_RATE_LIMIT_MAX,
    },
    diagnosticsRoutes: e.DIAGNOSTICS_ROUTES,
    mail: { smtpUrl: e.SMTP_URL, from: e.SMTP_FROM },
    auth: { sessionMaxAgeMs: e.SESSION_MAX_AGE_HOURS * 3_600_000, sessionIdleMs: e.SESSION_IDLE_MINUTES * 60_000, allowSignup: e.ALLOW_SIGNUP, requireAdmin2fa: e.REQUIRE_ADMIN_2FA },
  };
}
