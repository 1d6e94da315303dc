import { useState, type FormEvent } from 'react';
import { api, messageOf } from '../../lib/api';
import { ErrorNote, Field, Notice } from '../../components/ui';

export function PasswordSection({ email, onOtherSessionsEnded }: { email: string; onOtherSessionsEnded: () => void }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setDone(null);
    if (next !== again) {
      setError('The new password and its confirmation do not match.');
      return;
    }
    setBusy(true);
    try {
      const res = await api<{ revokedSessions: number }>('/api/auth/password', { method: 'PUT', body: { currentPassword: current, newPassword: next } });
      setCurrent('');
      setNext('');
      setAgain('');
      const n = res.revokedSessions;
      setDone(n > 0 ? `Your password was changed. ${n} other ${n === 1 ? 'session was' : 'sessions were'} signed out.` : 'Your password was changed.');
      onOtherSessionsEnded();
    } catch (err) {
      // The policy (length, common passwords, guessability) lives on the server; its message says what to fix.
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="acct-password">
      <h2 id="acct-password">Change password</h2>
      <form className="stack" onSubmit={(e) => void submit(e)} data-testid="password-form">
        {/* Lets password managers tie the new password to the right account. */}
        <input type="email" name="username" autoComplete="username" value={email} readOnly hidden />
        <Field label="Current password" type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
        <Field label="New password" type="password" autoComplete="new-password" required hint="At least 12 characters; a few unrelated words make a strong one." value={next} onChange={(e) => setNext(e.target.value)} />
        <Field label="Confirm new password" type="password" autoComplete="new-password" required value={again} onChange={(e) => setAgain(e.target.value)} />
        <p className="muted acct-note">Changing your password signs you out on your other devices and browsers; this one stays signed in.</p>
        <ErrorNote error={error} testId="password-error" />
        {done && <Notice>{done}</Notice>}
        <div className="row">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Changing…' : 'Change password'}
          </button>
        </div>
      </form>
    </section>
  );
}
