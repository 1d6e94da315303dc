import { useState, type FormEvent } from 'react';
import { api, ApiError, messageOf } from '../../lib/api';
import { useAuth } from '../../lib/auth';
import type { User } from '../../lib/types';
import { ErrorNote, Field, Notice } from '../../components/ui';
import { CopyButton } from '../../components/CopyButton';

interface TotpSetup {
  secret: string;
  otpauthUrl: string;
  qrCode: string;
}

type Stage = { name: 'idle' } | { name: 'password' } | { name: 'scan'; setup: TotpSetup } | { name: 'codes'; codes: string[] };

export function TwoFactorSection({ user, onOtherSessionsEnded }: { user: User; onOtherSessionsEnded: () => void }) {
  const { reload } = useAuth();
  const [stage, setStage] = useState<Stage>({ name: 'idle' });
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const reset = (next: Stage) => {
    setStage(next);
    setPassword('');
    setCode('');
    setError(null);
  };

  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      await work();
    } catch (err) {
      setError(messageOf(err));
      // Turned on or off in another tab: the profile we hold is stale.
      if (err instanceof ApiError && (err.code === 'totp-already-enabled' || err.code === 'totp-not-enabled')) void reload().catch(() => undefined);
    } finally {
      setBusy(false);
    }
  };

  const start = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const setup = await api<TotpSetup>('/api/auth/totp/setup', { body: { password } });
      reset({ name: 'scan', setup });
    });
  };

  const confirm = (e: FormEvent) => {
    e.preventDefault();
    const digits = code.replace(/\s+/g, '');
    if (!/^\d{6}$/.test(digits)) {
      setError('Enter the 6-digit code your authenticator app shows.');
      return;
    }
    void run(async () => {
      const res = await api<{ recoveryCodes: string[] }>('/api/auth/totp/confirm', { body: { code: digits } });
      // The codes are shown before the profile reloads: once the user reads "on", this stage must still win.
      reset({ name: 'codes', codes: res.recoveryCodes });
      onOtherSessionsEnded();
      await reload().catch(() => undefined);
    });
  };

  const disable = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      await api('/api/auth/totp/disable', { body: { password, code: code.trim() } });
      await reload().catch(() => undefined);
      reset({ name: 'idle' });
      setNotice('Two-factor authentication was turned off. Your other sessions were signed out.');
      onOtherSessionsEnded();
    });
  };

  let body;
  if (stage.name === 'codes') {
    body = (
      <div className="stack" data-testid="recovery-codes-panel">
        <Notice>Two-factor authentication is now on. Your other sessions were signed out.</Notice>
        <p>
          <strong>Store these recovery codes somewhere safe</strong>, such as a password manager. Each one signs you in once if you lose your authenticator app. They are shown only now.
        </p>
        <ol className="acct-codes" data-testid="recovery-codes" aria-label="Recovery codes">
          {stage.codes.map((c) => (
            <li key={c}>
              <code>{c}</code>
            </li>
          ))}
        </ol>
        <div className="row">
          <CopyButton text={stage.codes.join('\n')} label="Copy codes" testId="copy-recovery-codes" />
        </div>
        <div className="row">
          <button type="button" className="primary" onClick={() => reset({ name: 'idle' })}>
            I have stored the codes
          </button>
        </div>
      </div>
    );
  } else if (user.twoFactorEnabled) {
    body = (
      <form className="stack" onSubmit={disable} data-testid="totp-disable-form">
        <p>
          Two-factor authentication is <strong>on</strong>. Signing in asks for a code from your authenticator app.
        </p>
        <p className="muted acct-note">To turn it off, enter your password and a code from the app (or one of your recovery codes).</p>
        <Field label="Password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        <Field label="Code from your app or a recovery code" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value)} />
        <ErrorNote error={error} testId="totp-error" />
        <div className="row">
          <button type="submit" className="danger" disabled={busy}>
            {busy ? 'Turning off…' : 'Turn off two-factor authentication'}
          </button>
        </div>
      </form>
    );
  } else if (stage.name === 'password') {
    body = (
      <form className="stack" onSubmit={start} data-testid="totp-password-form">
        <p>Enter your password to start. You will need an authenticator app such as Aegis, Google Authenticator or 1Password.</p>
        <Field label="Password" type="password" autoComplete="current-password" required autoFocus value={password} onChange={(e) => setPassword(e.target.value)} />
        <ErrorNote error={error} testId="totp-error" />
        <div className="row">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Checking…' : 'Continue'}
          </button>
          <button type="button" onClick={() => reset({ name: 'idle' })}>
            Cancel
          </button>
        </div>
      </form>
    );
  } else if (stage.name === 'scan') {
    body = (
      <form className="stack" onSubmit={confirm} data-testid="totp-confirm-form">
        <ol className="acct-steps">
          <li>
            <p>Scan this QR code with your authenticator app.</p>
            <img className="acct-qr" src={stage.setup.qrCode} alt="QR code for your authenticator app" width={200} height={200} data-testid="totp-qr" />
            <p className="muted acct-note">Cannot scan it? Enter this key in the app instead:</p>
            <code className="acct-secret" data-testid="totp-secret">
              {stage.setup.secret}
            </code>
          </li>
          <li>
            <p>Enter the 6-digit code the app shows.</p>
            <Field label="6-digit code" inputMode="numeric" autoComplete="one-time-code" maxLength={7} required autoFocus value={code} onChange={(e) => setCode(e.target.value)} />
          </li>
        </ol>
        <ErrorNote error={error} testId="totp-error" />
        <div className="row">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Confirming…' : 'Confirm and turn on'}
          </button>
          <button type="button" onClick={() => reset({ name: 'idle' })}>
            Cancel
          </button>
        </div>
      </form>
    );
  } else {
    body = (
      <div className="stack">
        <p>
          Two-factor authentication is <strong>off</strong>. With it on, signing in also asks for a code from an app on your phone.
        </p>
        {notice && <Notice>{notice}</Notice>}
        <div className="row">
          <button type="button" className="primary" onClick={() => (setNotice(null), reset({ name: 'password' }))}>
            Turn on
          </button>
        </div>
      </div>
    );
  }

  return (
    <section className="card" aria-labelledby="acct-2fa">
      <h2 id="acct-2fa">Two-factor authentication</h2>
      {body}
    </section>
  );
}
