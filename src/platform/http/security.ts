import type { RequestHandler } from 'express';
import helmet from 'helmet';
import cors from 'cors';
import { ForbiddenError } from '../errors';

/**
 * The UI loads nothing from other origins and runs no inline script, so an injected <script> or a
 * remote image in model output can neither run nor leak data.
 */
export const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:', 'blob:'],
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  frameAncestors: ["'none'"],
  formAction: ["'self'"],
  upgradeInsecureRequests: null,
};

export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: CONTENT_SECURITY_POLICY },
    // nginx sets HSTS on the TLS listener; the app sets it too so a direct TLS terminator gets it.
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
    referrerPolicy: { policy: 'no-referrer' },
    frameguard: { action: 'deny' },
    crossOriginEmbedderPolicy: false,
  });
}

export function corsAllowlist(origins: string[], publicUrl: string): RequestHandler {
  const allowed = new Set([...origins, new URL(publicUrl).origin].map((o) => o.replace(/\/$/, '')));
  const options = { credentials: true, methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], allowedHeaders: ['Content-Type', 'Authorization', 'X-CSRF-Token', 'X-Request-Id'], exposedHeaders: ['X-Request-Id', 'Retry-After', 'RateLimit', 'RateLimit-Policy'], maxAge: 600 };
  const withCors = cors({ ...options, origin: true });
  return (req, res, next) => {
    const origin = req.get('origin');
    // Non-browser clients send no Origin; browsers send it on same-origin writes too.
    if (!origin) return next();
    // req.host keeps the port (Express 5) and honours X-Forwarded-Host only from a trusted proxy.
    const own = `${req.protocol}://${req.host}`;
    if (origin === own) return next();
    if (!allowed.has(origin)) return next(new ForbiddenError('cors-origin-denied', `Origin ${origin} is not allowed. Add it to CORS_ORIGINS.`));
    return withCors(req, res, next);
  };
}
