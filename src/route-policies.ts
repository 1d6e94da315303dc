/**
 * Who may call each route, as a committed table. The auth matrix test (route-policies.api.test.ts)
 * checks every route the app serves against it: a route missing here fails the build, and so does
 * a route whose behaviour does not match its line.
 *
 *   public  anyone (credential endpoints are still rate limited)
 *   member  any signed-in user (cookie or bearer)
 *   admin   signed-in admins only
 *   owner   signed-in, and the resource must be the caller's (others' answer 404)
 */
export type Policy = 'public' | 'member' | 'admin' | 'owner';

export const ROUTE_POLICIES: Record<string, Policy> = {
  'GET /health/live': 'public',
  'GET /health/ready': 'public',
  'GET /metrics': 'public', // guarded by METRICS_TOKEN instead of a user
  'GET /api/openapi.json': 'public',
  'GET /api/diagnostics/stream': 'public', // DIAGNOSTICS_ROUTES only
  'GET /api/diagnostics/slow': 'public',
  'GET /api/diagnostics/error': 'public',

  'POST /api/auth/login': 'public',
  'POST /api/auth/token': 'public',
  'POST /api/auth/refresh': 'public', // the refresh token is the credential
  'POST /api/auth/register': 'public', // only when ALLOW_SIGNUP=true
  'GET /api/auth/setup': 'public',
  'POST /api/auth/setup': 'public', // the one-time setup token is the credential
  'POST /api/auth/logout': 'member',
  'GET /api/auth/me': 'member',
  'GET /api/auth/sessions': 'member',
  'DELETE /api/auth/sessions/:id': 'owner',
  'DELETE /api/auth/sessions': 'member',
  'DELETE /api/admin/users/:id/sessions': 'admin',
  'DELETE /api/admin/users/:id/totp': 'admin',
  'PUT /api/auth/password': 'member',
  'GET /api/auth/csrf': 'member',
  'POST /api/auth/invites/accept': 'public', // the invitation token is the credential
  'POST /api/auth/password/forgot': 'public',
  'POST /api/auth/password/reset': 'public', // the reset token is the credential
  'POST /api/auth/email/verify': 'public',
  'GET /api/admin/users': 'admin',
  'POST /api/admin/users': 'admin',
  'POST /api/admin/invites': 'admin',
  'PATCH /api/admin/users/:id': 'admin',
  'DELETE /api/admin/users/:id': 'admin',
  'POST /api/admin/users/:id/password-reset': 'admin',
  'POST /api/auth/totp/setup': 'member',
  'POST /api/auth/totp/confirm': 'member',
  'POST /api/auth/totp/disable': 'member',
  'GET /api/knowledge-bases': 'member', // own + organization-wide (all for admins)
  'POST /api/knowledge-bases': 'member',
  'GET /api/knowledge-bases/:id': 'owner', // or organization-wide; others' private ones answer 404
  'PATCH /api/knowledge-bases/:id': 'owner',
  'DELETE /api/knowledge-bases/:id': 'owner',
  'GET /api/knowledge-bases/:id/search': 'owner', // or organization-wide
  'POST /api/knowledge-bases/:id/reindex': 'owner',
  'GET /api/knowledge-bases/:id/entries': 'owner', // readers of the knowledge base
  'POST /api/knowledge-bases/:id/entries': 'owner', // writers of the knowledge base
  'GET /api/knowledge-bases/:id/entries/:entryId': 'owner',
  'PATCH /api/knowledge-bases/:id/entries/:entryId': 'owner',
  'DELETE /api/knowledge-bases/:id/entries/:entryId': 'owner',
  'GET /api/knowledge-bases/:id/entries/:entryId/revisions': 'owner',
  'POST /api/knowledge-bases/:id/entries/:entryId/revisions': 'owner',
  'GET /api/knowledge-bases/:id/entries/:entryId/revisions/:number': 'owner',
  'GET /api/knowledge-bases/:id/entries/:entryId/revisions/:number/original': 'owner',
  'POST /api/knowledge-bases/:id/entries/:entryId/revisions/:number/restore': 'owner',
  'GET /api/knowledge-bases/:id/entries/:entryId/diff': 'owner',
  'GET /api/jobs/events': 'member', // the caller's own jobs only
  'GET /api/jobs/:id': 'owner', // the job's user (or an admin)
  'POST /api/jobs/:id/cancel': 'owner',
  'POST /api/keys': 'member',
  'GET /api/keys': 'member',
  'DELETE /api/keys/:id': 'owner',
  'GET /api/agents': 'member', // the agents the caller may use
  'GET /api/agents/:id': 'member', // admins-only and archived agents answer 404 to members
  'POST /api/agents': 'admin',
  'PATCH /api/agents/:id': 'admin',
  'DELETE /api/agents/:id': 'admin',
  'POST /api/conversations': 'member',
  'GET /api/conversations': 'member', // the caller's own
  'GET /api/conversations/:id': 'owner',
  'PATCH /api/conversations/:id': 'owner',
  'DELETE /api/conversations/:id': 'owner',
  'POST /api/conversations/:id/messages': 'owner',
  'POST /api/conversations/:id/regenerate': 'owner',
  'GET /api/conversations/:id/export': 'owner',
  'GET /api/providers': 'admin',
  'POST /api/providers': 'admin',
  'PATCH /api/providers/:id': 'admin',
  'DELETE /api/providers/:id': 'admin',
  'GET /v1/models': 'member', // the agents the caller may use
  'POST /v1/chat/completions': 'member',
};

/**
 * Routes an API key may call, with the scope it needs (`any`: every key). Everything else that is
 * not public needs an interactive sign-in: keys never manage keys, sessions, password or 2FA, and
 * never reach admin routes.
 */
export const API_KEY_ROUTES: Record<string, string> = {
  'GET /api/auth/me': 'any',
  'GET /api/knowledge-bases': 'knowledge-bases',
  'POST /api/knowledge-bases': 'knowledge-bases',
  'GET /api/knowledge-bases/:id': 'knowledge-bases',
  'PATCH /api/knowledge-bases/:id': 'knowledge-bases',
  'DELETE /api/knowledge-bases/:id': 'knowledge-bases',
  'GET /api/knowledge-bases/:id/search': 'knowledge-bases',
  'POST /api/knowledge-bases/:id/reindex': 'knowledge-bases',
  'GET /api/knowledge-bases/:id/entries': 'knowledge-bases',
  'POST /api/knowledge-bases/:id/entries': 'knowledge-bases',
  'GET /api/knowledge-bases/:id/entries/:entryId': 'knowledge-bases',
  'PATCH /api/knowledge-bases/:id/entries/:entryId': 'knowledge-bases',
  'DELETE /api/knowledge-bases/:id/entries/:entryId': 'knowledge-bases',
  'GET /api/knowledge-bases/:id/entries/:entryId/revisions': 'knowledge-bases',
  'POST /api/knowledge-bases/:id/entries/:entryId/revisions': 'knowledge-bases',
  'GET /api/knowledge-bases/:id/entries/:entryId/revisions/:number': 'knowledge-bases',
  'GET /api/knowledge-bases/:id/entries/:entryId/revisions/:number/original': 'knowledge-bases',
  'POST /api/knowledge-bases/:id/entries/:entryId/revisions/:number/restore': 'knowledge-bases',
  'GET /api/knowledge-bases/:id/entries/:entryId/diff': 'knowledge-bases',
  'GET /api/jobs/events': 'knowledge-bases',
  'GET /api/jobs/:id': 'knowledge-bases',
  'POST /api/jobs/:id/cancel': 'knowledge-bases',
  'GET /api/agents': 'chat',
  'GET /api/agents/:id': 'chat',
  'POST /api/conversations': 'conversations',
  'GET /api/conversations': 'conversations',
  'GET /api/conversations/:id': 'conversations',
  'PATCH /api/conversations/:id': 'conversations',
  'DELETE /api/conversations/:id': 'conversations',
  'POST /api/conversations/:id/messages': 'conversations',
  'POST /api/conversations/:id/regenerate': 'conversations',
  'GET /api/conversations/:id/export': 'conversations',
  'GET /v1/models': 'chat',
  'POST /v1/chat/completions': 'chat',
};
