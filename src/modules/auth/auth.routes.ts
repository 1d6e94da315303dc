import type { Request, Response } from 'express';
import { z } from '../../platform/zod';
import type { ApiDocs } from '../../platform/openapi';
import type { RateLimitOptions } from '../../platform/http/rate-limit';
import { createRateLimiter } from '../../platform/http/rate-limit';
import { validated } from '../../platform/http/validate';
import { csrfTokenFor } from '../../platform/http/csrf';
import { UnauthorizedError } from '../../platform/errors';
import { AuditService } from '../../platform/audit/audit.service';
import { toPublicUser, type AuthService, type IssuedTokens, type Principal } from './auth.service';
import { clearAuthCookies, cookieNames, secureCookies, type AuthVia } from './auth.middleware';
import * as dto from './auth.dto';

export interface AuthRouteDeps {
  service: AuthService;
  csrfSecret: Buffer;
  credentialLimit: Omit<RateLimitOptions, 'name'>;
}

const principal = (req: Request): Principal & { via: AuthVia } => req.principal!;
const origin = AuditService.origin;

function setAuthCookies(req: Request, res: Response, issued: IssuedTokens, publicUrl: string, sessionMaxAgeMs?: number) {
  const secure = secureCookies(req, publicUrl);
  const names = cookieNames(secure);
  const base = { httpOnly: true, sameSite: 'lax' as const, secure, path: '/' };
  res.cookie(names.access, issued.accessToken, { ...base, maxAge: issued.expiresIn * 1000 });
  res.cookie(names.refresh, issued.refreshToken, { ...base, maxAge: sessionMaxAgeMs });
}


const tokenBody = (issued: IssuedTokens) => ({ access_token: issued.accessToken, refresh_token: issued.refreshToken, token_type: 'Bearer' as const, expires_in: issued.expiresIn });

export function authRoutes(docs: ApiDocs, deps: AuthRouteDeps & { sessionMaxAgeMs: number; publicUrl: string }) {
  const { service } = deps;
  const api = docs.router();
  // A per-ip cap on the credential endpoints only (never me, refresh or csrf).
  const credentials = createRateLimiter({ ...deps.credentialLimit, name: 'credentials', message: 'Too many sign-in attempts from this address. Try again later.' });
  const tags = ['auth'];
  const errors = { 400: { description: 'Invalid input' }, 401: { description: 'Not signed in or bad credentials' }, 429: { description: 'Throttled' } };

  api.route(
    { access: 'public', method: 'post', path: '/api/auth/login', summary: 'Sign in (browser): sets httpOnly cookies, answers with the user', tags, request: { body: dto.LoginBody }, responses: { 200: { description: 'Signed in', schema: dto.UserResponse }, ...errors } },
    credentials,
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.LoginBody }>(req);
      const issued = await service.login(body.email, body.password, origin(req), body);
      setAuthCookies(req, res, issued, deps.publicUrl, deps.sessionMaxAgeMs);
      res.json({ user: issued.user });
    },
  );

  api.route(
    { access: 'public', method: 'post', path: '/api/auth/token', summary: 'Sign in (programs): answers with an access and a refresh token', tags, request: { body: dto.LoginBody }, responses: { 200: { description: 'Tokens', schema: dto.TokenResponse }, ...errors } },
    credentials,
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.LoginBody }>(req);
      res.setHeader('Cache-Control', 'no-store');
      res.json(tokenBody(await service.login(body.email, body.password, origin(req), body)));
    },
  );

  api.route(
    {
      access: 'public',
      method: 'post',
      path: '/api/auth/refresh',
      summary: 'Rotate the refresh token: from the cookie (answers with cookies) or from the body (answers in JSON)',
      tags,
      request: { body: dto.RefreshBody },
      responses: { 200: { description: 'New tokens (JSON) or the user (cookies)', schema: z.union([dto.TokenResponse, dto.UserResponse]) }, ...errors },
    },
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.RefreshBody }>(req);
      res.setHeader('Cache-Control', 'no-store');
      if (body.refresh_token) {
        res.json(tokenBody(await service.refresh(body.refresh_token, origin(req))));
        return;
      }
      const cookies = req.cookies as Record<string, string> | undefined;
      const cookie = cookies?.['__Host-hearth_rt'] ?? cookies?.hearth_rt;
      if (!cookie) throw new UnauthorizedError('invalid-refresh-token', 'No refresh token was sent. Sign in again.');
      try {
        const issued = await service.refresh(cookie, origin(req));
        setAuthCookies(req, res, issued, deps.publicUrl, deps.sessionMaxAgeMs);
        res.json({ user: issued.user });
      } catch (err) {
        clearAuthCookies(req, res, deps.publicUrl);
        throw err;
      }
    },
  );

  api.route(
    { access: 'member', method: 'post', path: '/api/auth/logout', summary: 'End this session', tags, responses: { 204: { description: 'Signed out' }, 401: errors[401] } },
    async (req, res) => {
      await service.logout(principal(req), origin(req));
      clearAuthCookies(req, res, deps.publicUrl);
      res.status(204).end();
    },
  );

  api.route(
    { access: 'member', apiKeyScope: 'any', method: 'get', path: '/api/auth/me', summary: 'The signed-in user (also for API keys: who owns this key)', tags, responses: { 200: { description: 'The user', schema: dto.UserResponse }, 401: errors[401] } },
    (req, res) => {
      res.json({ user: toPublicUser(principal(req).user) });
    },
  );

  api.route(
    { access: 'member', method: 'get', path: '/api/auth/sessions', summary: "The signed-in user's active sessions", tags, responses: { 200: { description: 'Sessions', schema: dto.SessionsResponse }, 401: errors[401] } },
    async (req, res) => {
      res.json({ sessions: await service.listSessions(principal(req)) });
    },
  );

  api.route(
    { access: 'member', method: 'delete', path: '/api/auth/sessions/:id', summary: 'End one of your sessions', tags, request: { params: dto.SessionParams }, responses: { 204: { description: 'Ended' }, 404: { description: 'No such session of yours' }, 401: errors[401] } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.SessionParams }>(req);
      await service.revokeSession(principal(req), params.id, origin(req));
      res.status(204).end();
    },
  );

  api.route(
    { access: 'member', method: 'delete', path: '/api/auth/sessions', summary: 'Sign out everywhere else: end all your other sessions', tags, responses: { 200: { description: 'Ended', schema: dto.RevokedSessionsResponse }, 401: errors[401] } },
    async (req, res) => {
      res.json(await service.revokeOtherSessions(principal(req), origin(req)));
    },
  );

  api.route(
    { access: 'member', method: 'put', path: '/api/auth/password', summary: 'Change your password (ends your other sessions)', tags, request: { body: dto.PasswordChangeBody }, responses: { 200: { description: 'Changed', schema: z.object({ revokedSessions: z.number() }) }, ...errors } },
    credentials,
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.PasswordChangeBody }>(req);
      res.json(await service.changePassword(principal(req), body.currentPassword, body.newPassword, origin(req)));
    },
  );

  api.route(
    { access: 'member', method: 'get', path: '/api/auth/csrf', summary: 'The CSRF token for cookie-authenticated writes (send it as X-CSRF-Token)', tags, responses: { 200: { description: 'Token (null for bearer callers, who need none)', schema: dto.CsrfResponse }, 401: errors[401] } },
    (req, res) => {
      const p = principal(req);
      res.setHeader('Cache-Control', 'no-store');
      res.json({ csrfToken: p.via === 'cookie' && p.sessionId ? csrfTokenFor(deps.csrfSecret, p.sessionId) : null });
    },
  );

  api.route(
    { access: 'public', method: 'post', path: '/api/auth/register', summary: 'Create an account (only when ALLOW_SIGNUP=true)', tags, request: { body: dto.RegisterBody }, responses: { 201: { description: 'Created', schema: dto.UserResponse }, 403: { description: 'Sign-up is closed' }, 409: { description: 'Email taken' }, ...errors } },
    credentials,
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.RegisterBody }>(req);
      res.status(201).json({ user: await service.register(body, origin(req)) });
    },
  );

  api.route(
    { access: 'public', method: 'get', path: '/api/auth/setup', summary: 'Whether the instance still needs its first admin', tags, responses: { 200: { description: 'Status', schema: dto.SetupStatusResponse } } },
    async (_req, res) => {
      res.json({ setupRequired: await service.setupRequired() });
    },
  );

  api.route(
    { access: 'public', method: 'post', path: '/api/auth/setup', summary: 'Create the first admin with the one-time link printed in the server log', tags, request: { body: dto.SetupBody }, responses: { 201: { description: 'Admin created and signed in', schema: dto.UserResponse }, 403: { description: 'Bad or used link' }, 409: { description: 'An admin already exists' }, ...errors } },
    credentials,
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.SetupBody }>(req);
      const issued = await service.completeSetup(body, origin(req));
      setAuthCookies(req, res, issued, deps.publicUrl, deps.sessionMaxAgeMs);
      res.status(201).json({ user: issued.user });
    },
  );

  const totpTags = ['auth', '2fa'];
  api.route(
    { access: 'member', method: 'post', path: '/api/auth/totp/setup', summary: 'Start two-factor setup (needs your password): a new secret, its otpauth URI and QR code', tags: totpTags, request: { body: dto.TotpSetupBody }, responses: { 200: { description: 'Scan this, then confirm with a code', schema: dto.TotpSetupResponse }, 409: { description: 'Already on' }, ...errors } },
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.TotpSetupBody }>(req);
      res.setHeader('Cache-Control', 'no-store');
      res.json(await service.startTotpSetup(principal(req), body.password, origin(req)));
    },
  );
  api.route(
    { access: 'member', method: 'post', path: '/api/auth/totp/confirm', summary: 'Turn two-factor on with a code from the app; answers with 10 single-use recovery codes', tags: totpTags, request: { body: dto.TotpConfirmBody }, responses: { 200: { description: 'On; keep these codes safe', schema: dto.RecoveryCodesResponse }, ...errors } },
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.TotpConfirmBody }>(req);
      res.setHeader('Cache-Control', 'no-store');
      res.json(await service.confirmTotp(principal(req), body.code, origin(req)));
    },
  );
  api.route(
    { access: 'member', method: 'post', path: '/api/auth/totp/disable', summary: 'Turn two-factor off (password and a code or recovery code)', tags: totpTags, request: { body: dto.TotpDisableBody }, responses: { 204: { description: 'Off' }, ...errors } },
    credentials,
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.TotpDisableBody }>(req);
      await service.disableTotp(principal(req), body.password, body.code, origin(req));
      res.status(204).end();
    },
  );

  // ---- links sent by mail (or handed over by an admin) ----
  api.route(
    { access: 'public', method: 'post', path: '/api/auth/invites/accept', summary: 'Create your account from an invitation link (signs you in)', tags, request: { body: dto.AcceptInviteBody }, responses: { 201: { description: 'Account created', schema: dto.UserResponse }, ...errors } },
    credentials,
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.AcceptInviteBody }>(req);
      const issued = await service.acceptInvite(body, origin(req));
      setAuthCookies(req, res, issued, deps.publicUrl, deps.sessionMaxAgeMs);
      res.status(201).json({ user: issued.user });
    },
  );
  api.route(
    { access: 'public', method: 'post', path: '/api/auth/password/forgot', summary: 'Mail a password-reset link (same answer whether or not the account exists)', tags, request: { body: dto.ForgotPasswordBody }, responses: { 202: { description: 'Accepted' }, ...errors } },
    credentials,
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.ForgotPasswordBody }>(req);
      await service.forgotPassword(body.email, origin(req));
      res.status(202).json({ message: 'If an account with this email exists, a reset link is on its way.' });
    },
  );
  api.route(
    { access: 'public', method: 'post', path: '/api/auth/password/reset', summary: 'Set a new password with a reset link (ends every session)', tags, request: { body: dto.ResetPasswordBody }, responses: { 204: { description: 'Password set' }, ...errors } },
    credentials,
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.ResetPasswordBody }>(req);
      await service.resetPasswordWithToken(body.token, body.password, origin(req));
      res.status(204).end();
    },
  );
  api.route(
    { access: 'public', method: 'post', path: '/api/auth/email/verify', summary: 'Confirm an email address with the mailed link', tags, request: { body: dto.VerifyEmailBody }, responses: { 204: { description: 'Verified' }, ...errors } },
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.VerifyEmailBody }>(req);
      await service.verifyEmail(body.token, origin(req));
      res.status(204).end();
    },
  );

  // ---- user administration ----
  const adminTags = ['admin', 'users'];
  const adminErrors = { ...errors, 403: { description: 'Not an admin' }, 404: { description: 'No such user' }, 409: { description: 'Conflict (email taken, last admin, yourself)' } };
  api.route(
    { access: 'admin', method: 'get', path: '/api/admin/users', summary: 'Users (search, paged)', tags: adminTags, request: { query: dto.AdminListUsersQuery }, responses: { 200: { description: 'A page of users', schema: dto.UsersPage }, ...adminErrors } },
    async (req, res) => {
      const { query } = validated<{ query: typeof dto.AdminListUsersQuery }>(req);
      res.json(await service.adminListUsers(query));
    },
  );
  api.route(
    { access: 'admin', method: 'post', path: '/api/admin/users', summary: 'Create a user with a password', tags: adminTags, request: { body: dto.AdminCreateUserBody }, responses: { 201: { description: 'Created', schema: dto.UserResponse }, ...adminErrors } },
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.AdminCreateUserBody }>(req);
      res.status(201).json({ user: await service.adminCreateUser(principal(req), body, origin(req)) });
    },
  );
  api.route(
    { access: 'admin', method: 'post', path: '/api/admin/invites', summary: 'Invite someone (a 7-day, single-use link; mailed when SMTP is set, else answered)', tags: adminTags, request: { body: dto.AdminInviteBody }, responses: { 201: { description: 'Invited', schema: dto.InviteResponse }, ...adminErrors } },
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.AdminInviteBody }>(req);
      res.setHeader('Cache-Control', 'no-store');
      res.status(201).json(await service.adminInvite(principal(req), body, origin(req)));
    },
  );
  api.route(
    { access: 'admin', method: 'patch', path: '/api/admin/users/:id', summary: 'Disable, enable, rename or change the role of a user', tags: adminTags, request: { params: dto.IdParams, body: dto.AdminUpdateUserBody }, responses: { 200: { description: 'Updated', schema: dto.UserResponse }, ...adminErrors } },
    async (req, res) => {
      const { params, body } = validated<{ params: typeof dto.IdParams; body: typeof dto.AdminUpdateUserBody }>(req);
      res.json({ user: await service.adminUpdateUser(principal(req), params.id, body, origin(req)) });
    },
  );
  api.route(
    { access: 'admin', method: 'delete', path: '/api/admin/users/:id', summary: 'Delete a user', tags: adminTags, request: { params: dto.IdParams }, responses: { 204: { description: 'Deleted' }, ...adminErrors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.IdParams }>(req);
      await service.adminDeleteUser(principal(req), params.id, origin(req));
      res.status(204).end();
    },
  );
  api.route(
    { access: 'admin', method: 'post', path: '/api/admin/users/:id/password-reset', summary: "Start a password reset for a user (mailed, or the link is answered when SMTP is off)", tags: adminTags, request: { params: dto.IdParams }, responses: { 201: { description: 'Reset link made', schema: dto.ResetLinkResponse }, ...adminErrors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.IdParams }>(req);
      res.setHeader('Cache-Control', 'no-store');
      res.status(201).json(await service.adminPasswordReset(principal(req), params.id, origin(req)));
    },
  );

  api.route(
    { access: 'admin', method: 'delete', path: '/api/admin/users/:id/sessions', summary: "End every session of a user", tags: adminTags, request: { params: dto.IdParams }, responses: { 200: { description: 'Ended', schema: dto.RevokedSessionsResponse }, ...adminErrors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.IdParams }>(req);
      res.json(await service.adminRevokeSessions(principal(req), params.id, origin(req)));
    },
  );
  api.route(
    { access: 'admin', method: 'delete', path: '/api/admin/users/:id/totp', summary: "Turn off a user's two-factor authentication (lost device); ends their sessions", tags: adminTags, request: { params: dto.IdParams }, responses: { 204: { description: 'Off' }, ...adminErrors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.IdParams }>(req);
      await service.adminResetTotp(principal(req), params.id, origin(req));
      res.status(204).end();
    },
  );

  const keyTags = ['api-keys'];
  api.route(
    { access: 'member', method: 'post', path: '/api/keys', summary: 'Create an API key (the secret is shown once)', tags: keyTags, request: { body: dto.CreateApiKeyBody }, responses: { 201: { description: 'Created', schema: dto.CreatedApiKeyResponse }, ...errors } },
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.CreateApiKeyBody }>(req);
      res.setHeader('Cache-Control', 'no-store');
      res.status(201).json(await service.createApiKey(principal(req), body, origin(req)));
    },
  );
  api.route(
    { access: 'member', method: 'get', path: '/api/keys', summary: 'Your API keys (never their secrets)', tags: keyTags, responses: { 200: { description: 'Keys', schema: dto.ApiKeysResponse }, 401: errors[401] } },
    async (req, res) => {
      res.json({ keys: await service.listApiKeys(principal(req)) });
    },
  );
  api.route(
    { access: 'member', method: 'delete', path: '/api/keys/:id', summary: 'Revoke one of your API keys', tags: keyTags, request: { params: dto.IdParams }, responses: { 204: { description: 'Revoked' }, 404: { description: 'No such key of yours' }, 401: errors[401] } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.IdParams }>(req);
      await service.revokeApiKey(principal(req), params.id, origin(req));
      res.status(204).end();
    },
  );

  return api.router;
}
