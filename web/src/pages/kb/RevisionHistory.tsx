import { useState } from 'react';
import { Link } from 'react-router';
import { api, messageOf } from '../../lib/api';
import { bytes, count, when } from '../../lib/format';
import { ErrorNote, Notice } from '../../components/ui';
import { StatusBadge } from './EntriesTable';
import { entryPath, ownerLabel, type Job, type Revised, type Revision } from './kbTypes';

export function RevisionHistory({
  kbId,
  entryId,
  revisions,
  jobs,
  canWrite,
  meId,
  onRestored,
}: {
  kbId: string;
  entryId: string;
  revisions: Revision[];
  jobs: Map<string, Job>;
  canWrite: boolean;
  meId: string;
  onRestored: (r: Revised) => void;
}) {
  const [busy, setBusy] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const base = entryPath(kbId, entryId);

  const restore = async (n: number) => {
    setBusy(n);
    setError(null);
    setDone(null);
    try {
      const r = await api<Revised>(`${base}/revisions/${n}/restore`, { method: 'POST', body: {} });
      setDone(`Revision ${n} was restored as revision ${r.revision.number}; it is being indexed.`);
      onRestored(r);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(null);
    }
  };

  return (
    <div className="stack">
      <ErrorNote error={error} />
      {done && <Notice>{done}</Notice>}
      <div className="table-scroll">
        <table data-testid="revisions-table">
          <thead>
            <tr>
              <th scope="col">Revision</th>
              <th scope="col">Created</th>
              <th scope="col">Author</th>
              <th scope="col">Size</th>
              <th scope="col">Status</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {revisions.map((r) => (
              <tr key={r.id} data-testid="revision-row" data-revision={r.number}>
                <td>
                  <strong>{r.number}</strong>
                  {r.current && <span className="kb-badge ok kb-inline">current</span>}
                  {r.restoredFrom !== null && <div className="muted kb-small">restored from {r.restoredFrom}</div>}
                  {r.reindex && <div className="muted kb-small">re-index copy</div>}
                  {r.originalName && <div className="muted kb-small kb-clip">{r.originalName}</div>}
                </td>
                <td className="kb-nowrap">{when(r.createdAt)}</td>
                <td>{r.authorId ? ownerLabel(r.authorId, meId) : '—'}</td>
                <td className="kb-nowrap">
                  {bytes(r.sizeBytes)}
                  <div className="muted kb-small">{count(r.tokenCount)} tokens</div>
                </td>
                <td>
                  <StatusBadge status={r.status} job={jobs.get(r.id)} />
                  {r.error && <div className="fail kb-small">{r.error}</div>}
                </td>
                <td>
                  <div className="kb-actions">
                    <Link to={`?revision=${r.number}`} aria-label={`View revision ${r.number}`}>
                      View
                    </Link>
                    <a href={`${base}/revisions/${r.number}/original`} download aria-label={`Download revision ${r.number}`}>
                      Download
                    </a>
                    {canWrite && !r.current && (
                      <button type="button" disabled={busy !== null} onClick={() => void restore(r.number)} aria-label={`Restore revision ${r.number}`} data-testid="restore">
                        {busy === r.number ? 'Restoring…' : 'Restore'}
                      </button>
                    )}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
