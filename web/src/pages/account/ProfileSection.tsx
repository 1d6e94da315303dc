import type { User } from '../../lib/types';
import { when } from '../../lib/format';

export function ProfileSection({ user }: { user: User }) {
  return (
    <section className="card" aria-labelledby="acct-profile">
      <h2 id="acct-profile">Profile</h2>
      <dl className="acct-facts" data-testid="profile">
        <dt>Name</dt>
        <dd>{user.name}</dd>
        <dt>Email</dt>
        <dd>
          <span className="acct-wrap">{user.email}</span>
          {!user.emailVerified && <span className="acct-badge">not verified</span>}
        </dd>
        <dt>Role</dt>
        <dd>{user.role === 'admin' ? 'Admin' : 'Member'}</dd>
        <dt>Two-factor authentication</dt>
        <dd data-testid="profile-2fa">{user.twoFactorEnabled ? 'On' : 'Off'}</dd>
        <dt>Member since</dt>
        <dd>{when(user.createdAt)}</dd>
      </dl>
    </section>
  );
}
