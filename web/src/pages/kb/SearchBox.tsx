import { useRef, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { api, messageOf } from '../../lib/api';
import { ErrorNote, Field } from '../../components/ui';
import { kbPath, type SearchHit } from './kbTypes';

/** Retrieval as the agents see it: the passages, their scores, and where they come from. */
export function SearchBox({ kbId }: { kbId: string }) {
  const [q, setQ] = useState('');
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [asked, setAsked] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const inflight = useRef<AbortController | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const query = q.trim();
    if (!query) {
      setError('Type something to search for.');
      return;
    }
    inflight.current?.abort();
    const c = new AbortController();
    inflight.current = c;
    setBusy(true);
    setError(null);
    try {
      const r = await api<{ hits: SearchHit[] }>(`${kbPath(kbId)}/search?${new URLSearchParams({ q: query, k: '10' })}`, { signal: c.signal });
      setHits(r.hits);
      setAsked(query);
    } catch (err) {
      if (!c.signal.aborted) setError(messageOf(err));
    } finally {
      if (inflight.current === c) setBusy(false);
    }
  };

  return (
    <section className="card stack" aria-labelledby="kb-search-h">
      <h2 id="kb-search-h">Try retrieval</h2>
      <form className="kb-search-form" onSubmit={(e) => void submit(e)} role="search">
        <Field label="Search this knowledge base" type="search" value={q} maxLength={1000} onChange={(e) => setQ(e.target.value)} />
        <button type="submit" className="primary" disabled={busy}>
          Search
        </button>
      </form>
      <ErrorNote error={error} />
      {busy && <p className="muted" role="status">Searching…</p>}
      {hits && !busy && (
        <div className="stack" data-testid="search-results">
          <p className="muted" role="status">
            {hits.length === 0 ? `No passages match “${asked}”.` : `${hits.length} ${hits.length === 1 ? 'passage' : 'passages'} for “${asked}”, best first.`}
          </p>
          {hits.length > 0 && (
            <ol className="kb-hits">
              {hits.map((h) => (
                <li key={h.chunkId} className="kb-hit" data-testid="search-hit">
                  <div className="kb-hit-head">
                    <Link
                      to={`/knowledge/${encodeURIComponent(kbId)}/entries/${encodeURIComponent(h.entryId)}?${new URLSearchParams({ revision: String(h.revisionNumber), chunk: String(h.chunkId) })}`}
                      // The passage goes along so the entry page can highlight it (the API has no chunk lookup).
                      state={{ quote: h.content }}
                      data-testid="hit-title"
                    >
                      {h.entryTitle}
                    </Link>
                    <span className="kb-score" data-testid="hit-score" title="Reciprocal-rank fusion of vector and full-text ranks">
                      score {h.score.toFixed(3)}
                    </span>
                  </div>
                  <div className="muted kb-small">
                    {h.headingPath.length > 0 && <span data-testid="hit-heading">{h.headingPath.join(' › ')} · </span>}
                    <span data-testid="hit-revision">revision {h.revisionNumber}</span>
                    {' · '}
                    <span>
                      vector rank {h.vectorRank ?? '—'}, text rank {h.textRank ?? '—'}
                    </span>
                  </div>
                  <p className="kb-passage" data-testid="hit-content">
                    {h.content}
                  </p>
                </li>
              ))}
            </ol>
          )}
        </div>
      )}
    </section>
  );
}
