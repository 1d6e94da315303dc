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

/** OpenAI's error object: `type` by status, our stable code as `code`, and the offending field as `param` when known. */
export function openAiErrorBody(err: AppError): { error: { message: string; type: string; param: string | null; code: string } } {
  const type = err.status === 401 ? 'authentication_error' : err.status === 403 ? 'permission_error' : err.status === 404 ? 'not_found_error' : err.status === 429 ? 'rate_limit_error' : err.status >= 500 ? 'api_error' : 'invalid_request_error';
  const details = err.details as { param?: string } | { field: string }[] | undefined;
  const param = Array.isArray(details) ? (details[0]?.field?.replace(/^(body|query|params)\./, '') ?? null) : (details?.param ?? null);
  return { error: { message: err.message, type, param, code: err.code } };
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
    // The OpenAI-compatible API answers in OpenAI's error shape, so that its SDKs raise the right errors.
    if (req.originalUrl.startsWith('/v1/')) {
      res.status(appErr.status).json(openAiErrorBody(appErr));
      return;
    }
    res.status(appErr.status).json(errorBody(appErr, req.id));
  };
}
