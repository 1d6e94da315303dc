import express, { type Express, type Request } from 'express';
import type { Config } from './config';
import type { Logger } from './platform/logger';
import type { Database } from './platform/db/client';
import type { RedisClient } from './platform/redis';
import { requestId } from './platform/http/request-id';
import { accessLog } from './platform/http/access-log';
import { corsAllowlist, securityHeaders } from './platform/http/security';
import { createRateLimiter, limitAlongside } from './platform/http/rate-limit';
import { csrfProtection, csrfSecretFrom } from './platform/http/csrf';
import { errorHandler, notFound } from './platform/http/error-handler';
import { webUi } from './platform/http/static';
import { diagnosticsRoutes } from './platform/http/diagnostics.routes';
import { createMetrics, metricsEndpoint, metricsTimer, type Metrics } from './platform/observability/metrics';
import { healthRoutes } from './platform/health/health.routes';
import { ApiDocs } from './platform/openapi';
import { packageVersion, webDistFolder } from './platform/paths';
import { z } from './platform/zod';
import cookieParser from 'cookie-parser';
import { AuditService } from './platform/audit/audit.service';
import { createAuthModule, type AuthModule } from './modules/auth';
import { createKnowledgeBaseModule, type KnowledgeBaseModule } from './modules/knowledge-base';
import { createChatModule, type ChatModule } from './modules/agent-chat';
import { createJobQueue } from './platform/jobs/queue';

export interface Lifecycle {
  /** Aborted when the process starts shutting down; long-lived streams listen to it. */
  signal: AbortSignal;
}

export interface AppDeps {
  config: Config;
  logger: Logger;
  database: Database;
  redis?: RedisClient;
  metrics?: Metrics;
  lifecycle?: Lifecycle;
  /** Folder of the built web UI; defaults to dist/web. */
  webRoot?: string;
  /**
   * Overrides how the session of a cookie-authenticated request is found (tests of the CSRF
   * wiring); by default the auth module decides. CSRF applies to those requests only.
   */
  cookieSessionId?: (req: Request) => string | undefined;
}

export interface BuiltApp {
  app: Express;
  docs: ApiDocs;
  metrics: Metrics;
  audit: AuditService;
  auth: AuthModule;
  knowledgeBases: KnowledgeBaseModule;
  chat: ChatModule;
  /** Starts background work (the job queue and this process's workers). */
  start(): Promise<void>;
  /** Stops it: workers give their jobs back; call before closing the database. */
  stop(): Promise<void>;
}

export function buildApp(deps: AppDeps): BuiltApp {
  const { config, logger } = deps;
  const metrics = deps.metrics ?? createMetrics();
  const lifecycle = deps.lifecycle ?? { signal: new AbortController().signal };
  const docs = new ApiDocs();
  const app = express();
  const audit = new AuditService(deps.database.db, logger);
  const auth = createAuthModule({ config, db: deps.database.db, redis: deps.redis, logger, audit });
  docs.guards = { member: auth.requireAuth, admin: auth.requireRole('admin') };

  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.set('json replacer', (_key: string, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));

  // Order matters: the request id must exist before anything logs.
  app.use(requestId());
  app.use(accessLog(logger));
  app.use(metricsTimer(metrics));
  app.use(securityHeaders());

  // The chat module is built further down; readiness reports its providers' circuits once it exists.
  let providerStates: () => Record<string, unknown> = () => ({});
  app.use(healthRoutes(docs, { database: deps.database, redis: deps.redis, shuttingDown: () => lifecycle.signal.aborted, informational: () => ({ providers: providerStates() }) }));

  const metricsApi = docs.router();
  metricsApi.route(
    {
      method: 'get',
      access: 'public',
      path: '/metrics',
      summary: 'Prometheus metrics (bearer METRICS_TOKEN; off when unset)',
      tags: ['health'],
      security: ['metricsToken'],
      responses: { 200: { description: 'Prometheus text format', schema: z.string(), contentType: 'text/plain' } },
    },
    metricsEndpoint(metrics, config.metricsToken),
  );
  app.use(metricsApi.router);

  // The modules, each from its own factory (their routers are mounted below).
  const queue = createJobQueue(deps.database, logger);
  const knowledgeBases = createKnowledgeBaseModule({ config, database: deps.database, audit, logger, queue, signal: lifecycle.signal });
  const chat = createChatModule({ config, db: deps.database.db, audit, logger, knowledgeBases: knowledgeBases.service, signal: lifecycle.signal });
  providerStates = chat.providerStates;

  const apiLimiter = createRateLimiter({
    name: 'api',
    windowMs: config.limits.rateLimitWindowMs,
    limit: config.limits.rateLimitMax,
    redis: deps.redis,
    redisPrefix: config.redisPrefix,
  });
  // Cross-origin rules concern the API; health probes and static files do not need them.
  app.use(['/api', '/v1'], corsAllowlist(config.corsOrigins, config.publicUrl));
  // Body, cookies and credentials are read while the client's request is counted, unless the
  // client is near its limit (limitAlongside); an API key's lookup starts before the body is read.
  app.use(['/api', '/v1'], limitAlongside(apiLimiter, [auth.lookAhead, express.json({ limit: config.limits.jsonBodyBytes }), cookieParser(), chat.openAiPrefetch, auth.authenticate]));
  app.use(['/api', '/v1'], csrfProtection({ secret: csrfSecretFrom(config.secrets.jwtSecret), cookieSessionId: deps.cookieSessionId ?? auth.cookieSessionId, exempt: auth.csrfExempt }));

  const docsApi = docs.router();
  docsApi.route(
    {
      method: 'get',
      access: 'public',
      path: '/api/openapi.json',
      summary: 'This OpenAPI 3.1 document',
      tags: ['meta'],
      responses: { 200: { description: 'OpenAPI document', schema: z.record(z.string(), z.unknown()) } },
    },
    (_req, res) => {
      res.type('application/json').send(docs.documentJson({ version: packageVersion(), serverUrl: config.publicUrl }));
    },
  );
  app.use(docsApi.router);

  if (config.diagnosticsRoutes) app.use(diagnosticsRoutes(docs));

  // Programs call /v1 most, and every router mounted before it is walked route by route.
  app.use(chat.openAiRoutes(docs));
  app.use(auth.routes(docs));
  app.use(knowledgeBases.routes(docs));
  app.use(chat.routes(docs));

  app.use(webUi(deps.webRoot ?? webDistFolder()));
  app.use(notFound());
  app.use(errorHandler(logger));

  return {
    app,
    docs,
    metrics,
    audit,
    auth,
    knowledgeBases,
    chat,
    start: async () => {
      await queue.start();
      await knowledgeBases.start();
      await chat.start();
    },
    stop: async () => {
      await chat.stop();
      await knowledgeBases.stop();
      await queue.stop();
    },
  };
}
