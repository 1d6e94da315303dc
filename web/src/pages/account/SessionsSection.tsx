import { useCallback, useEffect, useState } from 'react';
import { api, messageOf } from '../../lib/api';
import { when } from '../../lib/format';
import { ErrorNote, Notice, Spinner } from '../../components/ui';

interface Session {
  id: string;
  current: boolean;
  ip: string | null;
  userAgent: string | null;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
}

/** "Firefox on Linux" reads better than a user-agent string; the raw string stays visible below it. */
export function describeDevice(ua: string | null): string {
  if (!ua) return 'Unknown device';
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /OPR\/|Opera/.test(ua)
      ? 'Opera'
      : /Firefox\//.test(ua)
        ? 'Firefox'
        : /Chrome\/|CriOS\//.test(ua)
          ? 'Chrome'
          : /Safari\//.test(ua)
            ? 'Safari'
            : null;
  const os = /iPhone|iPad|iPod/.test(ua)
    ? 'iOS'
    : /Android/.test(ua)
      ? 'Android'
      : /Windows/.test(ua)
        ? 'Windows'
        : /Mac OS X|Macintosh/.test(ua)
          ? 'macOS'
          : /CrOS/.test(ua)
            ? 'ChromeOS'
            : /Linux/.test(ua)
              ? 'Linux'
              : null;
  if (browser && os) return `${browser} on ${os}`;
  if (browser ?? os) return (browser ?? os)!;
  // Programs (curl, SDKs) send short agents that are clearer as they are.
  return ua.length > 40 ? `${ua.slice(0, 40)}…` : ua;
}

export function SessionsSection({ version }: { version: number }) {
  const [sessions, setSessions] = useState<Session[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      const res = await api<{ sessions: Session[] }>('/api/auth/sessions', { signal });
      setSessions(res.sessions);
    } catch (err) {
      if (!signal?.aborted) setError(messageOf(err));
    }
  }, []);

  useEffect(() => {
    const ctrl = new AbortController();
    void load(ctrl.signal);
    return () => ctrl.abort();
  }, [load, version]);

  const revoke = async (s: Session) => {
    setBusy(s.id);
    setError(null);
    setNotice(null);
    try {
      await api(`/api/auth/sessions/${encodeURIComponent(s.id)}`, { method: 'DELETE' });
      setNotice(`Signed out ${describeDevice(s.userAgent)}${s.ip ? ` (${s.ip})` : ''}.`);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(null);
      await load();
    }
  };

  const revokeOthers = async () => {
    setBusy('others');
    setError(null);
    setNotice(null);
    try {
      const res = await api<{ revokedSessions: number }>('/api/auth/sessions', { method: 'DELETE' });
      const n = res.revokedSessions;
      setNotice(n === 0 ? 'There were no other sessions.' : `Signed out ${n} other ${n === 1 ? 'session' : 'sessions'}.`);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(null);
      await load();
    }
  };

  const others = sessions?.filter((s) => !s.current).length ?? 0;

  return (
    <section className="card" aria-labelledby="acct-sessions">
      <h2 id="acct-sessions">Sessions</h2>
      <p className="muted acct-note">Where you are signed in. Sign out a device you do not recognise, then change your password.</p>
      <ErrorNote error={error} testId="sessions-error" />
      {notice && <Notice>{notice}</Notice>}
      {sessions === null ? (
        !error && <Spinner label="Loading sessions…" />
      ) : (
        <>
          <div className="table-scroll" role="region" aria-label="Your active sessions" tabIndex={0}>
            <table data-testid="sessions-table">
              <caption className="visually-hidden">Your active sessions</caption>
              <thead>
                <tr>
                  <th scope="col">Device</th>
                  <th scope="col">IP address</th>
                  <th scope="col">Last seen</th>
                  <th scope="col">Signed in</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {sessions.map((s) => (
                  <tr key={s.id} data-testid="session-row" data-current={s.current ? 'true' : undefined}>
                    <td>
                      <strong>{describeDevice(s.userAgent)}</strong>
                      {s.current && <span className="acct-badge acct-badge-current">This device</span>}
                      {s.userAgent && <small className="muted acct-ua">{s.userAgent}</small>}
                    </td>
                    <td>{s.ip ?? '—'}</td>
                    <td>{when(s.lastSeenAt)}</td>
                    <td>{when(s.createdAt)}</td>
                    <td>
                      {!s.current && (
                        <button type="button" className="danger" disabled={busy !== null} onClick={() => void revoke(s)} aria-label={`Revoke session: ${describeDevice(s.userAgent)}${s.ip ? `, ${s.ip}` : ''}`}>
                          {busy === s.id ? 'Revoking…' : 'Revoke'}
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="row acct-after-table">
            <button type="button" disabled={busy !== null || others === 0} onClick={() => void revokeOthers()}>
              {busy === 'others' ? 'Signing out…' : 'Sign out other sessions'}
            </button>
          </div>
        </>
      )}
    </section>
  );
}
