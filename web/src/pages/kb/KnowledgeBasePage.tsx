import { useCallback, useEffect, useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import { api, ApiError, messageOf } from '../../lib/api';
import { count } from '../../lib/format';
import { useUser } from '../../lib/auth';
import { ErrorNote, Notice, PageHeader, Spinner } from '../../components/ui';
import { AddTextForm } from './AddTextForm';
import { EntriesTable } from './EntriesTable';
import { SearchBox } from './SearchBox';
import { UploadArea } from './UploadArea';
import { useJobStream } from './useJobStream';
import { kbPath, ownerLabel, type Entry, type Job, type KnowledgeBase } from './kbTypes';
import './kb.css';

export default function KnowledgeBasePage() {
  const { kbId = '' } = useParams();
  const me = useUser();
  const [kb, setKb] = useState<KnowledgeBase | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [entries, setEntries] = useState<{ list: Entry[]; total: number } | null>(null);
  const [entriesError, setEntriesError] = useState<string | null>(null);
  const entriesRef = useRef(entries);
  useEffect(() => {
    entriesRef.current = entries;
  }, [entries]);

  useEffect(() => {
    const c = new AbortController();
    setKb(null);
    setLoadError(null);
    api<{ knowledgeBase: KnowledgeBase }>(kbPath(kbId), { signal: c.signal })
      .then((r) => setKb(r.knowledgeBase))
      .catch((err: unknown) => {
        if (c.signal.aborted) return;
        setLoadError(err instanceof ApiError && err.status === 404 ? 'This knowledge base does not exist, or it is not shared with you.' : messageOf(err));
      });
    return () => c.abort();
  }, [kbId]);

  // Many jobs finish close together (a batch upload): one reload for a burst of them.
  const reloadTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const loadEntries = useCallback(async () => {
    try {
      const r = await api<{ entries: Entry[]; total: number }>(`${kbPath(kbId)}/entries?limit=200`);
      setEntries({ list: r.entries, total: r.total });
      setEntriesError(null);
      // Counts in the header follow the table.
      api<{ knowledgeBase: KnowledgeBase }>(kbPath(kbId)).then((k) => setKb(k.knowledgeBase), () => undefined);
    } catch (err) {
      setEntriesError(messageOf(err));
    }
  }, [kbId]);
  const scheduleReload = useCallback(() => {
    if (reloadTimer.current) clearTimeout(reloadTimer.current);
    reloadTimer.current = setTimeout(() => void loadEntries(), 250);
  }, [loadEntries]);
  useEffect(() => () => clearTimeout(reloadTimer.current), []);

  useEffect(() => {
    setEntries(null);
    void loadEntries();
  }, [loadEntries]);

  // The snapshot replays recent finished jobs too: reload only when the table still shows that entry as unfinished (or not at all).
  const onFinished = useCallback(
    (job: Job) => {
      if (job.kbId !== kbId) return;
      const shown = entriesRef.current?.list.find((e) => e.id === job.entryId);
      if (!shown || !shown.latestRevision || shown.latestRevision.status === 'pending' || shown.latestRevision.status === 'processing') scheduleReload();
    },
    [kbId, scheduleReload],
  );
  const stream = useJobStream(onFinished);

  if (loadError)
    return (
      <div className="page">
        <PageHeader title="Knowledge base" />
        <ErrorNote error={loadError} />
        <p>
          <Link to="/knowledge">Back to knowledge bases</Link>
        </p>
      </div>
    );
  if (!kb)
    return (
      <div className="page">
        <Spinner />
      </div>
    );

  return (
    <div className="page kb-page">
      <p className="kb-crumbs">
        <Link to="/knowledge">Knowledge bases</Link>
      </p>
      <PageHeader title={kb.name} />
      {kb.description && <p className="kb-description">{kb.description}</p>}
      <p className="muted kb-small" data-testid="kb-meta">
        {kb.visibility === 'organization' ? 'Shared with the organization' : 'Private'} · owner: {ownerLabel(kb.ownerId, me.id)} · {count(kb.entries)} {kb.entries === 1 ? 'entry' : 'entries'} · {count(kb.chunks)} passages ·
        embeddings {kb.embedding.model} · language {kb.language}
      </p>

      {kb.canWrite ? (
        <>
          <UploadArea kbId={kb.id} stream={stream} onCreated={scheduleReload} />
          <div className="card">
            <AddTextForm
              kbId={kb.id}
              onCreated={(job) => {
                stream.merge(job);
                scheduleReload();
              }}
            />
          </div>
        </>
      ) : (
        <Notice>You can read and search this knowledge base; only its owner or an admin can change it.</Notice>
      )}

      <section className="card stack" aria-labelledby="kb-entries-h">
        <div className="row kb-spread">
          <h2 id="kb-entries-h">Entries</h2>
          <button type="button" className="link-button" onClick={() => void loadEntries()}>
            Refresh
          </button>
        </div>
        <ErrorNote error={entriesError} />
        {entries ? <EntriesTable kbId={kb.id} entries={entries.list} total={entries.total} canWrite={kb.canWrite} jobs={stream.jobs} onChanged={() => void loadEntries()} /> : !entriesError && <Spinner />}
      </section>

      <SearchBox kbId={kb.id} />
    </div>
  );
}
