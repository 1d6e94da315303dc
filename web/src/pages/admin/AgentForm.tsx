import { useId, useState, type FormEvent, type Ref } from 'react';
import { Link } from 'react-router';
import { api, messageOf } from '../../lib/api';
import type { Agent } from '../../lib/types';
import { ErrorNote, Field, Spinner, TextArea } from '../../components/ui';

export interface Provider {
  id: string;
  name: string;
  type: 'openai' | 'anthropic';
  baseUrl: string | null;
  hasApiKey: boolean;
  models: string[];
  defaultModel: string;
}

export interface KnowledgeBaseOption {
  id: string;
  name: string;
  description: string;
  visibility: 'private' | 'organization';
}

interface Props {
  agent: Agent | null;
  providers: Provider[];
  knowledgeBases: KnowledgeBaseOption[] | null;
  onSaved: (agent: Agent, created: boolean) => void;
  onCancel: () => void;
  ref?: Ref<HTMLElement>;
}

/** Create (agent null) or edit one agent; the parent remounts it (key) to load another. */
export function AgentForm({ agent, providers, knowledgeBases, onSaved, onCancel, ref }: Props) {
  const [slug, setSlug] = useState('');
  const [name, setName] = useState(agent?.name ?? '');
  const [description, setDescription] = useState(agent?.description ?? '');
  const [systemPrompt, setSystemPrompt] = useState(agent?.systemPrompt ?? '');
  const [providerId, setProviderId] = useState(agent?.providerId ?? '');
  const [model, setModel] = useState(agent?.model ?? '');
  const [temperature, setTemperature] = useState(agent?.temperature === null || agent?.temperature === undefined ? '' : String(agent.temperature));
  const [maxOutputTokens, setMaxOutputTokens] = useState(String(agent?.maxOutputTokens ?? 1024));
  const [retrievalK, setRetrievalK] = useState(String(agent?.retrievalK ?? 5));
  const [visibility, setVisibility] = useState<Agent['visibility']>(agent?.visibility ?? 'everyone');
  const [kbIds, setKbIds] = useState<string[]>(agent && agent.knowledgeBaseIds !== 'all' ? agent.knowledgeBaseIds : []);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [kbFilter, setKbFilter] = useState('');
  const id = useId();

  // The API refuses any change to the default agent's scope (it always searches everything the
  // person may read, and is open to everyone), so those fields are shown but never sent for it.
  const fixedScope = agent?.isDefault === true || agent?.knowledgeBaseIds === 'all';
  const provider = providers.find((p) => p.id === providerId);
  const kbOptions: KnowledgeBaseOption[] = [
    ...(knowledgeBases ?? []),
    // A chosen one missing from the list is kept visible so it can be unticked rather than silently sent.
    ...kbIds.filter((k) => knowledgeBases !== null && !knowledgeBases.some((kb) => kb.id === k)).map((k) => ({ id: k, name: `Unknown knowledge base (${k})`, description: '', visibility: 'private' as const })),
  ];
  // The list filters by name (there may be hundreds); ticked ones always stay in view, first.
  const needle = kbFilter.trim().toLowerCase();
  const shownKbs = [...kbOptions.filter((kb) => kbIds.includes(kb.id)), ...kbOptions.filter((kb) => !kbIds.includes(kb.id) && (!needle || kb.name.toLowerCase().includes(needle)))];
  const privateChosen = kbOptions.filter((kb) => kb.visibility === 'private' && kbIds.includes(kb.id));

  const toggleKb = (kbId: string, on: boolean) => setKbIds((cur) => (on ? [...cur.filter((x) => x !== kbId), kbId] : cur.filter((x) => x !== kbId)));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const body: Record<string, unknown> = {
      name: name.trim(),
      description: description.trim(),
      systemPrompt,
      providerId: providerId || null,
      model: model.trim() || null,
      temperature: temperature.trim() === '' ? null : Number(temperature),
      maxOutputTokens: Number(maxOutputTokens),
      retrievalK: Number(retrievalK),
    };
    if (!fixedScope) {
      body.visibility = visibility;
      body.knowledgeBaseIds = kbIds;
    }
    if (!agent) body.slug = slug.trim();
    setBusy(true);
    try {
      const res = agent
        ? await api<{ agent: Agent }>(`/api/agents/${encodeURIComponent(agent.id)}`, { method: 'PATCH', body })
        : await api<{ agent: Agent }>('/api/agents', { method: 'POST', body });
      onSaved(res.agent, !agent);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  const headingId = `${id}-heading`;
  return (
    <section className="card" ref={ref} aria-labelledby={headingId} data-testid="agent-form-card">
      <h2 id={headingId} tabIndex={-1}>
        {agent ? `Edit agent: ${agent.name}` : 'New agent'}
      </h2>
      <form className="stack" onSubmit={(e) => void submit(e)} data-testid="agent-form">
        {agent ? (
          <p className="muted admin-note">
            Slug: <code>{agent.slug}</code>
          </p>
        ) : (
          <Field
            label="Slug"
            required
            maxLength={63}
            pattern="[a-z0-9][a-z0-9\-]{0,62}"
            autoCapitalize="none"
            spellCheck={false}
            hint="Lower-case letters, digits and dashes. Programs name the agent by it (the model in the /v1 API); it cannot be changed here later."
            value={slug}
            onChange={(e) => setSlug(e.target.value)}
          />
        )}
        <Field label="Name" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
        <TextArea label="Description" rows={2} maxLength={2000} hint="Shown to people choosing an agent." value={description} onChange={(e) => setDescription(e.target.value)} />
        <TextArea label="System prompt" rows={8} maxLength={20000} hint="The instructions the model gets before every conversation. People using the agent do not see them." value={systemPrompt} onChange={(e) => setSystemPrompt(e.target.value)} />

        <div className="admin-grid">
          <div className="field">
            <label htmlFor={`${id}-provider`}>Provider</label>
            <select id={`${id}-provider`} value={providerId} onChange={(e) => setProviderId(e.target.value)}>
              <option value="">Default (server settings)</option>
              {providers.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name} ({p.type === 'anthropic' ? 'Anthropic' : 'OpenAI-compatible'})
                </option>
              ))}
              {providerId && !provider && <option value={providerId}>Current provider</option>}
            </select>
          </div>
          <div className="field">
            <label htmlFor={`${id}-model`}>Model</label>
            <input
              id={`${id}-model`}
              maxLength={200}
              list={provider && provider.models.length > 0 ? `${id}-models` : undefined}
              aria-describedby={`${id}-model-hint`}
              autoCapitalize="none"
              spellCheck={false}
              value={model}
              onChange={(e) => setModel(e.target.value)}
            />
            {provider && provider.models.length > 0 && (
              <datalist id={`${id}-models`}>
                {provider.models.map((m) => (
                  <option key={m} value={m} />
                ))}
              </datalist>
            )}
            <small id={`${id}-model-hint`} className="muted">
              Leave empty for the provider’s default{provider ? ` (${provider.defaultModel})` : ''}.{provider && provider.models.length > 0 ? ` Offered: ${provider.models.join(', ')}.` : ''}
            </small>
          </div>
          <Field label="Temperature" type="number" min={0} max={2} step="any" inputMode="decimal" hint="0 to 2; empty for the provider’s default." value={temperature} onChange={(e) => setTemperature(e.target.value)} />
          <Field label="Max output tokens" type="number" required min={1} max={200000} step={1} inputMode="numeric" value={maxOutputTokens} onChange={(e) => setMaxOutputTokens(e.target.value)} />
          <Field label="Retrieval k" type="number" required min={0} max={50} step={1} inputMode="numeric" hint="Passages retrieved per question (0 to 50); 0 turns retrieval off." value={retrievalK} onChange={(e) => setRetrievalK(e.target.value)} />
          <div className="field">
            <label htmlFor={`${id}-visibility`}>Visibility</label>
            <select id={`${id}-visibility`} value={visibility} onChange={(e) => setVisibility(e.target.value as Agent['visibility'])} disabled={fixedScope} aria-describedby={fixedScope ? `${id}-visibility-hint` : undefined}>
              <option value="everyone">Everyone</option>
              <option value="admins">Admins only</option>
            </select>
            {fixedScope && (
              <small id={`${id}-visibility-hint`} className="muted">
                The default agent is always open to everyone.
              </small>
            )}
          </div>
        </div>

        <fieldset className="fieldset" data-testid="agent-kbs">
          <legend>Knowledge bases</legend>
          {fixedScope ? (
            <>
              <label className="admin-check">
                <input type="checkbox" checked disabled />
                All knowledge bases the person may read
              </label>
              <small className="muted">Only the default agent searches every knowledge base, within each person’s access; this cannot be changed. Create another agent for a narrower set.</small>
            </>
          ) : knowledgeBases === null ? (
            <Spinner label="Loading knowledge bases…" />
          ) : kbOptions.length === 0 ? (
            <p className="muted admin-note">
              There are no knowledge bases yet. <Link to="/knowledge">Create one</Link> first.
            </p>
          ) : (
            <>
              <small className="muted">The agent searches only the ones ticked. Only the default agent can search all of them.</small>
              <div className="field admin-kb-filter">
                <label htmlFor={`${id}-kb-filter`}>Filter knowledge bases</label>
                <input id={`${id}-kb-filter`} type="search" value={kbFilter} onChange={(e) => setKbFilter(e.target.value)} />
              </div>
              <ul className="admin-kb-list">
                {shownKbs.map((kb) => (
                  <li key={kb.id}>
                    <label className="admin-check">
                      <input type="checkbox" checked={kbIds.includes(kb.id)} onChange={(e) => toggleKb(kb.id, e.target.checked)} value={kb.id} />
                      <span>
                        {kb.name}
                        {kb.visibility === 'private' && <span className="admin-badge">private</span>}
                      </span>
                    </label>
                  </li>
                ))}
              </ul>
              {visibility === 'everyone' && privateChosen.length > 0 && (
                <small className="muted" data-testid="private-kb-warning">
                  An agent for everyone can only search organization-wide knowledge bases: share the private ones with the organization, or make the agent admins-only.
                </small>
              )}
            </>
          )}
        </fieldset>

        <ErrorNote error={error} testId="agent-form-error" />
        <div className="row">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Saving…' : agent ? 'Save changes' : 'Create agent'}
          </button>
          {agent && (
            <button type="button" onClick={onCancel} disabled={busy}>
              Cancel editing
            </button>
          )}
        </div>
      </form>
    </section>
  );
}
