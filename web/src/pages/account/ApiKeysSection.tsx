import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import { api, messageOf } from '../../lib/api';
import { when } from '../../lib/format';
import { ErrorNote, Field, Notice, Spinner } from '../../components/ui';
import { CopyButton } from '../../components/CopyButton';

// Mirrors API_KEY_SCOPES in src/modules/auth/auth.schema.ts (the server module cannot be bundled
// into the UI); the server refuses any other value, so a drift shows up as an error, not a hole.
const SCOPES = [
  { id: 'chat', label: 'Chat', hint: 'list agents and chat, including the OpenAI-compatible /v1 API' },
  { id: 'conversations', label: 'Conversations', hint: 'read, start, rename and delete your conversations' },
  { id: 'knowledge-bases', label: 'Knowledge bases', hint: 'read, search and write the knowledge bases you have access to' },
] as const;
type Scope = (typeof SCOPES)[number]['id'];

interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
}

export function ApiKeysSection() {
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [created, setCreated] = useState<{ key: ApiKey; secret: string } | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [revoking, setRevoking] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['chat']);
  const [days, setDays] = useState('');
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const secretId = useId();

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      setKeys((await api<{ keys: ApiKey[] }>('/api/keys', { signal })).keys);
      setListError(null);
    } catch (err) {
      if (!signal?.aborted) setListError(messageOf(err));
    }
  }, []);
  useEffect(() => {
    const ctrl = new AbortController();
    void load(ctrl.signal);
    return () => ctrl.abort();
  }, [load]);

  const toggleScope = (s: Scope, on: boolean) => setScopes((cur) => (on ? [...cur.filter((x) => x !== s), s] : cur.filter((x) => x !== s)));

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setFormError(null);
    setNotice(null);
    if (scopes.length === 0) {
      setFormError('Choose at least one scope.');
      return;
    }
    const body: { name: string; scopes: Scope[]; expiresInDays?: number } = { name: name.trim(), scopes: SCOPES.map((s) => s.id).filter((s) => scopes.includes(s)) };
    if (days.trim()) body.expiresInDays = Number(days);
    setBusy(true);
    try {
      const res = await api<{ key: ApiKey; secret: string }>('/api/keys', { body });
      setCreated(res);
      setName('');
      setScopes(['chat']);
      setDays('');
      await load();
    } catch (err) {
      setFormError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (k: ApiKey) => {
    setRevoking(k.id);
    setListError(null);
    setNotice(null);
    try {
      await api(`/api/keys/${encodeURIComponent(k.id)}`, { method: 'DELETE' });
      setNotice(`The key "${k.name}" was revoked.`);
      if (created?.key.id === k.id) setCreated(null);
    } catch (err) {
      setListError(messageOf(err));
    } finally {
      setRevoking(null);
      setConfirming(null);
      await load();
    }
  };

  const now = Date.now();
  return (
    <section className="card" aria-labelledby="acct-keys">
      <h2 id="acct-keys">API keys</h2>
      <p className="muted acct-note">
        Programs use an API key instead of your password: send it as <code>Authorization: Bearer …</code>. A key can do only what its scopes allow, and only what you may do yourself.
      </p>

      {created && (
        <div className="acct-new-key stack" data-testid="new-api-key-panel">
          <p>
            <strong>This key is shown only once.</strong> Copy it now and keep it somewhere safe; if you lose it, revoke it and create another.
          </p>
          <div className="field">
            <label htmlFor={secretId}>New API key “{created.key.name}”</label>
            <div className="acct-secret-row">
              <input id={secretId} readOnly value={created.secret} data-testid="new-api-key" className="acct-mono" spellCheck={false} onFocus={(e) => e.currentTarget.select()} />
              <CopyButton text={created.secret} label="Copy" testId="copy-api-key" />
            </div>
          </div>
          <div className="row">
            <button type="button" onClick={() => setCreated(null)}>
              Done
            </button>
          </div>
        </div>
      )}

      <ErrorNote error={listError} testId="api-keys-error" />
      {notice && <Notice>{notice}</Notice>}
      {keys === null ? (
        !listError && <Spinner label="Loading API keys…" />
      ) : keys.length === 0 ? (
        <p className="muted">You have no API keys.</p>
      ) : (
        <div className="table-scroll" role="region" aria-label="Your API keys" tabIndex={0}>
          <table data-testid="api-keys-table">
            <caption className="visually-hidden">Your API keys</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Scopes</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => {
                const expired = k.expiresAt !== null && new Date(k.expiresAt).getTime() <= now;
                return (
                  <tr key={k.id} data-testid="api-key-row">
                    <td className="acct-wrap">{k.name}</td>
                    <td>
                      <code>{k.prefix}…</code>
                    </td>
                    <td>{k.scopes.join(', ')}</td>
                    <td>{when(k.createdAt)}</td>
                    <td>{k.lastUsedAt ? when(k.lastUsedAt) : 'Never'}</td>
                    <td>
                      {k.expiresAt ? when(k.expiresAt) : 'Never'}
                      {expired && <span className="acct-badge">expired</span>}
                    </td>
                    <td>
                      {confirming === k.id ? (
                        <div className="acct-confirm" role="group" aria-label={`Confirm revoking ${k.name}`}>
                          <span>Programs using it stop working.</span>
                          <button type="button" className="danger" disabled={revoking !== null} onClick={() => void revoke(k)}>
                            {revoking === k.id ? 'Revoking…' : 'Yes, revoke'}
                          </button>
                          <button type="button" disabled={revoking !== null} onClick={() => setConfirming(null)}>
                            Cancel
                          </button>
                        </div>
                      ) : (
                        <button type="button" className="danger" onClick={() => setConfirming(k.id)} aria-label={`Revoke key ${k.name}`}>
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}

      <form className="stack acct-subform" onSubmit={(e) => void create(e)} data-testid="api-key-form" aria-labelledby="acct-keys-new">
        <h3 id="acct-keys-new">Create a key</h3>
        <Field label="Key name" required maxLength={100} placeholder="e.g. Nightly import script" value={name} onChange={(e) => setName(e.target.value)} />
        <fieldset className="fieldset">
          <legend>Scopes</legend>
          {SCOPES.map((s) => (
            <div key={s.id} className="acct-check">
              <label>
                <input type="checkbox" checked={scopes.includes(s.id)} onChange={(e) => toggleScope(s.id, e.target.checked)} value={s.id} aria-describedby={`${secretId}-${s.id}`} />
                <strong>{s.label}</strong>
              </label>
              <small id={`${secretId}-${s.id}`} className="muted">
                <code>{s.id}</code>: {s.hint}
              </small>
            </div>
          ))}
        </fieldset>
        <Field label="Expires after (days)" type="number" inputMode="numeric" min={1} max={3650} step={1} hint="Optional, 1 to 3650. Leave empty for a key that does not expire." value={days} onChange={(e) => setDays(e.target.value)} />
        <ErrorNote error={formError} testId="api-key-error" />
        <div className="row">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create key'}
          </button>
        </div>
      </form>
    </section>
  );
}
