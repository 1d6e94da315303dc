import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useLocation, useParams, useSearchParams } from 'react-router';
import { api, ApiError, messageOf } from '../../lib/api';
import { bytes } from '../../lib/format';
import { useUser } from '../../lib/auth';
import { ErrorNote, PageHeader, Spinner } from '../../components/ui';
import { DiffView } from './DiffView';
import { EditContent } from './EditContent';
import { StatusBadge } from './EntriesTable';
import { RevisionHistory } from './RevisionHistory';
import { RevisionView } from './RevisionView';
import { useJobStream } from './useJobStream';
import { entryPath, kbPath, type Entry, type Job, type KnowledgeBase, type Revised, type Revision } from './kbTypes';
import './kb.css';

interface Loaded {
  entry: Entry;
  revisions: Revision[];
  jobs: Job[];
}

export default function EntryPage() {
  const { kbId = '', entryId = '' } = useParams();
  const me = useUser();
  const [params] = useSearchParams();
  const location = useLocation();
  const [data, setData] = useState<Loaded | null>(null);
  const [kb, setKb] = useState<KnowledgeBase | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(
    async (signal?: AbortSignal) => {
      try {
        setData(await api<Loaded>(entryPath(kbId, entryId), { signal }));
        setError(null);
      } catch (err) {
        if (signal?.aborted) return;
        setError(err instanceof ApiError && err.status === 404 ? 'This entry does not exist, or it is not shared with you.' : messageOf(err));
      }
    },
    [kbId, entryId],
  );
  useEffect(() => {
    const c = new AbortController();
    setData(null);
    void load(c.signal);
    api<{ knowledgeBase: KnowledgeBase }>(kbPath(kbId), { signal: c.signal }).then((r) => setKb(r.knowledgeBase), () => undefined);
    return () => c.abort();
  }, [kbId, load]);

  const dataRef = useRef(data);
  useEffect(() => {
    dataRef.current = data;
  }, [data]);
  const onFinished = useCallback(
    (job: Job) => {
      if (job.entryId !== entryId) return;
      // The snapshot replays this entry's finished jobs: reload only for a revision still shown as unfinished.
      const shown = dataRef.current?.revisions.find((r) => r.id === job.revisionId);
      if (!shown || shown.status === 'pending' || shown.status === 'processing') void load();
    },
    [entryId, load],
  );
  const stream = useJobStream(onFinished);
  const { merge } = stream;

  // Live progress for each revision: the entry's own recent jobs, overlaid with the stream's newer states.
  const jobsByRevision = useMemo(() => {
    const out = new Map<string, Job>();
    for (const j of [...(data?.jobs ?? []), ...Object.values(stream.jobs).filter((j) => j.entryId === entryId)]) {
      const had = out.get(j.revisionId);
      if (!had || j.updatedAt >= had.updatedAt) out.set(j.revisionId, j);
    }
    return out;
  }, [data?.jobs, stream.jobs, entryId]);

  const revisedBy = (r: Revised) => {
    if (r.job) merge(r.job);
    void load();
  };

  const revisionParam = params.get('revision');
  const shownRevision = revisionParam && /^\d+$/.test(revisionParam) && Number(revisionParam) >= 1 ? Number(revisionParam) : null;
  const stateQuote = (location.state as { quote?: unknown } | null)?.quote;
  const quote = typeof stateQuote === 'string' ? stateQuote : (params.get('quote') ?? undefined);

  if (error && !data)
    return (
      <div className="page">
        <PageHeader title="Entry" />
        <ErrorNote error={error} />
        <p>
          <Link to={`/knowledge/${encodeURIComponent(kbId)}`}>Back to the knowledge base</Link>
        </p>
      </div>
    );
  if (!data)
    return (
      <div className="page">
        <Spinner />
      </div>
    );

  const { entry, revisions } = data;
  const latest = revisions[0];
  const downloadOf = entry.currentRevision ?? latest?.number ?? null;
  const canWrite = kb?.canWrite ?? false;

  return (
    <div className="page kb-page">
      <p className="kb-crumbs">
        <Link to="/knowledge">Knowledge bases</Link>
        {' / '}
        <Link to={`/knowledge/${encodeURIComponent(kbId)}`}>{kb?.name ?? 'Knowledge base'}</Link>
      </p>
      <PageHeader title={entry.title} />
      <div className="row kb-entry-meta" data-testid="entry-meta">
        {latest ? <StatusBadge status={latest.status} job={jobsByRevision.get(latest.id)} /> : <span className="muted">no content</span>}
        <span data-testid="current-revision">Current revision: {entry.currentRevision ?? 'none yet'}</span>
        {latest && latest.number !== entry.currentRevision && <span className="muted">latest: {latest.number}</span>}
        {latest && <span className="muted">{bytes(latest.sizeBytes)}</span>}
        {downloadOf !== null && (
          <a href={`${entryPath(kbId, entryId)}/revisions/${downloadOf}/original`} download data-testid="download-original">
            Download original
          </a>
        )}
      </div>
      {latest?.status === 'failed' && latest.error && <ErrorNote error={`Revision ${latest.number} could not be indexed: ${latest.error}`} testId="revision-error" />}
      <ErrorNote error={error} />

      {shownRevision !== null && <RevisionView kbId={kbId} entryId={entryId} number={shownRevision} quote={quote} chunk={params.get('chunk') ?? undefined} />}

      <section className="card stack" aria-labelledby="kb-history-h">
        <h2 id="kb-history-h">Revision history</h2>
        <RevisionHistory kbId={kbId} entryId={entryId} revisions={revisions} jobs={jobsByRevision} canWrite={canWrite} meId={me.id} onRestored={revisedBy} />
      </section>

      <section className="card stack" aria-labelledby="kb-diff-h">
        <h2 id="kb-diff-h">Compare revisions</h2>
        <DiffView kbId={kbId} entryId={entryId} revisions={revisions} />
      </section>

      {canWrite && (
        <section className="card stack" aria-labelledby="kb-edit-h">
          <h2 id="kb-edit-h">Edit</h2>
          <EditContent
            kbId={kbId}
            entry={entry}
            baseRevision={latest?.number ?? null}
            onRevised={revisedBy}
            onRenamed={(e) => setData((d) => (d ? { ...d, entry: e } : d))}
          />
        </section>
      )}
    </div>
  );
}
