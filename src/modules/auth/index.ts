import type { Config } from '../../config';
import type { Db } from '../../platform/db/client';
import type { Logger } from '../../platform/logger';
import type { RedisClient } from '../../platform/redis';
import type { ApiDocs } from '../../platform/openapi';
import { AuditService } from '../../platform/audit/audit.service';
import { csrfSecretFrom } from '../../platform/http/csrf';
import { AuthRepository } from './auth.repository';
import { AuthService } from './auth.service';
import { PasswordHasher } from './auth.passwords';
import { AccessTokens } from './auth.tokens';
import { LoginThrottle } from './auth.throttle';
import { createAuthenticator } from './auth.middleware';
import { authRoutes } from './auth.routes';
import { SecretBox } from '../../platform/crypto';
import { Mailer } from '../../platform/mail';

export type { Principal, PublicUser } from './auth.service';
export { apiKeyFrom } from './auth.middleware';
export { passwordProblems } from './auth.passwords';
export { ensureVisible } from './auth.ownership';
export { API_KEY_SCOPES, type ApiKeyScope, apiKeys, users } from './auth.schema';

export interface AuthModuleDeps {
  config: Config;
  db: Db;
  redis?: RedisClient;
  logger: Logger;
  audit: AuditService;
}

/** Builds the auth module: its service, its routes and the middleware other modules use. */
export function createAuthModule(deps: AuthModuleDeps) {
  const { config } = deps;
  const tokens = new AccessTokens(config.secrets.jwtSecret, config.publicUrl, config.secrets.jwtPreviousSecret);
  const service = new AuthService(
    new AuthRepository(deps.db),
    new PasswordHasher(config.bcryptCost),
    tokens,
    deps.audit,
    new LoginThrottle(config.redisPrefix, deps.redis),
    { ...config.auth, publicUrl: config.publicUrl, admin: config.admin },
    deps.logger,
    new SecretBox(config.secrets.encryptionKey),
    new Mailer(config.mail.smtpUrl, config.mail.from, deps.logger),
  );
  const middleware = createAuthenticator(service, config.publicUrl);
  return {
    service,
    ...middleware,
    /** The auth routes (the access guards are installed on the docs by app.ts). */
    routes: (docs: ApiDocs) =>
      authRoutes(docs, {
        service,
        csrfSecret: csrfSecretFrom(config.secrets.jwtSecret),
        sessionMaxAgeMs: config.auth.sessionMaxAgeMs,
        publicUrl: config.publicUrl,
        credentialLimit: { windowMs: 15 * 60_000, limit: config.limits.credentialRateLimitMax, redis: deps.redis, redisPrefix: config.redisPrefix },
      }),
  };
}

export type AuthModule = ReturnType<typeof createAuthModule>;
