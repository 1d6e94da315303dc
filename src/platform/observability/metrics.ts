import crypto from 'node:crypto';
import type { RequestHandler } from 'express';
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { NotFoundError, UnauthorizedError } from '../errors';

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'hearth_' });
  const httpDuration = new Histogram({
    name: 'hearth_http_request_duration_seconds',
    help: 'HTTP request duration by route template and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return { registry, httpDuration };
}

/** Route templates only (never raw paths, which would explode label cardinality). */
export function routeLabel(req: { route?: { path?: unknown }; baseUrl?: string }, statusCode: number): string {
  const path = req.route?.path;
  if (typeof path === 'string') return `${req.baseUrl ?? ''}${path}`;
  return statusCode === 404 ? 'unmatched' : 'other';
}

export function metricsTimer(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const end = metrics.httpDuration.startTimer();
    res.once('finish', () => end({ method: req.method, route: routeLabel(req, res.statusCode), status_code: String(res.statusCode) }));
    next();
  };
}

export function metricsEndpoint(metrics: Metrics, token: string | undefined): RequestHandler {
  const expected = token ? crypto.createHash('sha256').update(token).digest() : undefined;
  return async (req, res, next) => {
    if (!expected) return next(new NotFoundError('metrics-disabled', 'Metrics are off. Set METRICS_TOKEN to turn them on.'));
    const given = /^Bearer (.+)$/i.exec(req.get('authorization') ?? '')?.[1] ?? '';
    const givenHash = crypto.createHash('sha256').update(given).digest();
    if (!crypto.timingSafeEqual(expected, givenHash)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
      return next(new UnauthorizedError('metrics-unauthorized', 'A valid METRICS_TOKEN bearer token is required.'));
    }
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  };
}
