import { z } from '../../platform/zod';
import { API_KEY_SCOPES } from './auth.schema';

const email = z.email({ message: 'must be an email address' }).max(254, { message: 'must be at most 254 characters' });
// Length is checked by the password policy (12–128 characters) with a clearer message; this only
// keeps absurd bodies out.
const password = z.string().min(1, { message: 'is required' }).max(1024, { message: 'is too long' });
const name = z.string().trim().min(1, { message: 'is required' }).max(100, { message: 'must be at most 100 characters' });

const totpCode = z.string().regex(/^\d{6}$/, { message: 'must be 6 digits' });
const recoveryCode = z.string().min(20).max(40);
export const LoginBody = z
  .object({ email, password, totpCode: totpCode.optional(), recoveryCode: recoveryCode.optional() })
  .openapi('LoginRequest');
export const TotpConfirmBody = z.object({ code: totpCode }).openapi('TotpConfirmRequest');
export const TotpDisableBody = z.object({ password, code: z.string().min(6).max(40) }).openapi('TotpDisableRequest');
export const TotpSetupResponse = z.object({ secret: z.string(), otpauthUrl: z.string(), qrCode: z.string().openapi({ description: 'PNG as a data: URL' }) });
export const RecoveryCodesResponse = z.object({ recoveryCodes: z.array(z.string()) });
export const RegisterBody = z.object({ email, name, password }).openapi('RegisterRequest');
export const SetupBody = z.object({ token: z.string().min(16).max(200), email, name, password }).openapi('SetupRequest');
export const RefreshBody = z.object({ refresh_token: z.string().min(16).max(200).optional() }).openapi('RefreshRequest');
export const PasswordChangeBody = z.object({ currentPassword: password, newPassword: password }).openapi('PasswordChangeRequest');
export const SessionParams = z.object({ id: z.uuid({ message: 'must be a session id' }) });

export const UserSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    name: z.string(),
    role: z.enum(['admin', 'member']),
    status: z.enum(['active', 'disabled']),
    emailVerified: z.boolean(),
    twoFactorEnabled: z.boolean(),
    createdAt: z.string(),
  })
  .openapi('User');
export const UserResponse = z.object({ user: UserSchema });
export const TokenResponse = z
  .object({ access_token: z.string(), refresh_token: z.string(), token_type: z.literal('Bearer'), expires_in: z.number() })
  .openapi('TokenResponse');
export const SessionSchema = z
  .object({ id: z.uuid(), current: z.boolean(), ip: z.string().nullable(), userAgent: z.string().nullable(), createdAt: z.string(), lastSeenAt: z.string(), expiresAt: z.string() })
  .openapi('Session');
export const SessionsResponse = z.object({ sessions: z.array(SessionSchema) });
export const CsrfResponse = z.object({ csrfToken: z.string().nullable() });
export const SetupStatusResponse = z.object({ setupRequired: z.boolean() });

export const IdParams = z.object({ id: z.uuid({ message: 'must be an id' }) });
export const CreateApiKeyBody = z
  .object({
    name: z.string().trim().min(1, { message: 'is required' }).max(100, { message: 'must be at most 100 characters' }),
    scopes: z.array(z.enum(API_KEY_SCOPES)).min(1, { message: 'needs at least one scope' }),
    expiresInDays: z.number().int().min(1).max(3650).optional(),
  })
  .openapi('CreateApiKeyRequest');
export const ApiKeySchema = z
  .object({ id: z.uuid(), name: z.string(), prefix: z.string(), scopes: z.array(z.enum(API_KEY_SCOPES)), createdAt: z.string(), expiresAt: z.string().nullable(), lastUsedAt: z.string().nullable() })
  .openapi('ApiKey');
export const CreatedApiKeyResponse = z.object({ key: ApiKeySchema, secret: z.string().openapi({ description: 'The key itself (hk_…); shown only now' }) });
export const ApiKeysResponse = z.object({ keys: z.array(ApiKeySchema) });

const role = z.enum(['admin', 'member']);
const linkToken = z.string().min(16).max(200);
export const AdminCreateUserBody = z.object({ email, name, role: role.default('member'), password }).openapi('AdminCreateUserRequest');
export const AdminInviteBody = z.object({ email, name: name.optional(), role: role.default('member') }).openapi('InviteRequest');
export const AdminUpdateUserBody = z
  .object({ status: z.enum(['active', 'disabled']).optional(), role: role.optional(), name: name.optional() })
  .refine((v) => Object.keys(v).length > 0, { message: 'name at least one of status, role, name' })
  .openapi('AdminUpdateUserRequest');
export const AdminListUsersQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).default(0),
  search: z.string().trim().max(100).optional(),
});
export const UsersPage = z.object({ users: z.array(UserSchema), total: z.number() });
export const InviteResponse = z.object({ email: z.string(), role: z.string(), expiresAt: z.string(), emailed: z.boolean(), link: z.string().optional().openapi({ description: 'Only when SMTP is not configured: give it to the person yourself' }) });
export const ResetLinkResponse = z.object({ emailed: z.boolean(), expiresAt: z.string(), link: z.string().optional() });
export const AcceptInviteBody = z.object({ token: linkToken, name: name.optional(), password }).openapi('AcceptInviteRequest');
export const ForgotPasswordBody = z.object({ email }).openapi('ForgotPasswordRequest');
export const ResetPasswordBody = z.object({ token: linkToken, password }).openapi('ResetPasswordRequest');
export const VerifyEmailBody = z.object({ token: linkToken }).openapi('VerifyEmailRequest');
export const TotpSetupBody = z.object({ password }).openapi('TotpSetupRequest');
export const RevokedSessionsResponse = z.object({ revokedSessions: z.number() });
