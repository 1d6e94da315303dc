import type { ErrorRequestHandler, RequestHandler } from 'express';
import * as Sentry from '@sentry/node';
import { AppError, NotFoundError, normaliseError } from '../errors';
import type { Logger } from '../logger';

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
  requestId: string;
}

export function errorBody(err: AppError, requestId: string): ErrorBody {
  const body: ErrorBody = { error: { code: err.code, message: err.message }, requestId };
  // 5xx details could reveal internals; 4xx details are for the caller (e.g. which field is wrong).
  if (err.details !== undefined && err.status < 500) body.error.details = err.details;
  return body;
}

export function notFound(): RequestHandler {
  return (req, _res, next) => next(new NotFoundError('route-not-found', `No route for ${req.method} ${req.path}.`));
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const appErr = normaliseError(err);
    if (appErr.status >= 500) {
      logger.error('http.error', { code: appErr.code, status: appErr.status, method: req.method, path: req.path, error: err instanceof Error ? err : String(err) });
      Sentry.captureException(err);
    } else {
      logger.info('http.client-error', { code: appErr.code, status: appErr.status, method: req.method, path: req.path });
    }
    if (res.headersSent) {
      // A stream already started: the best we can do is end it; the stream owner records why.
      res.end();
      return;
    }
    for (const [k, v] of Object.entries(appErr.headers ?? {})) res.setHeader(k, v);
    res.status(appErr.status).json(errorBody(appErr, req.id));
  };
}
