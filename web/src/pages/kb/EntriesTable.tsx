import { useState } from 'react';
import { Link } from 'react-router';
import { api, messageOf } from '../../lib/api';
import { bytes, when } from '../../lib/format';
import { ErrorNote } from '../../components/ui';
import { entryPath, type Entry, type Job } from './kbTypes';

export function StatusBadge({ status, job }: { status: string; job?: Job }) {
  const cls = status === 'ready' ? 'ok' : status === 'failed' ? 'fail' : status === 'retired' ? 'muted' : 'busy';
  const progress = job && (job.status === 'queued' || job.status === 'running') && job.total > 0 ? ` ${job.done}/${job.total}` : '';
  return (
    <span className={`kb-badge ${cls}`} data-testid="entry-status">
      {status}
      {progress}
    </span>
  );
}

function DeleteEntry({ kbId, entry, onDeleted }: { kbId: string; entry: Entry; onDeleted: () => void }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      await api(entryPath(kbId, entry.id), { method: 'DELETE' });
      onDeleted();
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  };
  if (!asking)
    return (
      <button type="button" className="danger" aria-label={`Delete ${entry.title}`} onClick={() => setAsking(true)}>
        Delete
      </button>
    );
  return (
    <div className="kb-confirm" role="group" aria-label={`Confirm deleting ${entry.title}`}>
      <span>Delete this entry and all its revisions?</span>
      <div className="row">
        <button type="button" className="danger" disabled={busy} onClick={() => void remove()} data-testid="confirm-delete">
          {busy ? 'Deleting…' : 'Yes, delete'}
        </button>
        <button type="button" disabled={busy} onClick={() => setAsking(false)}>
          Keep
        </button>
      </div>
      <ErrorNote error={error} />
    </div>
  );
}

/** The latest job of each entry, for a live "processing n/m" next to its status. */
function latestJobs(jobs: Record<string, Job>, kbId: string): Map<string, Job> {
  const out = new Map<string, Job>();
  for (const j of Object.values(jobs)) {
    if (j.kbId !== kbId) continue;
    const had = out.get(j.entryId);
    if (!had || j.createdAt > had.createdAt) out.set(j.entryId, j);
  }
  return out;
}

export function EntriesTable({ kbId, entries, total, canWrite, jobs, onChanged }: { kbId: string; entries: Entry[]; total: number; canWrite: boolean; jobs: Record<string, Job>; onChanged: () => void }) {
  if (entries.length === 0) return <p className="muted">No entries yet. Upload files or add text to start.</p>;
  const live = latestJobs(jobs, kbId);
  return (
    <>
      <div className="table-scroll">
        <table data-testid="entries-table">
          <thead>
            <tr>
              <th scope="col">Title</th>
              <th scope="col">Status</th>
              <th scope="col">Revision</th>
              <th scope="col">Size</th>
              <th scope="col">Updated</th>
              {canWrite && (
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => {
              const latest = e.latestRevision;
              return (
                <tr key={e.id} data-testid="entry-row">
                  <td className="kb-title-cell">
                    <Link to={`/knowledge/${encodeURIComponent(kbId)}/entries/${encodeURIComponent(e.id)}`}>{e.title}</Link>
                  </td>
                  <td>
                    {latest ? <StatusBadge status={latest.status} job={live.get(e.id)} /> : <span className="muted">no content</span>}
                    {latest?.status === 'failed' && latest.error && <div className="fail kb-small">{latest.error}</div>}
                  </td>
                  <td>
                    {e.currentRevision ?? '—'}
                    {latest && latest.number !== e.currentRevision && <div className="muted kb-small">latest {latest.number}</div>}
                  </td>
                  <td className="kb-nowrap">{latest ? bytes(latest.sizeBytes) : '—'}</td>
                  <td className="kb-nowrap">{when(e.updatedAt)}</td>
                  {canWrite && (
                    <td>
                      <DeleteEntry kbId={kbId} entry={e} onDeleted={onChanged} />
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {total > entries.length && (
        <p className="muted">
          Showing {entries.length} of {total} entries.
        </p>
      )}
    </>
  );
}
