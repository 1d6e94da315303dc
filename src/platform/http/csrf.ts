import crypto from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import lusca from 'lusca';
import { ForbiddenError } from '../errors';

/**
 * lusca keeps its CSRF secret in req.session by default; Hearth has no server-side web session.
 * This impl derives the token from the authenticated session id with an HMAC, so any process can
 * check it without a store and a token dies with its session.
 */
/** A key of its own, derived from the JWT secret, so CSRF tokens never double as anything else. */
export function csrfSecretFrom(jwtSecret: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', jwtSecret, Buffer.alloc(0), 'hearth-csrf-v1', 32));
}

export function csrfTokenFor(secret: Buffer | string, sessionId: string): string {
  return crypto.createHmac('sha256', secret).update(`csrf:${sessionId}`).digest('base64url');
}

export interface CsrfOptions {
  secret: Buffer | string;
  /** The session id of a cookie-authenticated request; undefined for bearer/API-key/anonymous requests. */
  cookieSessionId: (req: Request) => string | undefined;
  /** Requests that need no token even with cookies (e.g. sign-in and refresh, see the auth module). */
  exempt?: (req: Request) => boolean;
}

export function csrfProtection(opts: CsrfOptions): RequestHandler {
  const impl = {
    create: (req: Request) => {
      const sessionId = opts.cookieSessionId(req) ?? '';
      const token = csrfTokenFor(opts.secret, sessionId);
      return {
        secret: sessionId,
        token,
        validate: (_req: Request, candidate: unknown) => {
          if (typeof candidate !== 'string' || candidate.length !== token.length) return false;
          return crypto.timingSafeEqual(Buffer.from(candidate), Buffer.from(token));
        },
      };
    },
  };
  const check = lusca.csrf({ impl, header: 'x-csrf-token' } as unknown as Parameters<typeof lusca.csrf>[0]);
  return (req, res, next) => {
    // Bearer and API-key callers cannot be driven by another site's form, so they need no token.
    if (opts.exempt?.(req) || !opts.cookieSessionId(req)) return next();
    check(req, res, (err?: unknown) => {
      if (err) return next(new ForbiddenError('csrf-invalid', 'The CSRF token is missing or wrong. Fetch /api/auth/csrf and send it as X-CSRF-Token.'));
      next();
    });
  };
}
