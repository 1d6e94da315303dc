import { useEffect, useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { api, messageOf } from '../lib/api';
import { useAuth } from '../lib/auth';
import type { User } from '../lib/types';
import { ErrorNote, Field, Spinner } from '../components/ui';

/** First run: the one-time link the server printed creates the first admin and signs them in. */
export function SetupPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const { setUser } = useAuth();
  const navigate = useNavigate();
  const [required, setRequired] = useState<boolean | null>(null);
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api<{ setupRequired: boolean }>('/api/auth/setup')
      .then((r) => setRequired(r.setupRequired))
      .catch((err: unknown) => setError(messageOf(err)));
  }, []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const res = await api<{ user: User }>('/api/auth/setup', { body: { token, name, email, password } });
      setUser(res.user);
      navigate('/', { replace: true });
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="narrow auth-page">
      <header className="brand">
        <img src="/favicon.svg" alt="" width={40} height={40} />
        <h1>Set up Hearth</h1>
      </header>
      {required === null && !error && <Spinner />}
      {required === false && (
        <p className="card">
          Hearth is already set up. <Link to="/login">Sign in</Link>
        </p>
      )}
      {required && !token && <p className="card">Open the one-time setup link that the server printed in its log when it started (it ends in <code>/setup?token=…</code>).</p>}
      {required && token && (
        <form className="card stack" onSubmit={(e) => void submit(e)} aria-label="Create the first admin">
          <p>Create the first administrator account. This link works once.</p>
          <Field label="Your name" autoComplete="name" required value={name} onChange={(e) => setName(e.target.value)} autoFocus />
          <Field label="Email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
          <Field label="Password" type="password" autoComplete="new-password" required minLength={12} hint="At least 12 characters; not easy to guess." value={password} onChange={(e) => setPassword(e.target.value)} />
          <ErrorNote error={error} testId="setup-error" />
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create admin and sign in'}
          </button>
        </form>
      )}
      {!required && <ErrorNote error={error} />}
    </main>
  );
}
