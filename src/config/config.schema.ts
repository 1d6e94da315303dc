import ipaddr from 'ipaddr.js';
import { z } from 'zod';

/**
 * Every environment variable Hearth reads, in one place. `.env.example` mirrors this list
 * (src/config/env-example.test.ts keeps the two in sync), so keep `describe` texts short:
 * they are the documentation.
 */

const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

const bool = (def: boolean) =>
  z.preprocess(
    emptyToUndefined,
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
      .default(def ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  );

const int = (def: number, min: number, max: number) =>
  z.preprocess(
    emptyToUndefined,
    z
      .string()
      .default(String(def))
      .pipe(
        z
          .string()
          .regex(/^\d+$/, { message: `expected an integer between ${min} and ${max}` })
          .transform(Number)
          .pipe(z.number().int().min(min, { message: `must be at least ${min}` }).max(max, { message: `must be at most ${max}` })),
      ),
  );

const optionalString = (min = 1) => z.preprocess(emptyToUndefined, z.string().min(min, { message: `must be at least ${min} characters` }).optional());

const url = (protocols: string[], what: string) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a ${what} URL (${protocols.map((p) => `${p}//`).join(' or ')}…)` },
  );

const optionalUrl = (protocols: string[], what: string) => z.preprocess(emptyToUndefined, url(protocols, what).optional());

const postgresUrl = () => optionalUrl(['postgres:', 'postgresql:'], 'PostgreSQL');

// TRUST_PROXY is either a hop count (Compose sets 1 for nginx) or Express' named/CIDR list.
const trustProxy = z.preprocess(
  emptyToUndefined,
  z
    .string()
    .default('0')
    .refine((v) => /^\d+$/.test(v) || /^(loopback|linklocal|uniquelocal|[0-9a-fA-F.:/]+)(\s*,\s*(loopback|linklocal|uniquelocal|[0-9a-fA-F.:/]+))*$/.test(v), {
      message: 'expected a number of proxy hops (e.g. 1) or a list of trusted addresses/subnets',
    })
    .transform((v): number | string => (/^\d+$/.test(v) ? Number(v) : v)),
);

const list = z.preprocess(
  emptyToUndefined,
  z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .refine(
      (origins) =>
        origins.every((o) => {
          try {
            const u = new URL(o);
            return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === o.replace(/\/$/, '');
          } catch {
            return false;
          }
        }),
      { message: 'expected a comma-separated list of origins such as https://chat.example.com' },
    ),
);

/** PostgreSQL's built-in text search configurations (15 to 17). */
export const FULL_TEXT_LANGUAGES = ['simple', 'arabic', 'armenian', 'basque', 'catalan', 'danish', 'dutch', 'english', 'finnish', 'french', 'german', 'greek', 'hindi', 'hungarian', 'indonesian', 'irish', 'italian', 'lithuanian', 'nepali', 'norwegian', 'portuguese', 'romanian', 'russian', 'serbian', 'spanish', 'swedish', 'tamil', 'turkish', 'yiddish'] as const;

export const envSchema = z.object({
  PORT: int(3000, 1, 65535).describe('HTTP port the app listens on'),
  HOST: z.preprocess(emptyToUndefined, z.string().default('0.0.0.0')).describe('Address the app binds to'),
  NODE_ENV: z.preprocess(emptyToUndefined, z.enum(['development', 'production', 'test']).default('development')).describe('development | production | test; production requires real secrets'),
  LOG_LEVEL: z.preprocess(emptyToUndefined, z.enum(['error', 'warn', 'info', 'http', 'debug']).default('info')).describe('error | warn | info | http | debug'),
  DATA_DIR: z.preprocess(emptyToUndefined, z.string().default('./data')).describe('Where the embedded database and generated secrets live'),
  DATABASE_URL: postgresUrl().describe('PostgreSQL URL (through PgBouncer in production); unset = embedded PGlite under DATA_DIR'),
  MIGRATION_DATABASE_URL: postgresUrl().describe('Direct PostgreSQL URL for migrations (never PgBouncer); default DATABASE_URL'),
  DATABASE_POOL_MAX: int(5, 1, 100).describe('Connections in the app pool per process (keep small: PgBouncer pools)'),
  DATABASE_STATEMENT_TIMEOUT_MS: int(30000, 100, 3_600_000).describe('Statement timeout (ms) on direct connections; behind PgBouncer its connect_query sets it: keep them equal'),
  RUN_MIGRATIONS: bool(true).describe('Run pending migrations at start (Compose runs them in a one-shot step instead)'),
  REDIS_URL: optionalUrl(['redis:', 'rediss:'], 'Redis').describe('Redis URL for shared rate limits and caches; unset = in-memory, per process'),
  REDIS_PREFIX: z.preprocess(emptyToUndefined, z.string().regex(/^[A-Za-z0-9:_-]{1,64}$/, { message: 'letters, digits, : _ - only (max 64)' }).default('hearth:')).describe('Prefix of every Redis key, so several instances can share one Redis'),
  CORS_ORIGINS: list.describe('Comma-separated origins allowed to call the API from a browser; empty = same origin only'),
  TRUST_PROXY: trustProxy.describe('Proxy hops to trust for the client ip (0 = none; Compose sets 1 for nginx)'),
  BCRYPT_COST: int(12, 10, 15).describe('bcrypt work factor for passwords (10–15)'),
  PUBLIC_URL: optionalUrl(['http:', 'https:'], 'http(s)').describe('External URL of this instance, used in links; default http://localhost:PORT'),
  JWT_SECRET: optionalString(32).describe('Secret for signing access tokens (≥ 32 chars); required in production, generated under DATA_DIR otherwise'),
  JWT_PREVIOUS_SECRET: optionalString(32).describe('Previous JWT secret, still accepted during a rotation'),
  ENCRYPTION_KEY: z
    .preprocess(emptyToUndefined, z.string().regex(/^(?:[0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}=)$/, { message: 'must be 32 bytes as 64 hex characters or base64' }).optional())
    .describe('32-byte key (hex or base64) encrypting secrets at rest; required in production, generated otherwise'),
  SENTRY_DSN: optionalUrl(['http:', 'https:'], 'Sentry DSN').describe('Sentry DSN; unset = error reporting off'),
  METRICS_TOKEN: optionalString(16).describe('Bearer token guarding /metrics (≥ 16 chars); unset = /metrics off'),
  SHUTDOWN_TIMEOUT_MS: int(25000, 0, 600_000).describe('How long in-flight requests and streams may finish after SIGTERM'),
  ADMIN_EMAIL: z.preprocess(emptyToUndefined, z.email({ message: 'must be an email address' }).optional()).describe('First admin created on first start when no admin exists'),
  ADMIN_PASSWORD: optionalString(12).describe('Password of that first admin (≥ 12 chars)'),
  LLM_PROVIDER: z.preprocess(emptyToUndefined, z.enum(['extractive', 'openai', 'anthropic']).default('extractive')).describe('extractive (built in, no network) | openai (any OpenAI-compatible) | anthropic'),
  LLM_BASE_URL: optionalUrl(['http:', 'https:'], 'http(s)').describe('Base URL of the default LLM provider (e.g. http://ollama:11434/v1)'),
  LLM_API_KEY: optionalString().describe('API key of the default LLM provider'),
  LLM_MODEL: optionalString().describe('Model name of the default LLM provider'),
  LLM_FIRST_TOKEN_TIMEOUT_MS: int(30_000, 1_000, 600_000).describe('A model call with no first token by then fails with provider-timeout'),
  LLM_TIMEOUT_MS: int(300_000, 5_000, 3_600_000).describe('A model answer not finished by then is cut off with provider-timeout'),
  LLM_MAX_RETRIES: int(2, 0, 10).describe('Retries (with backoff) of a model call that failed before its first token'),
  USAGE_STALE_SECONDS: int(60, 2, 3600).describe("A process whose heartbeat is older than this is dead: its pending usage rows are finalised as interrupted"),
  USAGE_SWEEP_MS: int(30_000, 500, 600_000).describe('How often a process looks for pending usage rows of dead processes'),
  LLM_BREAKER_RESET_MS: int(30_000, 1_000, 600_000).describe('How long a provider circuit stays open after repeated failures before one trial call'),
  EMBEDDING_PROVIDER: z.preprocess(emptyToUndefined, z.enum(['local', 'openai']).default('local')).describe('local (built in feature hashing) | openai (any OpenAI-compatible /v1/embeddings)'),
  EMBEDDING_BASE_URL: optionalUrl(['http:', 'https:'], 'http(s)').describe('Base URL of the embedding provider'),
  EMBEDDING_API_KEY: optionalString().describe('API key of the embedding provider'),
  EMBEDDING_MODEL: optionalString().describe('Embedding model name'),
  EMBEDDING_DIMENSIONS: int(384, 16, 4000).describe('Embedding dimensions (local default 384; HNSW over 2000 uses halfvec)'),
  KB_LANGUAGE: z
    .preprocess(emptyToUndefined, z.enum(FULL_TEXT_LANGUAGES, { message: `expected one of PostgreSQL's text search configurations (${FULL_TEXT_LANGUAGES.slice(0, 6).join(', ')}…)` }).default('english'))
    .describe('Default full-text language of new knowledge bases (a PostgreSQL text search configuration)'),
  EMBEDDING_BATCH_SIZE: int(64, 1, 2048).describe('Texts per call to a remote embedding provider'),
  EMBEDDING_TIMEOUT_MS: int(30000, 1000, 600_000).describe('Timeout of one call to the embedding provider (retried up to 3 times)'),
  KB_EXACT_SCAN_MAX_CHUNKS: int(10000, 1, 10_000_000).describe('Knowledge bases with fewer chunks are searched by exact scan and kept out of the HNSW index (measured: bench/README.md)'),
  INGEST_WORKERS: int(2, 0, 16).describe('Ingestion jobs this process runs at once (0 = this process runs none)'),
  INGEST_THREADS: int(1, 0, 16).describe('Worker threads for chunking and the local embedder (0 = in the event loop)'),
  INGEST_MAX_ATTEMPTS: int(3, 1, 20).describe('Attempts of an ingestion job before its revision is marked failed'),
  INGEST_LEASE_SECONDS: int(60, 2, 3600).describe('A worker renews its hold on a job this often; a crashed worker\'s job is taken over after it lapses'),
  URL_IMPORT: bool(true).describe('Allow adding knowledge-base entries from a URL (public addresses only, see URL_IMPORT_ALLOW_CIDRS)'),
  URL_IMPORT_ALLOW_CIDRS: z
    .preprocess(emptyToUndefined, z.string().default(''))
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .refine((cidrs) => cidrs.every((c) => ipaddr.isValidCIDR(c) || ipaddr.isValid(c)), { message: 'expected a comma-separated list of addresses or CIDR ranges (10.1.2.0/24, fd00::/8)' })
    .describe('Private ranges URL imports may reach anyway, e.g. an intranet wiki (10.1.2.0/24,192.168.5.7); default none'),
  URL_IMPORT_TIMEOUT_MS: int(20000, 1000, 300_000).describe('Time limit of one URL import (all redirects included)'),
  UPLOAD_MAX_MB: int(20, 1, 500).describe('Largest upload in MB (raise nginx client_max_body_size, 21m, with it)'),
  JSON_BODY_LIMIT_KB: int(1024, 1, 10240).describe('Largest JSON request body in KB'),
  RATE_LIMIT_WINDOW_MS: int(60000, 1000, 3_600_000).describe('Window of the general API rate limit'),
  RATE_LIMIT_MAX: int(600, 1, 1_000_000).describe('Requests per ip per window on the API'),
  SMTP_URL: optionalUrl(['smtp:', 'smtps:'], 'SMTP').describe('SMTP server for invites, password resets and email verification (smtp[s]://user:pass@host:port); unset = admins share links by hand'),
  SMTP_FROM: z.preprocess(emptyToUndefined, z.string().default('Hearth <hearth@localhost>')).describe('From address of mail Hearth sends'),
  CREDENTIAL_RATE_LIMIT_MAX: int(50, 1, 100_000).describe('Requests per ip per 15 minutes to login, token, register and password endpoints'),
  SESSION_MAX_AGE_HOURS: int(168, 1, 8760).describe('Absolute lifetime of a sign-in session (hours), however active'),
  SESSION_IDLE_MINUTES: int(480, 5, 525_600).describe('A session unused this long (minutes) ends'),
  REQUIRE_ADMIN_2FA: bool(false).describe('Admins without two-factor authentication can reach only its setup until they turn it on'),
  ALLOW_SIGNUP: bool(false).describe('Let anyone create an account at /api/auth/register (off: admins create users or send invites)'),
  DIAGNOSTICS_ROUTES: bool(false).describe('Expose /api/diagnostics/* (slow and streaming probes for the stack tests); keep off in production'),
});

export type Env = z.infer<typeof envSchema>;
