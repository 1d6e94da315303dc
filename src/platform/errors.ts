/**
 * One error family for the whole app. Services throw these; only the HTTP error handler turns
 * them into responses, so codes stay stable (kebab-case) and messages stay human.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends AppError {
  constructor(message = 'The request is not valid.', details?: unknown) {
    super(400, 'validation-failed', message, details);
  }
}

export class BadRequestError extends AppError {
  constructor(code: string, message: string, details?: unknown) {
    super(400, code, message, details);
  }
}

export class UnauthorizedError extends AppError {
  constructor(code = 'unauthenticated', message = 'Sign in to continue.') {
    super(401, code, message);
  }
}

export class ForbiddenError extends AppError {
  constructor(code = 'forbidden', message = 'You are not allowed to do this.') {
    super(403, code, message);
  }
}

export class NotFoundError extends AppError {
  constructor(code = 'not-found', message = 'Not found.') {
    super(404, code, message);
  }
}

export class ConflictError extends AppError {
  constructor(code: string, message: string, details?: unknown) {
    super(409, code, message, details);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(limitBytes?: number) {
    super(413, 'payload-too-large', limitBytes ? `The request body is larger than the limit of ${formatBytes(limitBytes)}.` : 'The request body is too large.', limitBytes ? { limitBytes } : undefined);
  }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor(message = 'This content type is not supported.') {
    super(415, 'unsupported-media-type', message);
  }
}

export class TooManyRequestsError extends AppError {
  constructor(code: string, message: string, retryAfterSeconds: number, details?: unknown) {
    super(429, code, message, details, { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) });
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(code: string, message: string, retryAfterSeconds?: number) {
    super(503, code, message, undefined, retryAfterSeconds ? { 'Retry-After': String(retryAfterSeconds) } : undefined);
  }
}

export class InternalError extends AppError {
  constructor(message = 'Something went wrong on our side. The error has been logged.') {
    super(500, 'internal-error', message);
  }
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${Math.round((n / 1024 / 1024) * 10) / 10} MB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KB`;
  return `${n} bytes`;
}

interface HttpishError {
  status?: number;
  statusCode?: number;
  type?: string;
  code?: string;
  expose?: boolean;
  limit?: number;
  message?: string;
}

/**
 * Maps anything thrown (AppError, body-parser's http-errors, zod, plain Errors) to an AppError.
 * Unknown errors become a 500 whose message reveals nothing.
 */
export function normaliseError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = (err ?? {}) as HttpishError;
  const status = e.status ?? e.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    switch (e.type) {
      case 'entity.too.large':
        return new PayloadTooLargeError(e.limit);
      case 'entity.parse.failed':
        return new BadRequestError('invalid-json', 'The request body is not valid JSON.');
      case 'encoding.unsupported':
      case 'charset.unsupported':
        return new UnsupportedMediaTypeError(e.message);
      case 'request.aborted':
        return new BadRequestError('request-aborted', 'The request was aborted by the client.');
      default:
        if (e.code === 'EBADCSRFTOKEN' || /csrf/i.test(e.message ?? '')) return new ForbiddenError('csrf-invalid', 'The CSRF token is missing or wrong. Fetch /api/auth/csrf and retry.');
        return new AppError(status, status === 404 ? 'not-found' : 'bad-request', e.expose !== false && e.message ? e.message : 'The request could not be processed.');
    }
  }
  return new InternalError();
}
