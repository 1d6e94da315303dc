import { useCallback, useEffect, useRef, useState } from 'react';
import { Link } from 'react-router';
import { api, messageOf } from '../../lib/api';
import type { Agent } from '../../lib/types';
import { ErrorNote, Notice, PageHeader, Spinner } from '../../components/ui';
import { AgentForm, type KnowledgeBaseOption, type Provider } from './AgentForm';
import './admin.css';

/** Every page of the list: an agent may name any knowledge base, not just the first 200. */
async function allKnowledgeBases(signal: AbortSignal): Promise<KnowledgeBaseOption[]> {
  const out: KnowledgeBaseOption[] = [];
  for (let offset = 0; ; offset += 200) {
    const page = await api<{ knowledgeBases: KnowledgeBaseOption[]; total: number }>(`/api/knowledge-bases?limit=200&offset=${offset}`, { signal });
    out.push(...page.knowledgeBases);
    if (page.knowledgeBases.length === 0 || out.length >= page.total) return out;
  }
}

export default function AgentsAdminPage() {
  const [agents, setAgents] = useState<Agent[] | null>(null);
  const [providers, setProviders] = useState<Provider[]>([]);
  const [kbs, setKbs] = useState<KnowledgeBaseOption[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [pickerError, setPickerError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Agent | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [archiving, setArchiving] = useState(false);
  const [rowError, setRowError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  // Bumped after a save so the create form starts empty again.
  const [formVersion, setFormVersion] = useState(0);
  const formRef = useRef<HTMLElement>(null);

  const loadAgents = useCallback(async (signal?: AbortSignal) => {
    try {
      const res = await api<{ agents: Agent[] }>('/api/agents?archived=true', { signal });
      // Archived agents stay listed (their conversations live on) but sink below the active ones.
      setAgents([...res.agents].sort((a, b) => Number(a.archived) - Number(b.archived) || Number(b.isDefault) - Number(a.isDefault) || a.name.localeCompare(b.name)));
      setLoadError(null);
    } catch (err) {
      if (!signal?.aborted) setLoadError(messageOf(err));
    }
  }, []);

  useEffect(() => {
    const ctrl = new AbortController();
    void loadAgents(ctrl.signal);
    // The pickers load on their own: a failing provider list must not hide the agents.
    void api<{ providers: Provider[] }>('/api/providers', { signal: ctrl.signal })
      .then((r) => setProviders(r.providers))
      .catch((err: unknown) => !ctrl.signal.aborted && setPickerError(`Model providers could not be loaded: ${messageOf(err)}`));
    void allKnowledgeBases(ctrl.signal)
      .then(setKbs)
      .catch((err: unknown) => {
        if (ctrl.signal.aborted) return;
        setKbs([]);
        setPickerError(`Knowledge bases could not be loaded: ${messageOf(err)}`);
      });
    return () => ctrl.abort();
  }, [loadAgents]);

  const startEdit = (a: Agent) => {
    setEditing(a);
    setNotice(null);
    setConfirming(null);
    // The form sits below a possibly long list: bring it (and the keyboard focus) to the person.
    requestAnimationFrame(() => {
      formRef.current?.scrollIntoView({ block: 'start', behavior: 'smooth' });
      formRef.current?.querySelector<HTMLElement>('h2')?.focus({ preventScroll: true });
    });
  };

  const archive = async (a: Agent) => {
    setArchiving(true);
    setRowError(null);
    setNotice(null);
    try {
      await api(`/api/agents/${encodeURIComponent(a.id)}`, { method: 'DELETE' });
      setNotice(`The agent "${a.name}" was archived. Its conversations stay readable.`);
      if (editing?.id === a.id) setEditing(null);
    } catch (err) {
      setRowError(messageOf(err));
    } finally {
      setArchiving(false);
      setConfirming(null);
      await loadAgents();
    }
  };

  const saved = async (a: Agent, created: boolean) => {
    setEditing(null);
    setFormVersion((v) => v + 1);
    setNotice(created ? `The agent "${a.name}" was created.` : `The agent "${a.name}" was saved.`);
    await loadAgents();
  };

  const providerName = (id: string | null) => (id === null ? 'Default provider' : (providers.find((p) => p.id === id)?.name ?? 'Unknown provider'));

  return (
    <div className="page agents-admin-page">
      <PageHeader title="Agents" />
      <p className="muted admin-note">
        Agents are what people chat with: each has its own instructions, model and knowledge bases. People pick one when they start a conversation in <Link to="/">Chat</Link>.
      </p>
      <ErrorNote error={pickerError} testId="pickers-error" />

      <section className="card" aria-labelledby="agents-list">
        <h2 id="agents-list">All agents</h2>
        <ErrorNote error={loadError} testId="agents-error" />
        <ErrorNote error={rowError} testId="archive-error" />
        {notice && <Notice>{notice}</Notice>}
        {agents === null ? (
          !loadError && <Spinner label="Loading agents…" />
        ) : agents.length === 0 ? (
          <p className="muted">There are no agents yet.</p>
        ) : (
          <div className="table-scroll" role="region" aria-label="Agents table" tabIndex={0}>
            <table data-testid="agents-table">
              <caption className="visually-hidden">Agents, including archived ones</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Slug</th>
                  <th scope="col">Model</th>
                  <th scope="col">Visibility</th>
                  <th scope="col">Knowledge bases</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {agents.map((a) => (
                  <tr key={a.id} data-testid={`agent-row-${a.slug}`} className={a.archived ? 'admin-archived' : undefined}>
                    <th scope="row" className="admin-name">
                      {a.name}
                      {a.isDefault && <span className="admin-badge admin-badge-default">default</span>}
                      {a.archived && (
                        <span className="admin-badge" data-testid="archived-badge">
                          archived
                        </span>
                      )}
                      {a.description && <small className="muted admin-desc">{a.description}</small>}
                    </th>
                    <td>
                      <code>{a.slug}</code>
                    </td>
                    <td>
                      {a.model ?? 'default'}
                      <small className="muted admin-desc">{providerName(a.providerId)}</small>
                    </td>
                    <td>{a.visibility === 'everyone' ? 'Everyone' : 'Admins only'}</td>
                    <td>{a.knowledgeBaseIds === 'all' ? 'All' : a.knowledgeBaseIds.length}</td>
                    <td>
                      {a.archived ? null : confirming === a.id ? (
                        <div className="admin-confirm" role="group" aria-label={`Confirm archiving ${a.name}`}>
                          <span>Archive “{a.name}”? People can no longer start conversations with it.</span>
                          <button type="button" className="danger" disabled={archiving} onClick={() => void archive(a)}>
                            {archiving ? 'Archiving…' : 'Yes, archive'}
                          </button>
                          <button type="button" disabled={archiving} onClick={() => setConfirming(null)}>
                            Cancel
                          </button>
                        </div>
                      ) : (
                        <div className="row admin-actions">
                          <button type="button" onClick={() => startEdit(a)} aria-label={`Edit ${a.name}`}>
                            Edit
                          </button>
                          {!a.isDefault && (
                            <button type="button" className="danger" onClick={() => (setRowError(null), setConfirming(a.id))} aria-label={`Archive ${a.name}`}>
                              Archive
                            </button>
                          )}
                        </div>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <AgentForm ref={formRef} key={`${editing?.id ?? 'new'}-${formVersion}`} agent={editing} providers={providers} knowledgeBases={kbs} onSaved={(a, created) => void saved(a, created)} onCancel={() => setEditing(null)} />
    </div>
  );
}
