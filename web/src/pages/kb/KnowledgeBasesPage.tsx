import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { api, messageOf } from '../../lib/api';
import { count, when } from '../../lib/format';
import { useUser } from '../../lib/auth';
import { ErrorNote, Field, PageHeader, Spinner, TextArea } from '../../components/ui';
import { describeError, ownerLabel, type KnowledgeBase, type Visibility } from './kbTypes';
import './kb.css';

function CreateForm({ onCreated }: { onCreated: (kb: KnowledgeBase) => void }) {
  const visibilityId = useId();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [visibility, setVisibility] = useState<Visibility>('private');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) {
      setError('Give the knowledge base a name.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const r = await api<{ knowledgeBase: KnowledgeBase }>('/api/knowledge-bases', { body: { name: name.trim(), description: description.trim(), visibility } });
      onCreated(r.knowledgeBase);
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };

  return (
    <form className="card stack" onSubmit={(e) => void submit(e)} aria-labelledby="kb-create-h">
      <h2 id="kb-create-h">New knowledge base</h2>
      <Field label="Name" value={name} maxLength={200} required onChange={(e) => setName(e.target.value)} />
      <TextArea label="Description" value={description} maxLength={2000} rows={2} onChange={(e) => setDescription(e.target.value)} />
      <div className="field">
        <label htmlFor={visibilityId}>Visibility</label>
        <select id={visibilityId} value={visibility} onChange={(e) => setVisibility(e.target.value as Visibility)}>
          <option value="private">Private (only you, and admins)</option>
          <option value="organization">Organization (everyone can read and search)</option>
        </select>
      </div>
      <p className="muted kb-small">The embedding model and full-text language are the instance defaults and stay fixed for this knowledge base.</p>
      <ErrorNote error={error} />
      <div className="row">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create knowledge base'}
        </button>
      </div>
    </form>
  );
}

export default function KnowledgeBasesPage() {
  const me = useUser();
  const navigate = useNavigate();
  const [list, setList] = useState<{ items: KnowledgeBase[]; total: number } | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      const r = await api<{ knowledgeBases: KnowledgeBase[]; total: number }>('/api/knowledge-bases?limit=200', { signal });
      setList({ items: r.knowledgeBases, total: r.total });
      setError(null);
    } catch (err) {
      if (!signal?.aborted) setError(messageOf(err));
    }
  }, []);
  useEffect(() => {
    const c = new AbortController();
    void load(c.signal);
    return () => c.abort();
  }, [load]);

  return (
    <div className="page kb-page">
      <PageHeader title="Knowledge bases" />
      <section className="card stack" aria-labelledby="kb-list-h">
        <h2 id="kb-list-h">Yours and shared</h2>
        <ErrorNote error={error} />
        {!list && !error && <Spinner />}
        {list && list.items.length === 0 && <p className="muted">No knowledge bases yet. Create the first one below.</p>}
        {list && list.items.length > 0 && (
          <div className="table-scroll">
            <table data-testid="kb-table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Visibility</th>
                  <th scope="col">Entries</th>
                  <th scope="col">Owner</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {list.items.map((kb) => (
                  <tr key={kb.id} data-testid="kb-row">
                    <td className="kb-title-cell">
                      <Link to={`/knowledge/${encodeURIComponent(kb.id)}`}>{kb.name}</Link>
                      {kb.description && <div className="muted kb-small kb-clip">{kb.description}</div>}
                    </td>
                    <td>{kb.visibility === 'organization' ? 'Organization' : 'Private'}</td>
                    <td>{count(kb.entries)}</td>
                    <td>{ownerLabel(kb.ownerId, me.id)}</td>
                    <td className="kb-nowrap">{when(kb.updatedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {list && list.total > list.items.length && (
          <p className="muted">
            Showing {list.items.length} of {list.total}.
          </p>
        )}
      </section>
      <CreateForm onCreated={(kb) => navigate(`/knowledge/${encodeURIComponent(kb.id)}`)} />
    </div>
  );
}
