import type { Request, RequestHandler } from 'express';
import passport from 'passport';
import { Strategy as JwtStrategy } from 'passport-jwt';
import { ForbiddenError, UnauthorizedError } from '../../platform/errors';
import { setContextUserId } from '../../platform/request-context';
import { looksLikeApiKey, type AuthService, type Principal } from './auth.service';
import type { RouteDef } from '../../platform/openapi';
import { AccessTokens, InvalidTokenError } from './auth.tokens';

export type AuthVia = 'cookie' | 'bearer' | 'api-key';

/** How long an API key's early lookup (lookAhead) stands for its request. */
const EARLY_LOOKUP_FRESH_MS = 1000;

const TWO_FACTOR_SETUP_ROUTES = new Set(['/api/auth/totp/setup', '/api/auth/totp/confirm', '/api/auth/me', '/api/auth/logout', '/api/auth/csrf']);
const CSRF_EXEMPT = new Set(['/api/auth/login', '/api/auth/token', '/api/auth/refresh', '/api/auth/setup', '/api/auth/register', '/api/auth/invites/accept', '/api/auth/password/forgot', '/api/auth/password/reset', '/api/auth/email/verify']);

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal & { via: AuthVia };
  }
}

/** `Authorization: Bearer hk_…`: resolved to the key's owner and scopes on every request. */
class ApiKeyStrategy extends passport.Strategy {
  override name = 'api-key';
  constructor(private readonly lookup: (req: Request, secret: string) => Promise<Principal>) {
    super();
  }
  override authenticate(req: Request): void {
    const found = accessTokenFrom(req);
    if (!found || found.via !== 'api-key') return this.fail(undefined, 401);
    this.lookup(req, found.token).then(
      (principal) => this.success({ ...principal, via: 'api-key' }),
      (err: unknown) => (err instanceof UnauthorizedError ? this.fail(err, 401) : this.error(err)),
    );
  }
}

/** Cookie names: `__Host-` (Secure, path /, no Domain) whenever the request came over TLS. */
export const cookieNames = (secure: boolean) => (secure ? { access: '__Host-hearth_at', refresh: '__Host-hearth_rt' } : { access: 'hearth_at', refresh: 'hearth_rt' });

/**
 * Whether cookies must be Secure: the request came over TLS (as far as TRUST_PROXY lets us see), or
 * the instance is published over https (PUBLIC_URL) behind a proxy we were not told to trust.
 */
export const secureCookies = (req: Request, publicUrl: string): boolean => req.secure || publicUrl.startsWith('https:');

/** The API key in `Authorization: Bearer hk_…`, if that is what the request bears. */
export function apiKeyFrom(req: Request): string | undefined {
  const bearer = bearerFrom(req);
  return bearer && looksLikeApiKey(bearer) ? bearer : undefined;
}

const bearerFrom = (req: Request) => /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1];

export function accessTokenFrom(req: Request): { token: string; via: AuthVia } | undefined {
  const bearer = bearerFrom(req);
  if (bearer) return { token: bearer, via: looksLikeApiKey(bearer) ? 'api-key' : 'bearer' };
  const cookies = req.cookies as Record<string, string> | undefined;
  const cookie = cookies?.['__Host-hearth_at'] ?? cookies?.hearth_at;
  return cookie ? { token: cookie, via: 'cookie' } : undefined;
}

export function clearAuthCookies(req: Request, res: import('express').Response, publicUrl: string): void {
  const secure = secureCookies(req, publicUrl);
  const names = cookieNames(secure);
  const base = { httpOnly: true, sameSite: 'lax' as const, secure, path: '/' };
  res.clearCookie(names.access, base);
  res.clearCookie(names.refresh, base);
}

/**
 * passport with passport-jwt: the JWT comes from the Authorization header or the access cookie,
 * is verified with the key its `kid` names (HS256 pinned, issuer and audience checked), and then
 * resolved to a live session of an active user, so revoking a session or disabling a user takes
 * effect at once rather than at token expiry.
 */
export function createAuthenticator(auth: AuthService, publicUrl: string) {
  const instance = new passport.Passport();
  // Lookups started by lookAhead, for the request that bears the key.
  const early = new WeakMap<Request, { secret: string; at: number; principal: Promise<Principal> }>();
  instance.use('api-key', new ApiKeyStrategy((req, secret) => {
    const started = early.get(req);
    // A body that took its time (sent slowly, straight to the app) is not let in on what the key
    // was when its headers came: a key revoked meanwhile must not pass.
    return started?.secret === secret && performance.now() - started.at <= EARLY_LOOKUP_FRESH_MS ? started.principal : auth.principalFromApiKey(secret);
  }));
  instance.use(
    'jwt',
    new JwtStrategy(
      {
        jwtFromRequest: (req: Request) => accessTokenFrom(req)?.token ?? null,
        // A KeyObject (jsonwebtoken 9 takes one; the typings say string | Buffer).
        secretOrKeyProvider: (_req: Request, rawJwt: string, done: (err: unknown, key?: string | Buffer) => void) => {
          const key = auth.tokens.keyFor(rawJwt);
          if (!key) done(new InvalidTokenError('unknown key'));
          else done(null, key as unknown as Buffer);
        },
        algorithms: auth.tokens.verifyOptions.algorithms,
        issuer: auth.tokens.verifyOptions.issuer as string,
        audience: auth.tokens.verifyOptions.audience as string,
        passReqToCallback: true,
      },
      (req: Request, payload: unknown, done: (err: unknown, user?: unknown, info?: unknown) => void) => {
        let claims;
        try {
          claims = AccessTokens.claimsOf(payload as Parameters<typeof AccessTokens.claimsOf>[0]);
        } catch {
          return done(null, false);
        }
        auth.principalFromClaims(claims).then(
          (principal) => done(null, { ...principal, via: accessTokenFrom(req)!.via }),
          (err: unknown) => (err instanceof UnauthorizedError ? done(null, false, err) : done(err)),
        );
      },
    ),
  );

  /**
   * First in the authenticating chain: an API key's lookup (a round trip on every request) starts
   * at once, while the body and cookies are read; `authenticate` then takes its answer. Nothing is
   * decided here, and a request that fails before `authenticate` leaves the answer unread.
   */
  const lookAhead: RequestHandler = (req, _res, next) => {
    const secret = apiKeyFrom(req);
    if (secret) {
      const principal = auth.principalFromApiKey(secret);
      // Read by authenticate, or by nobody when the request fails first (a malformed body, say).
      principal.catch(() => undefined);
      early.set(req, { secret, at: performance.now(), principal });
    }
    next();
  };

  /** Sets req.principal when credentials are present and valid; answers 401 when they are present but bad. */
  const authenticate: RequestHandler = (req, res, next) => {
    const found = accessTokenFrom(req);
    if (!found) return next();
    instance.authenticate(found.via === 'api-key' ? 'api-key' : 'jwt', { session: false }, (err: unknown, principal: (Principal & { via: AuthVia }) | false, info: unknown) => {
      if (err) return next(err instanceof InvalidTokenError ? new UnauthorizedError('invalid-token', 'The access token is not valid or has expired.') : err);
      if (!principal) {
        // A stale cookie (ended or idle session) must not lock the browser out of signing in
        // again: drop it and carry on as anonymous; protected routes then answer 401.
        if (found.via === 'cookie') {
          clearAuthCookies(req, res, publicUrl);
          return next();
        }
        return next(info instanceof UnauthorizedError ? info : new UnauthorizedError('invalid-token', 'The access token is not valid or has expired.'));
      }
      req.principal = principal;
      setContextUserId(principal.user.id);
      next();
    })(req, res, next);
  };

  /**
   * API keys reach only routes that declare a scope the key holds: never keys, sessions, password,
   * 2FA or admin routes, which need an interactive sign-in.
   */
  const keyAllowed = (req: Request, def?: Pick<RouteDef, 'apiKeyScope'>) => {
    const key = req.principal?.apiKey;
    if (!key) return undefined;
    const scope = def?.apiKeyScope;
    if (!scope) return new ForbiddenError('interactive-sign-in-required', 'API keys cannot be used here; sign in interactively.');
    if (scope !== 'any' && !key.scopes.includes(scope as never)) return new ForbiddenError('api-key-scope', `This API key lacks the '${scope}' scope.`);
    return undefined;
  };

  /** REQUIRE_ADMIN_2FA: an admin without 2FA may only set it up (and see who they are, or leave). */
  const twoFactorGate = (req: Request, def?: Pick<RouteDef, 'path'>) => {
    const user = req.principal?.user;
    if (!auth.requireAdmin2fa || !user || user.role !== 'admin' || user.totpEnabledAt) return undefined;
    if (def?.path && TWO_FACTOR_SETUP_ROUTES.has(def.path)) return undefined;
    return new ForbiddenError('two-factor-required', 'Admins must turn on two-factor authentication first (POST /api/auth/totp/setup).');
  };

  const requireAuth =
    (def?: Pick<RouteDef, 'apiKeyScope' | 'path'>): RequestHandler =>
    (req, _res, next) => {
      if (!req.principal) return next(new UnauthorizedError('unauthenticated', 'Sign in to continue.'));
      next(keyAllowed(req, def) ?? twoFactorGate(req, def));
    };

  const requireRole =
    (role: 'admin') =>
    (def?: Pick<RouteDef, 'apiKeyScope' | 'path'>): RequestHandler =>
    (req, _res, next) => {
      if (!req.principal) return next(new UnauthorizedError('unauthenticated', 'Sign in to continue.'));
      const gated = twoFactorGate(req, def);
      if (gated) return next(gated);
      if (req.principal.apiKey) return next(new ForbiddenError('interactive-sign-in-required', 'Admin routes need an interactive sign-in.'));
      if (req.principal.user.role !== role) return next(new ForbiddenError('forbidden', 'This needs an admin.'));
      next(keyAllowed(req, def));
    };

  /** The session of a cookie-authenticated request, for CSRF (see platform/http/csrf.ts). */
  const cookieSessionId = (req: Request): string | undefined => {
    const found = accessTokenFrom(req);
    if (!found || found.via !== 'cookie') return undefined;
    try {
      return auth.tokens.verify(found.token).sid;
    } catch {
      return undefined;
    }
  };

  /**
   * Sign-in, setup, sign-up and refresh carry no session to bind a token to yet (or only an
   * expiring one). They stay safe without one: the cookies are SameSite=Lax, so another site's
   * form posts without them, and a forced refresh only rotates tokens inside the victim's browser.
   */
  const csrfExempt = (req: Request): boolean => CSRF_EXEMPT.has(`${req.baseUrl}${req.path}`);

  return { lookAhead, authenticate, requireAuth, requireRole, cookieSessionId, csrfExempt };
}
