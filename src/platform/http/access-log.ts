import type { RequestHandler } from 'express';
import type { Logger } from '../logger';
import { routeLabel } from '../observability/metrics';

/** One line per request: method, route template, status, duration. Never bodies or query strings. */
export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    res.once('close', () => {
      logger.http('http.request', {
        // Explicit: 'close' of an aborted request fires outside the request's async context.
        requestId: req.id,
        method: req.method,
        path: req.path,
        route: routeLabel(req, res.statusCode),
        status: res.statusCode,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        ip: req.ip,
        aborted: !res.writableFinished,
      });
    });
    next();
  };
}
