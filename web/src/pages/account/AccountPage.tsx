import { useCallback, useState } from 'react';
import { useUser } from '../../lib/auth';
import { PageHeader } from '../../components/ui';
import { ProfileSection } from './ProfileSection';
import { PasswordSection } from './PasswordSection';
import { TwoFactorSection } from './TwoFactorSection';
import { SessionsSection } from './SessionsSection';
import { ApiKeysSection } from './ApiKeysSection';
import './account.css';

export default function AccountPage() {
  const user = useUser();
  // Changing the password or two-factor setting ends the other sessions: the list must re-read.
  const [sessionsVersion, setSessionsVersion] = useState(0);
  const sessionsChanged = useCallback(() => setSessionsVersion((v) => v + 1), []);
  return (
    <div className="page account-page">
      <PageHeader title="Account" />
      <ProfileSection user={user} />
      <PasswordSection email={user.email} onOtherSessionsEnded={sessionsChanged} />
      <TwoFactorSection user={user} onOtherSessionsEnded={sessionsChanged} />
      <SessionsSection version={sessionsVersion} />
      <ApiKeysSection />
    </div>
  );
}
