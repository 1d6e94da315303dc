import { NotFoundError } from '../../platform/errors';
import type { Principal } from './auth.service';

/**
 * For later modules: a resource the caller may not see answers exactly like one that does not
 * exist (404), so ids cannot be probed. Admins may see everything only where `adminSees` says so.
 */
export function ensureVisible(principal: Pick<Principal, 'user'> | undefined, resource: { ownerId: string } | undefined, opts: { code: string; what: string; adminSees?: boolean }): asserts resource is { ownerId: string } {
  const visible = Boolean(resource && principal && (resource.ownerId === principal.user.id || (opts.adminSees && principal.user.role === 'admin')));
  if (!visible) throw new NotFoundError(opts.code, `No such ${opts.what}.`);
}
