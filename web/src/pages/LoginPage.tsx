import { useState, type FormEvent } from 'react';
import { Navigate, useNavigate, useSearchParams } from 'react-router';
import { api, ApiError, messageOf } from '../lib/api';
import { useAuth } from '../lib/auth';
import type { User } from '../lib/types';
import { ErrorNote, Field } from '../components/ui';

/** Only a path on this site: `next` comes from the address bar and must not send anyone elsewhere. */
export const safeNext = (next: string | null) => (next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/');

export function LoginPage() {
  const { user, setUser } = useAuth();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [step, setStep] = useState<'password' | 'code'>('password');
  const [code, setCode] = useState('');
  const [useRecovery, setUseRecovery] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const next = safeNext(params.get('next'));
  if (user) return <Navigate to={next} replace />;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, string> = { email, password };
      if (step === 'code') body[useRecovery ? 'recoveryCode' : 'totpCode'] = code.trim();
      const res = await api<{ user: User }>('/api/auth/login', { body });
      setUser(res.user);
      navigate(next, { replace: true });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'totp-required' && step === 'password') {
        setStep('code');
      } else if (err instanceof ApiError && err.status === 429 && err.retryAfterSeconds && !/minute|second/i.test(err.message)) {
        setError(`${err.message} Try again in ${err.retryAfterSeconds < 90 ? `${err.retryAfterSeconds} seconds` : `${Math.ceil(err.retryAfterSeconds / 60)} minutes`}.`);
      } else setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="narrow auth-page">
      <header className="brand">
        <img src="/favicon.svg" alt="" width={40} height={40} />
        <h1>Sign in to Hearth</h1>
      </header>
      {params.get('next') && !error && <p className="muted">Your session ended. Sign in to go on where you were.</p>}
      <form className="card stack" onSubmit={(e) => void submit(e)} aria-label="Sign in">
        {step === 'password' ? (
          <>
            <Field label="Email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} autoFocus />
            <Field label="Password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
          </>
        ) : (
          <>
            <p>Two-factor authentication is on for {email}.</p>
            {useRecovery ? (
              <Field label="Recovery code" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value)} autoFocus />
            ) : (
              <Field label="6-digit code from your authenticator app" inputMode="numeric" pattern="\d{6}" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value)} autoFocus />
            )}
            <button type="button" className="link-button" onClick={() => (setUseRecovery((r) => !r), setCode(''))}>
              {useRecovery ? 'Use a code from the app instead' : 'Use a recovery code instead'}
            </button>
          </>
        )}
        <ErrorNote error={error} testId="login-error" />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : step === 'code' ? 'Verify and sign in' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
