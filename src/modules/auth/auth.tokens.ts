import crypto, { type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';

export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
const AUDIENCE = 'hearth';
const ALGORITHM = 'HS256';

export interface AccessClaims {
  sub: string;
  sid: string;
  typ: 'access';
}

export class InvalidTokenError extends Error {}

/**
 * Access JWTs: HS256 only (the algorithm is pinned on verify, so `alg: none` and RS/HS confusion
 * fail), issuer, audience and type checked, session id inside. Keys are KeyObjects built once:
 * jsonwebtoken spends ~0.7 ms per verify re-parsing a string secret (DESIGN.md).
 */
export class AccessTokens {
  /** Key id (a digest of the secret) → key; the current one signs, the previous one still verifies. */
  private readonly keys = new Map<string, KeyObject>();
  private readonly currentKid: string;
  readonly verifyOptions: jwt.VerifyOptions & { algorithms: jwt.Algorithm[] };

  constructor(secret: string, issuer: string, previousSecret?: string) {
    this.currentKid = AccessTokens.kid(secret);
    this.keys.set(this.currentKid, crypto.createSecretKey(Buffer.from(secret, 'utf8')));
    if (previousSecret) this.keys.set(AccessTokens.kid(previousSecret), crypto.createSecretKey(Buffer.from(previousSecret, 'utf8')));
    // maxAge bounds a token by its iat too; a few seconds of tolerance for clocks across processes.
    this.verifyOptions = { algorithms: [ALGORITHM], issuer, audience: AUDIENCE, maxAge: ACCESS_TOKEN_TTL_SECONDS, clockTolerance: 5 };
  }

  private static kid(secret: string): string {
    return crypto.createHash('sha256').update(`kid:${secret}`).digest('base64url').slice(0, 12);
  }

  sign(userId: string, sessionId: string): string {
    const claims: AccessClaims = { sub: userId, sid: sessionId, typ: 'access' };
    return jwt.sign(claims, this.keys.get(this.currentKid)!, {
      algorithm: ALGORITHM,
      keyid: this.currentKid,
      expiresIn: ACCESS_TOKEN_TTL_SECONDS,
      issuer: this.verifyOptions.issuer as string,
      audience: AUDIENCE,
    });
  }

  /** The key a token names in its header (`kid`); undefined for unknown ids (rejected). */
  keyFor(token: string): KeyObject | undefined {
    const decoded = jwt.decode(token, { complete: true });
    const kid = decoded && typeof decoded === 'object' ? decoded.header.kid : undefined;
    return kid ? this.keys.get(kid) : undefined;
  }

  /** Checks beyond the signature: type, subject, session, issue and expiry times. */
  static claimsOf(payload: jwt.JwtPayload | string): AccessClaims {
    if (typeof payload === 'string') throw new InvalidTokenError('unexpected payload');
    if (payload.typ !== 'access') throw new InvalidTokenError('wrong token type');
    if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') throw new InvalidTokenError('missing subject or session');
    if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number') throw new InvalidTokenError('missing iat or exp');
    return { sub: payload.sub, sid: payload.sid, typ: 'access' };
  }

  verify(token: string): AccessClaims {
    const key = this.keyFor(token);
    if (!key) throw new InvalidTokenError('unknown key');
    try {
      return AccessTokens.claimsOf(jwt.verify(token, key, this.verifyOptions));
    } catch (err) {
      if (err instanceof InvalidTokenError) throw err;
      throw new InvalidTokenError(err instanceof Error ? err.message : 'invalid token');
    }
  }
}

/** Opaque secrets (refresh tokens, setup/invite/reset links): 256 random bits, stored only as a hash. */
export const newOpaqueToken = (): string => crypto.randomBytes(32).toString('base64url');
export const hashToken = (token: string): string => crypto.createHash('sha256').update(token, 'utf8').digest('hex');
