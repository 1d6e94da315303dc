import { AppError, BadRequestError, ConflictError, ForbiddenError, NotFoundError, TooManyRequestsError, UnauthorizedError } from '../../platform/errors';
import type { AuditService } from '../../platform/audit/audit.service';
import type { Logger } from '../../platform/logger';
import crypto from 'node:crypto';
import type { ApiKeyRow, AuthRepository, SessionRow, UserRow } from './auth.repository';
import type { ApiKeyScope } from './auth.schema';
import { AccessTokens, ACCESS_TOKEN_TTL_SECONDS, hashToken, InvalidTokenError, newOpaqueToken } from './auth.tokens';
import { passwordProblems, type PasswordHasher } from './auth.passwords';
import { hashRecoveryCode, newRecoveryCodes, Totp } from './auth.totp';
import type { SecretBox } from '../../platform/crypto';
import type { Mailer } from '../../platform/mail';
import type { LoginThrottle } from './auth.throttle';

export interface Origin {
  ip: string | null;
  userAgent: string | null;
}

export interface PublicUser {
  id: string;
  email: string;
  name: string;
  role: 'admin' | 'member';
  status: 'active' | 'disabled';
  emailVerified: boolean;
  twoFactorEnabled: boolean;
  createdAt: string;
}

export interface Principal {
  user: UserRow;
  /** The sign-in session; absent for API keys. */
  sessionId?: string;
  apiKey?: { id: string; scopes: ApiKeyScope[] };
}

export interface PublicApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
}

const toPublicApiKey = (k: ApiKeyRow): PublicApiKey => ({
  id: k.id,
  name: k.name,
  prefix: k.prefix,
  scopes: k.scopes,
  createdAt: k.createdAt.toISOString(),
  expiresAt: k.expiresAt?.toISOString() ?? null,
  lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
});

/** `hk_` + 8 visible characters (the prefix shown in lists) + 32 more; 240 random bits in all. */
const newApiKey = (): { secret: string; prefix: string } => {
  const body = crypto.randomBytes(30).toString('base64url');
  return { secret: `hk_${body}`, prefix: `hk_${body.slice(0, 8)}` };
};
export const looksLikeApiKey = (token: string): boolean => token.startsWith('hk_');

export interface IssuedTokens {
  user: PublicUser;
  sessionId: string;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

export interface AuthSettings {
  requireAdmin2fa: boolean;
  sessionMaxAgeMs: number;
  sessionIdleMs: number;
  allowSignup: boolean;
  publicUrl: string;
  admin: { email?: string; password?: string };
}

const INVALID_CREDENTIALS = 'Email or password is wrong.';
const MAX_API_KEYS = 50;
// Writes to last_seen_at at most this often per session.
const TOUCH_EVERY_MS = 60_000;

export const toPublicUser = (u: UserRow): PublicUser => ({
  id: u.id,
  email: u.email,
  name: u.name,
  role: u.role,
  status: u.status,
  emailVerified: u.emailVerified,
  twoFactorEnabled: Boolean(u.totpEnabledAt),
  createdAt: u.createdAt.toISOString(),
});

class PasswordPolicyError extends AppError {
  constructor(field: string, problems: string[]) {
    super(400, 'weak-password', `The password ${problems.join('; ')}.`, [{ field, message: problems.join('; ') }]);
  }
}

export class AuthService {
  constructor(
    private readonly repo: AuthRepository,
    private readonly hasher: PasswordHasher,
    readonly tokens: AccessTokens,
    private readonly audit: AuditService,
    private readonly throttle: LoginThrottle,
    private readonly settings: AuthSettings,
    private readonly logger: Logger,
    private readonly box: SecretBox,
    private readonly mailer: Mailer,
    private readonly totp = new Totp(),
  ) {}

  get requireAdmin2fa(): boolean {
    return this.settings.requireAdmin2fa;
  }

  private assertPassword(password: string, email: string, field = 'body.password') {
    const problems = passwordProblems(password, email);
    if (problems.length) throw new PasswordPolicyError(field, problems);
  }

  private async issue(user: UserRow, origin: Origin): Promise<IssuedTokens> {
    const { session, refreshToken } = await this.repo.transaction(async (repo) => {
      const session = await repo.insertSession({ userId: user.id, ip: origin.ip, userAgent: origin.userAgent, expiresAt: new Date(Date.now() + this.settings.sessionMaxAgeMs) });
      const refreshToken = newOpaqueToken();
      await repo.insertRefreshToken({ sessionId: session.id, familyId: session.id, tokenHash: hashToken(refreshToken), expiresAt: session.expiresAt });
      return { session, refreshToken };
    });
    return { user: toPublicUser(user), sessionId: session.id, accessToken: this.tokens.sign(user.id, session.id), refreshToken, expiresIn: ACCESS_TOKEN_TTL_SECONDS };
  }

  /**
   * Counts an attempt before any secret is checked; refuses it (429) when a lock is in force,
   * auditing the refusal and, when this attempt tripped the lock, the lockout (and alerting admins
   * for an account-wide lock).
   */
  private async gate(account: string, subject: { userId: string | null; email: string }, origin: Origin): Promise<void> {
    const { locked } = await this.throttle.attempt(account, origin.ip ?? 'unknown');
    if (!locked) return;
    const target = { targetType: subject.userId ? 'user' : 'email', targetId: subject.userId ?? subject.email.toLowerCase() };
    await this.audit.record({ action: 'auth.login.locked', ...target, metadata: { scope: locked.scope }, ...origin });
    if (locked.justLocked) {
      await this.audit.record({ action: 'auth.login.lockout', ...target, metadata: { scope: locked.scope }, ...origin });
      if (locked.scope === 'account') await this.alertAdmins(subject.userId, subject.email);
    }
    throw new TooManyRequestsError('login-locked', `Too many failed attempts. Try again in ${Math.ceil(locked.retryAfterSeconds / 60)} minute(s).`, locked.retryAfterSeconds);
  }

  /** Sign-in with email and password; the same path (and message) whatever is wrong. */
  async login(email: string, password: string, origin: Origin, second: { totpCode?: string; recoveryCode?: string } = {}): Promise<IssuedTokens> {
    const user = await this.repo.findUserByEmail(email);
    await this.gate(email, { userId: user?.id ?? null, email }, origin);
    const passwordOk = await this.hasher.verify(password, user?.passwordHash);
    if (!user || !passwordOk || user.status !== 'active') {
      const reason = !user ? 'unknown-email' : !passwordOk ? 'wrong-password' : 'disabled';
      await this.audit.record({ action: 'auth.login.failure', actorUserId: null, targetType: 'user', targetId: user?.id ?? email.toLowerCase(), metadata: { reason }, ...origin });
      throw new UnauthorizedError('invalid-credentials', INVALID_CREDENTIALS);
    }
    if (user.totpEnabledAt) {
      // Not a failure: the password was right; the client now asks for the code.
      if (!second.totpCode && !second.recoveryCode) {
        await this.throttle.succeeded(email, origin.ip ?? 'unknown');
        throw new UnauthorizedError('totp-required', 'Enter the 6-digit code from your authenticator app (or a recovery code).');
      }
      if (!(await this.checkSecondFactor(user, second, origin))) {
        await this.audit.record({ action: 'auth.login.failure', targetType: 'user', targetId: user.id, metadata: { reason: 'wrong-second-factor' }, ...origin });
        throw new UnauthorizedError('totp-invalid', 'The authentication code is wrong or was already used.');
      }
    }
    await this.throttle.succeeded(email, origin.ip ?? 'unknown');
    const issued = await this.issue(user, origin);
    await this.audit.record({ action: 'auth.login.success', actorUserId: user.id, targetType: 'session', targetId: issued.sessionId, ...origin });
    return issued;
  }

  /** An account reached 100 failures in an hour: tell every active admin (mail when SMTP is set; always the log). */
  private async alertAdmins(userId: string | null, email: string): Promise<void> {
    this.logger.error('security.alert.account-locked', { userId, note: 'an account reached 100 failed sign-ins within an hour and is locked for an hour' });
    if (!this.mailer.enabled) return;
    const admins = await this.repo.listActiveAdmins();
    await Promise.all(
      admins.map((a) =>
        this.mailer
          .send({ to: a.email, subject: 'Hearth security alert: an account was locked', text: `The account ${email} had 100 failed sign-ins within an hour and is locked for an hour.\nSee the audit log (auth.login.lockout) for the addresses involved.\n` })
          .catch((err: Error) => this.logger.error('security.alert.mail-failed', { error: err.message })),
      ),
    );
  }

  /** Rotates a refresh token. A spent token presented again revokes its whole family (the session). */
  async refresh(refreshToken: string, origin: Origin): Promise<IssuedTokens> {
    const found = await this.repo.findRefreshToken(hashToken(refreshToken));
    if (!found) throw new UnauthorizedError('invalid-refresh-token', 'The refresh token is not valid. Sign in again.');
    const { token, session, user } = found;
    const replay = async () => {
      await this.repo.revokeSession(session.id, 'refresh-token-reuse');
      await this.audit.record({ action: 'auth.refresh.reuse', actorUserId: user.id, targetType: 'session', targetId: session.id, metadata: { familyId: token.familyId }, ...origin });
      this.logger.warn('auth.refresh.reuse', { userId: user.id, sessionId: session.id });
      return new UnauthorizedError('refresh-token-reused', 'This refresh token was already used; the session has been ended for safety. Sign in again.');
    };
    if (token.usedAt) throw await replay();
    this.assertSessionUsable(session, user);
    if (token.expiresAt.getTime() <= Date.now()) throw new UnauthorizedError('invalid-refresh-token', 'The refresh token has expired. Sign in again.');
    const next = newOpaqueToken();
    const spent = await this.repo.transaction(async (repo) => {
      if (!(await repo.spendRefreshToken(token.id))) return false;
      await repo.insertRefreshToken({ sessionId: session.id, familyId: token.familyId, tokenHash: hashToken(next), expiresAt: session.expiresAt });
      await repo.touchSession(session.id, new Date());
      return true;
    });
    // Lost a race with another use of the same token: that is a reuse too.
    if (!spent) throw await replay();
    return { user: toPublicUser(user), sessionId: session.id, accessToken: this.tokens.sign(user.id, session.id), refreshToken: next, expiresIn: ACCESS_TOKEN_TTL_SECONDS };
  }

  private assertSessionUsable(session: SessionRow, user: UserRow): void {
    const now = Date.now();
    if (session.revokedAt) throw new UnauthorizedError('session-revoked', 'This session has ended. Sign in again.');
    if (session.expiresAt.getTime() <= now) throw new UnauthorizedError('session-expired', 'This session has expired. Sign in again.');
    if (session.lastSeenAt.getTime() + this.settings.sessionIdleMs <= now) throw new UnauthorizedError('session-expired', 'This session was idle too long. Sign in again.');
    if (user.status !== 'active') throw new UnauthorizedError('account-disabled', 'This account is disabled.');
  }

  /** Resolves an access token to a live session of an active user (checked on every request). */
  async principalFromClaims(claims: { sub: string; sid: string }): Promise<Principal> {
    const found = await this.repo.sessionWithUser(claims.sid);
    if (!found || found.user.id !== claims.sub) throw new UnauthorizedError('invalid-token', 'The access token is not valid.');
    this.assertSessionUsable(found.session, found.user);
    if (Date.now() - found.session.lastSeenAt.getTime() > TOUCH_EVERY_MS) await this.repo.touchSession(found.session.id, new Date());
    return { user: found.user, sessionId: found.session.id };
  }

  /** Verifies an access JWT and resolves it; InvalidTokenError becomes a 401. */
  async principalFromToken(token: string): Promise<Principal> {
    try {
      return await this.principalFromClaims(this.tokens.verify(token));
    } catch (err) {
      if (err instanceof InvalidTokenError) throw new UnauthorizedError('invalid-token', 'The access token is not valid or has expired.');
      throw err;
    }
  }

  // ---- TOTP 2FA ----------------------------------------------------------------------------

  private totpSecretOf(user: UserRow): string {
    return this.box.open(user.totpSecretEnc!, `totp:${user.id}`);
  }

  /** A TOTP code (each time step accepted once) or an unused recovery code. */
  private async checkSecondFactor(user: UserRow, second: { totpCode?: string; recoveryCode?: string }, origin: Origin): Promise<boolean> {
    if (second.totpCode) {
      const step = this.totp.stepOf(this.totpSecretOf(user), second.totpCode);
      return step !== undefined && (await this.repo.acceptTotpStep(user.id, step));
    }
    if (second.recoveryCode && (await this.repo.consumeRecoveryCode(user.id, hashRecoveryCode(second.recoveryCode)))) {
      await this.audit.record({ action: 'auth.2fa.recovery-used', actorUserId: user.id, targetType: 'user', targetId: user.id, ...origin });
      return true;
    }
    return false;
  }

  /** Re-authentication for sensitive changes: the current password, throttled like sign-in. */
  private async confirmPassword(p: Principal, password: string, origin: Origin): Promise<void> {
    await this.gate(`user:${p.user.id}`, { userId: p.user.id, email: p.user.email }, origin);
    if (!(await this.hasher.verify(password, p.user.passwordHash))) throw new BadRequestError('wrong-password', 'The password is wrong.', [{ field: 'body.password', message: 'is wrong' }]);
    await this.throttle.succeeded(`user:${p.user.id}`, origin.ip ?? 'unknown');
  }

  /** With mail configured, an account must own its address before it adds credentials. */
  private assertVerified(p: Principal, what: string): void {
    if (this.mailer.enabled && !p.user.emailVerified) throw new ForbiddenError('email-not-verified', `Confirm your email address before you ${what}.`);
  }

  async startTotpSetup(p: Principal, password: string, origin: Origin): Promise<{ secret: string; otpauthUrl: string; qrCode: string }> {
    if (p.user.totpEnabledAt) throw new ConflictError('totp-already-enabled', 'Two-factor authentication is already on. Turn it off first to set it up again.');
    this.assertVerified(p, 'turn on two-factor authentication');
    await this.confirmPassword(p, password, origin);
    const created = await this.totp.create(p.user.email);
    await this.repo.setPendingTotp(p.user.id, this.box.seal(created.secret, `totp:${p.user.id}`));
    return created;
  }

  async confirmTotp(p: Principal, code: string, origin: Origin): Promise<{ recoveryCodes: string[] }> {
    const user = await this.repo.findUserById(p.user.id);
    if (!user?.totpSecretEnc || user.totpEnabledAt) throw new ConflictError('totp-not-pending', 'Start two-factor setup first.');
    const step = this.totp.stepOf(this.totpSecretOf(user), code);
    if (step === undefined) throw new BadRequestError('totp-invalid', 'The code is wrong. Check the time on your device and try again.', [{ field: 'body.code', message: 'is wrong' }]);
    const { codes, hashes } = newRecoveryCodes();
    const revoked = await this.repo.transaction(async (repo) => {
      await repo.enableTotp(user.id, hashes);
      await repo.acceptTotpStep(user.id, step);
      return repo.revokeUserSessions(user.id, '2fa-enabled', p.sessionId);
    });
    await this.audit.record({ action: 'auth.2fa.enable', actorUserId: user.id, targetType: 'user', targetId: user.id, metadata: { revokedSessions: revoked }, ...origin });
    return { recoveryCodes: codes };
  }

  async disableTotp(p: Principal, password: string, code: string, origin: Origin): Promise<void> {
    const user = await this.repo.findUserById(p.user.id);
    if (!user?.totpEnabledAt) throw new ConflictError('totp-not-enabled', 'Two-factor authentication is not on.');
    await this.gate(`user:${user.id}`, { userId: user.id, email: user.email }, origin);
    const passwordOk = await this.hasher.verify(password, user.passwordHash);
    const second = /^\d{6}$/.test(code.trim()) ? { totpCode: code.trim() } : { recoveryCode: code };
    if (!passwordOk || !(await this.checkSecondFactor(user, second, origin))) {
      await this.audit.record({ action: 'auth.2fa.disable-failed', actorUserId: user.id, targetType: 'user', targetId: user.id, ...origin });
      throw new BadRequestError('second-factor-check-failed', 'The password or the code is wrong.');
    }
    await this.throttle.succeeded(`user:${user.id}`, origin.ip ?? 'unknown');
    const revoked = await this.repo.transaction(async (repo) => {
      await repo.disableTotp(user.id);
      return repo.revokeUserSessions(user.id, '2fa-disabled', p.sessionId);
    });
    await this.audit.record({ action: 'auth.2fa.disable', actorUserId: user.id, targetType: 'user', targetId: user.id, metadata: { revokedSessions: revoked }, ...origin });
  }

  /** An admin turns off someone's 2FA (lost device): their sessions end; they set it up again. */
  async adminResetTotp(actor: Principal, id: string, origin: Origin): Promise<void> {
    const user = await this.repo.findUserById(id);
    if (!user) throw new NotFoundError('user-not-found', 'No such user.');
    await this.repo.transaction(async (repo) => {
      await repo.disableTotp(id);
      await repo.revokeUserSessions(id, '2fa-reset-by-admin');
    });
    await this.audit.record({ action: 'auth.2fa.reset-by-admin', actorUserId: actor.user.id, targetType: 'user', targetId: id, ...origin });
  }

  /** An admin ends every session of a user (tokens stop at once; API keys are separate). */
  async adminRevokeSessions(actor: Principal, id: string, origin: Origin): Promise<{ revokedSessions: number }> {
    if (!(await this.repo.findUserById(id))) throw new NotFoundError('user-not-found', 'No such user.');
    const revoked = await this.repo.revokeUserSessions(id, 'revoked-by-admin');
    await this.audit.record({ action: 'auth.session.revoke-all', actorUserId: actor.user.id, targetType: 'user', targetId: id, metadata: { revokedSessions: revoked }, ...origin });
    return { revokedSessions: revoked };
  }

  /** "Sign out everywhere else": ends every other session of the caller. */
  async revokeOtherSessions(p: Principal, origin: Origin): Promise<{ revokedSessions: number }> {
    const revoked = await this.repo.revokeUserSessions(p.user.id, 'revoked-by-user', p.sessionId);
    await this.audit.record({ action: 'auth.session.revoke-all', actorUserId: p.user.id, targetType: 'user', targetId: p.user.id, metadata: { revokedSessions: revoked, keptCurrent: true }, ...origin });
    return { revokedSessions: revoked };
  }

  // ---- API keys ----------------------------------------------------------------------------

  async createApiKey(p: Principal, input: { name: string; scopes: ApiKeyScope[]; expiresInDays?: number }, origin: Origin): Promise<{ key: PublicApiKey; secret: string }> {
    this.assertVerified(p, 'create API keys');
    if ((await this.repo.countActiveApiKeys(p.user.id)) >= MAX_API_KEYS) throw new ConflictError('api-key-limit', `You already have ${MAX_API_KEYS} active API keys; revoke one first.`);
    const { secret, prefix } = newApiKey();
    const expiresAt = input.expiresInDays ? new Date(Date.now() + input.expiresInDays * 86_400_000) : null;
    const row = await this.repo.insertApiKey({ userId: p.user.id, name: input.name, prefix, keyHash: hashToken(secret), scopes: [...new Set(input.scopes)], expiresAt });
    await this.audit.record({ action: 'auth.api-key.create', actorUserId: p.user.id, targetType: 'api_key', targetId: row.id, metadata: { name: input.name, prefix, scopes: row.scopes, expiresAt }, ...origin });
    return { key: toPublicApiKey(row), secret };
  }

  async listApiKeys(p: Principal): Promise<PublicApiKey[]> {
    return (await this.repo.listApiKeys(p.user.id)).map(toPublicApiKey);
  }

  async revokeApiKey(p: Principal, id: string, origin: Origin): Promise<void> {
    if (!(await this.repo.revokeApiKey(id, p.user.id))) throw new NotFoundError('api-key-not-found', 'No such API key.');
    await this.audit.record({ action: 'auth.api-key.revoke', actorUserId: p.user.id, targetType: 'api_key', targetId: id, ...origin });
  }

  /** An API key's owner and scopes, checked on every request (revocation and disabling apply at once). */
  async principalFromApiKey(secret: string): Promise<Principal> {
    const found = await this.repo.apiKeyWithUser(hashToken(secret));
    if (!found || found.key.revokedAt) throw new UnauthorizedError('invalid-api-key', 'The API key is not valid.');
    if (found.key.expiresAt && found.key.expiresAt.getTime() <= Date.now()) throw new UnauthorizedError('api-key-expired', 'The API key has expired.');
    if (found.user.status !== 'active') throw new UnauthorizedError('account-disabled', 'This account is disabled.');
    if (!found.key.lastUsedAt || Date.now() - found.key.lastUsedAt.getTime() > TOUCH_EVERY_MS) await this.repo.touchApiKey(found.key.id, new Date());
    return { user: found.user, apiKey: { id: found.key.id, scopes: found.key.scopes } };
  }

  async logout(p: Principal, origin: Origin): Promise<void> {
    await this.repo.revokeSession(p.sessionId!, 'logout');
    await this.audit.record({ action: 'auth.logout', actorUserId: p.user.id, targetType: 'session', targetId: p.sessionId, ...origin });
  }

  async listSessions(p: Principal) {
    const rows = await this.repo.listSessions(p.user.id);
    return rows.map((s) => ({
      id: s.id,
      current: s.id === p.sessionId,
      ip: s.ip,
      userAgent: s.userAgent,
      createdAt: s.createdAt.toISOString(),
      lastSeenAt: s.lastSeenAt.toISOString(),
      expiresAt: s.expiresAt.toISOString(),
    }));
  }

  async revokeSession(p: Principal, sessionId: string, origin: Origin): Promise<void> {
    // Someone else's session id answers exactly like an unknown one.
    if (!(await this.repo.revokeSession(sessionId, 'revoked-by-user', p.user.id))) throw new NotFoundError('session-not-found', 'No such session.');
    await this.audit.record({ action: 'auth.session.revoke', actorUserId: p.user.id, targetType: 'session', targetId: sessionId, ...origin });
  }

  async changePassword(p: Principal, currentPassword: string, newPassword: string, origin: Origin): Promise<{ revokedSessions: number }> {
    // Guessing the current password from a stolen session is throttled like sign-in.
    await this.gate(`user:${p.user.id}`, { userId: p.user.id, email: p.user.email }, origin);
    if (!(await this.hasher.verify(currentPassword, p.user.passwordHash))) {
      await this.audit.record({ action: 'auth.password.change-failed', actorUserId: p.user.id, targetType: 'user', targetId: p.user.id, ...origin });
      throw new BadRequestError('wrong-password', 'The current password is wrong.', [{ field: 'body.currentPassword', message: 'is wrong' }]);
    }
    this.assertPassword(newPassword, p.user.email, 'body.newPassword');
    await this.throttle.succeeded(`user:${p.user.id}`, origin.ip ?? 'unknown');
    const hash = await this.hasher.hash(newPassword);
    const revoked = await this.repo.transaction(async (repo) => {
      await repo.setPassword(p.user.id, hash);
      await repo.spendAuthTokens('reset', p.user.id);
      return repo.revokeUserSessions(p.user.id, 'password-changed', p.sessionId);
    });
    await this.audit.record({ action: 'auth.password.change', actorUserId: p.user.id, targetType: 'user', targetId: p.user.id, metadata: { revokedSessions: revoked }, ...origin });
    return { revokedSessions: revoked };
  }

  async register(input: { email: string; name: string; password: string }, origin: Origin): Promise<PublicUser> {
    if (!this.settings.allowSignup) throw new ForbiddenError('signup-disabled', 'Sign-up is closed on this instance. Ask an admin for an invitation.');
    this.assertPassword(input.password, input.email);
    if (await this.repo.findUserByEmail(input.email)) throw new ConflictError('email-taken', 'An account with this email already exists.');
    const user = await this.repo.insertUser({ email: input.email.trim(), name: input.name.trim(), role: 'member', passwordHash: await this.hasher.hash(input.password), emailVerified: false });
    await this.audit.record({ action: 'user.create', actorUserId: user.id, targetType: 'user', targetId: user.id, metadata: { via: 'signup' }, ...origin });
    if (this.mailer.enabled && (await this.throttle.mailAllowed(user.email))) await this.sendVerification(user).catch((err: Error) => this.logger.error('auth.verify-mail-failed', { error: err.message }));
    return toPublicUser(user);
  }

  // ---- single-use links: verification, reset, invitation ---------------------------------------

  private static readonly TTL = { verify: 24 * 3_600_000, reset: 3_600_000, invite: 7 * 24 * 3_600_000 } as const;

  private async newLink(purpose: 'verify' | 'reset' | 'invite', path: string, values: { userId?: string; createdBy?: string; metadata?: Record<string, unknown> }): Promise<{ link: string; expiresAt: Date }> {
    const token = newOpaqueToken();
    const expiresAt = new Date(Date.now() + AuthService.TTL[purpose]);
    await this.repo.insertAuthToken({ purpose, tokenHash: hashToken(token), expiresAt, userId: values.userId ?? null, createdBy: values.createdBy ?? null, metadata: values.metadata });
    return { link: `${this.settings.publicUrl}${path}?token=${token}`, expiresAt };
  }

  private async sendVerification(user: UserRow): Promise<void> {
    const { link } = await this.newLink('verify', '/verify-email', { userId: user.id });
    // No user-chosen text in a mail to an address nobody has confirmed yet.
    await this.mailer.send({ to: user.email, subject: 'Confirm your email address for Hearth', text: `Hello,\n\nconfirm your email address for Hearth by opening this link (valid for 24 hours):\n\n${link}\n\nIf you did not sign up, ignore this message.\n` });
  }

  async verifyEmail(token: string, origin: Origin): Promise<void> {
    const row = await this.repo.consumeAuthToken('verify', hashToken(token));
    if (!row?.userId) throw new BadRequestError('link-invalid', 'This link is not valid: it was used already or has expired.');
    await this.repo.updateUser(row.userId, { emailVerified: true });
    await this.audit.record({ action: 'auth.email.verify', actorUserId: row.userId, targetType: 'user', targetId: row.userId, ...origin });
  }

  /** Always answers the same (no account enumeration); mails a 1-hour link when the account exists and SMTP is set. */
  async forgotPassword(email: string, origin: Origin): Promise<void> {
    const user = await this.repo.findUserByEmail(email);
    const eligible = Boolean(user && user.status === 'active' && this.mailer.enabled);
    // At most a few mails per address per hour, so nobody can flood an inbox through us.
    const allowed = eligible && (await this.throttle.mailAllowed(email));
    await this.audit.record({ action: 'auth.password.reset-requested', targetType: 'user', targetId: user?.id ?? email.toLowerCase(), metadata: { sent: allowed }, ...origin });
    if (!user || !allowed) return;
    // Answer at once and send in the background: timing and SMTP errors must not reveal the account.
    void (async () => {
      await this.repo.spendAuthTokens('reset', user.id);
      const { link } = await this.newLink('reset', '/reset-password', { userId: user.id });
      await this.mailer.send({ to: user.email, subject: 'Reset your Hearth password', text: `Hello,\n\nsomeone (hopefully you) asked to reset your Hearth password. Open this link within an hour to choose a new one:\n\n${link}\n\nIf it was not you, ignore this message.\n` });
    })().catch((err: Error) => this.logger.error('auth.password.reset-mail-failed', { error: err.message }));
  }

  async resetPasswordWithToken(token: string, password: string, origin: Origin): Promise<void> {
    const hash = await this.hasher.hash(password);
    const user = await this.repo.transaction(async (repo) => {
      const row = await repo.consumeAuthToken('reset', hashToken(token));
      const user = row?.userId ? await repo.findUserById(row.userId) : undefined;
      if (!user || user.status !== 'active') throw new BadRequestError('link-invalid', 'This reset link is not valid: it was used already or has expired. Ask for a new one.');
      // Checked inside the transaction so a weak password does not spend the link.
      this.assertPassword(password, user.email);
      await repo.setPassword(user.id, hash);
      await repo.spendAuthTokens('reset', user.id);
      await repo.revokeUserSessions(user.id, 'password-reset');
      // A reset means someone else may have had the account: their API keys go too.
      const revokedKeys = await repo.revokeUserApiKeys(user.id);
      // Opening the mailed link proves the mailbox.
      if (!user.emailVerified) await repo.updateUser(user.id, { emailVerified: true });
      return { ...user, revokedKeys };
    });
    await this.audit.record({ action: 'auth.password.reset', actorUserId: user.id, targetType: 'user', targetId: user.id, metadata: { via: 'link', revokedApiKeys: user.revokedKeys }, ...origin });
  }

  // ---- user administration (admins) ------------------------------------------------------------

  async adminListUsers(opts: { limit: number; offset: number; search?: string }) {
    const { rows, total } = await this.repo.listUsers(opts);
    return { users: rows.map(toPublicUser), total };
  }

  async adminCreateUser(actor: Principal, input: { email: string; name: string; role: 'admin' | 'member'; password: string }, origin: Origin): Promise<PublicUser> {
    return this.createUser(input, { userId: actor.user.id, type: 'user' }, origin);
  }

  /** An invitation link (7 days, single use): mailed when SMTP is set, otherwise handed to the admin. */
  async adminInvite(actor: Principal, input: { email: string; name?: string; role: 'admin' | 'member' }, origin: Origin): Promise<{ email: string; role: string; expiresAt: string; emailed: boolean; link?: string }> {
    if (await this.repo.findUserByEmail(input.email)) throw new ConflictError('email-taken', 'An account with this email already exists.');
    const emailed = this.mailer.enabled;
    const { link, expiresAt } = await this.newLink('invite', '/invite', { createdBy: actor.user.id, metadata: { email: input.email.trim(), name: input.name?.trim() ?? null, role: input.role, emailed } });
    if (emailed) {
      await this.mailer.send({ to: input.email, subject: `${actor.user.name} invited you to Hearth`, text: `Hello${input.name ? ` ${input.name}` : ''},\n\n${actor.user.name} invited you to Hearth. Open this link within 7 days to create your account:\n\n${link}\n` });
    }
    await this.audit.record({ action: 'user.invite', actorUserId: actor.user.id, targetType: 'email', targetId: input.email.toLowerCase(), metadata: { role: input.role, emailed }, ...origin });
    return { email: input.email, role: input.role, expiresAt: expiresAt.toISOString(), emailed, ...(emailed ? {} : { link }) };
  }

  async acceptInvite(input: { token: string; name?: string; password: string }, origin: Origin): Promise<IssuedTokens> {
    const hash = await this.hasher.hash(input.password);
    const user = await this.repo.transaction(async (repo) => {
      const row = await repo.consumeAuthToken('invite', hashToken(input.token));
      if (!row) throw new BadRequestError('link-invalid', 'This invitation is not valid: it was used already or has expired. Ask for a new one.');
      const meta = row.metadata as { email: string; name: string | null; role: 'admin' | 'member'; emailed: boolean };
      // An invitation carries its inviter's authority: no admin accounts from a former admin's links.
      if (meta.role === 'admin' && !(row.createdBy && (await repo.isActiveAdmin(row.createdBy)))) throw new ForbiddenError('invite-revoked', 'This invitation is no longer valid. Ask an admin for a new one.');
      this.assertPassword(input.password, meta.email);
      if (await repo.findUserByEmail(meta.email)) throw new ConflictError('email-taken', 'An account with this email already exists. Sign in instead.');
      const name = input.name?.trim() || meta.name || meta.email.split('@')[0]!;
      // Whoever opened a mailed link has shown they read that mailbox.
      return repo.insertUser({ email: meta.email, name, role: meta.role, passwordHash: hash, emailVerified: meta.emailed });
    });
    await this.audit.record({ action: 'user.create', actorUserId: user.id, targetType: 'user', targetId: user.id, metadata: { via: 'invite', role: user.role }, ...origin });
    return this.issue(user, origin);
  }

  async adminUpdateUser(actor: Principal, id: string, changes: { status?: 'active' | 'disabled'; role?: 'admin' | 'member'; name?: string }, origin: Origin): Promise<PublicUser> {
    if (id === actor.user.id && changes.status === 'disabled') throw new ConflictError('cannot-disable-self', 'You cannot disable your own account.');
    // Checked and changed under one lock: two admins demoting each other at once cannot both win.
    const { user, updated } = await this.repo.transaction(async (repo) => {
      await repo.lockAdminChanges();
      const user = await repo.findUserById(id);
      if (!user) throw new NotFoundError('user-not-found', 'No such user.');
      const losesAdmin = user.role === 'admin' && user.status === 'active' && (changes.role === 'member' || changes.status === 'disabled');
      if (losesAdmin && (await repo.countOtherActiveAdmins(user.id)) === 0) throw new ConflictError('last-admin', 'This is the last active admin; make someone else an admin first.');
      const row = await repo.updateUser(id, changes);
      // Tokens are checked against the account on every request; ending sessions also stops refresh.
      if (changes.status === 'disabled' && user.status !== 'disabled') await repo.revokeUserSessions(id, 'account-disabled');
      return { user, updated: row! };
    });
    const base = { actorUserId: actor.user.id, targetType: 'user', targetId: id, ...origin };
    if (changes.status && changes.status !== user.status) await this.audit.record({ ...base, action: changes.status === 'disabled' ? 'user.disable' : 'user.enable' });
    if (changes.role && changes.role !== user.role) await this.audit.record({ ...base, action: 'user.role-change', metadata: { from: user.role, to: changes.role } });
    if (changes.name !== undefined && changes.name !== user.name) await this.audit.record({ ...base, action: 'user.update', metadata: { fields: ['name'] } });
    return toPublicUser(updated);
  }

  async adminDeleteUser(actor: Principal, id: string, origin: Origin): Promise<void> {
    if (id === actor.user.id) throw new ConflictError('cannot-delete-self', 'You cannot delete your own account.');
    const user = await this.repo.transaction(async (repo) => {
      await repo.lockAdminChanges();
      const user = await repo.findUserById(id);
      if (!user) throw new NotFoundError('user-not-found', 'No such user.');
      if (user.role === 'admin' && (await repo.countOtherActiveAdmins(user.id)) === 0) throw new ConflictError('last-admin', 'This is the last active admin.');
      await repo.deleteUser(id);
      return user;
    });
    await this.audit.record({ action: 'user.delete', actorUserId: actor.user.id, targetType: 'user', targetId: id, metadata: { role: user.role }, ...origin });
  }

  /** A reset link for someone: mailed to them when SMTP is set, otherwise shown to the admin. */
  async adminPasswordReset(actor: Principal, id: string, origin: Origin): Promise<{ emailed: boolean; link?: string; expiresAt: string }> {
    const user = await this.repo.findUserById(id);
    if (!user) throw new NotFoundError('user-not-found', 'No such user.');
    const { link, expiresAt } = await this.newLink('reset', '/reset-password', { userId: user.id, createdBy: actor.user.id });
    const emailed = this.mailer.enabled;
    if (emailed) await this.mailer.send({ to: user.email, subject: 'Reset your Hearth password', text: `Hello ${user.name},\n\nan administrator started a password reset for your account. Open this link within an hour to choose a new password:\n\n${link}\n` });
    await this.audit.record({ action: 'auth.password.reset-requested', actorUserId: actor.user.id, targetType: 'user', targetId: id, metadata: { sent: emailed, byAdmin: true }, ...origin });
    return { emailed, expiresAt: expiresAt.toISOString(), ...(emailed ? {} : { link }) };
  }

  /** Creates an account for someone (CLI now; the admin API later). */
  /** For the command line: act as an existing, active account (the operator has the server's shell). */
  async principalForEmail(email: string): Promise<Principal> {
    const user = await this.repo.findUserByEmail(email);
    if (!user || user.status !== 'active') throw new NotFoundError('user-not-found', `No active account with the email ${email}.`);
    return { user };
  }

  async createUser(input: { email: string; name: string; role: 'admin' | 'member'; password: string }, actor: { userId?: string; type: 'user' | 'system' }, origin?: Origin): Promise<PublicUser> {
    this.assertPassword(input.password, input.email);
    if (await this.repo.findUserByEmail(input.email)) throw new ConflictError('email-taken', 'An account with this email already exists.');
    const user = await this.repo.insertUser({ email: input.email.trim(), name: input.name.trim(), role: input.role, passwordHash: await this.hasher.hash(input.password), emailVerified: true });
    await this.audit.record({ action: 'user.create', actorUserId: actor.userId ?? null, actorType: actor.type, targetType: 'user', targetId: user.id, metadata: { role: input.role, via: actor.type === 'system' ? 'cli' : 'admin' }, ...origin });
    return toPublicUser(user);
  }

  /** Sets a new password for someone and ends all their sessions (CLI; admin reset later). */
  async resetPassword(email: string, password: string, actor: { userId?: string; type: 'user' | 'system' }): Promise<{ revokedSessions: number }> {
    const user = await this.repo.findUserByEmail(email);
    if (!user) throw new NotFoundError('user-not-found', `No account with the email ${email}.`);
    this.assertPassword(password, user.email);
    const hash = await this.hasher.hash(password);
    const revoked = await this.repo.transaction(async (repo) => {
      await repo.setPassword(user.id, hash);
      await repo.spendAuthTokens('reset', user.id);
      await repo.revokeUserApiKeys(user.id);
      return repo.revokeUserSessions(user.id, 'password-reset');
    });
    await this.audit.record({ action: 'auth.password.reset', actorUserId: actor.userId ?? null, actorType: actor.type, targetType: 'user', targetId: user.id, metadata: { revokedSessions: revoked } });
    return { revokedSessions: revoked };
  }

  // ---- first admin -------------------------------------------------------------------------

  async setupRequired(): Promise<boolean> {
    return (await this.repo.countAdmins()) === 0;
  }

  /**
   * On start: when no admin exists, create one from ADMIN_EMAIL/ADMIN_PASSWORD, or else print a
   * one-time setup link (valid until used) so that only whoever reads the server log can claim it.
   */
  async bootstrap(): Promise<{ created?: PublicUser; setupLink?: string }> {
    if (!(await this.setupRequired())) return {};
    const { email, password } = this.settings.admin;
    if (email && password) {
      const problems = passwordProblems(password, email);
      if (problems.length) {
        this.logger.error('auth.bootstrap.weak-password', { note: `ADMIN_PASSWORD ${problems.join('; ')}; no admin was created` });
        return {};
      }
      const user = await this.repo.insertUser({ email, name: 'Administrator', role: 'admin', passwordHash: await this.hasher.hash(password), emailVerified: true });
      await this.audit.record({ action: 'user.create', actorType: 'system', targetType: 'user', targetId: user.id, metadata: { via: 'ADMIN_EMAIL', role: 'admin' } });
      this.logger.info('auth.bootstrap.admin-created', { userId: user.id });
      return { created: toPublicUser(user) };
    }
    const token = newOpaqueToken();
    // Only the newest printed link works.
    await this.repo.spendAuthTokens('setup', null);
    await this.repo.insertAuthToken({ purpose: 'setup', tokenHash: hashToken(token) });
    const setupLink = `${this.settings.publicUrl}/setup?token=${token}`;
    this.logger.warn('auth.setup.link', { setupLink, note: 'No admin exists yet. Open this link to create the first admin; it works once.' });
    return { setupLink };
  }

  async completeSetup(input: { token: string; email: string; name: string; password: string }, origin: Origin): Promise<IssuedTokens> {
    this.assertPassword(input.password, input.email);
    const hash = await this.hasher.hash(input.password);
    const user = await this.repo.transaction(async (repo) => {
      if ((await repo.countAdmins()) > 0) throw new ConflictError('setup-complete', 'This instance already has an admin. Sign in instead.');
      if (!(await repo.consumeAuthToken('setup', hashToken(input.token)))) throw new ForbiddenError('setup-token-invalid', 'The setup link is not valid (or was already used). Restart the server to get a new one.');
      return repo.insertUser({ email: input.email.trim(), name: input.name.trim(), role: 'admin', passwordHash: hash, emailVerified: false });
    });
    await this.audit.record({ action: 'user.create', actorUserId: user.id, targetType: 'user', targetId: user.id, metadata: { via: 'setup-link', role: 'admin' }, ...origin });
    return this.issue(user, origin);
  }
}
