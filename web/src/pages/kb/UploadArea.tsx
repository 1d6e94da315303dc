import { useCallback, useEffect, useId, useRef, useState, type DragEvent } from 'react';
import { Link } from 'react-router';
import { api, messageOf } from '../../lib/api';
import { bytes } from '../../lib/format';
import { jobFinished, jobOutcome, jobProgressText, type Job } from './kbTypes';
import type { JobStream } from './useJobStream';
import { uploadEntry } from './upload';

/** Parallel uploads: enough to keep the pipe full, few enough not to starve the rest of the UI. */
const PARALLEL = 3;
const ACCEPT = '.txt,.md,.markdown,.html,.htm,.pdf,.docx,.csv,.json,text/plain,text/markdown,text/html,text/csv,application/json,application/pdf';

interface UploadRow {
  key: string;
  file: File;
  phase: 'waiting' | 'uploading' | 'processing' | 'error';
  percent: number;
  jobId?: string;
  entryId?: string;
  error?: string;
}

type Shown = { kind: 'waiting' | 'uploading' | 'processing' | 'ready' | 'error'; text: string; value?: number; max: number; job?: Job };

function shownOf(row: UploadRow, job: Job | undefined): Shown {
  if (row.phase === 'waiting') return { kind: 'waiting', text: 'Waiting to upload', value: 0, max: 100 };
  if (row.phase === 'uploading') return { kind: 'uploading', text: `Uploading ${row.percent}%`, value: row.percent, max: 100 };
  if (row.phase === 'error') return { kind: 'error', text: row.error ?? 'The upload failed.', value: 0, max: 100 };
  if (!job) return { kind: 'processing', text: 'Processing', max: 1 };
  if (jobFinished(job)) return job.status === 'succeeded' ? { kind: 'ready', text: 'Ready', value: 1, max: 1, job } : { kind: 'error', text: jobOutcome(job), value: 0, max: 1, job };
  // Before the chunk count is known the bar is indeterminate (no value).
  return { kind: 'processing', text: jobProgressText(job), value: job.total > 0 ? job.done : undefined, max: Math.max(job.total, 1), job };
}

let nextKey = 0;

export function UploadArea({ kbId, stream, onCreated }: { kbId: string; stream: JobStream; onCreated: () => void }) {
  const inputId = useId();
  const [rows, setRows] = useState<UploadRow[]>([]);
  const [dragging, setDragging] = useState(false);
  const started = useRef(new Set<string>());
  const controller = useRef<AbortController | null>(null);
  const { jobs, merge, connected } = stream;

  useEffect(() => {
    const c = new AbortController();
    controller.current = c;
    return () => c.abort();
  }, []);

  const update = useCallback((key: string, patch: Partial<UploadRow>) => {
    setRows((prev) => prev.map((r) => (r.key === key ? { ...r, ...patch } : r)));
  }, []);

  const run = useCallback(
    async (row: UploadRow) => {
      update(row.key, { phase: 'uploading', percent: 0 });
      let last = 0;
      try {
        const created = await uploadEntry(
          kbId,
          row.file,
          (fraction) => {
            const percent = Math.min(100, Math.round(fraction * 100));
            if (percent !== last) update(row.key, { percent: (last = percent) });
          },
          controller.current?.signal,
        );
        // The stream may have reported this job before the upload's answer came back: newest wins.
        merge(created.job);
        update(row.key, { phase: 'processing', percent: 100, jobId: created.job.id, entryId: created.entry.id });
        onCreated();
      } catch (err) {
        if (controller.current?.signal.aborted) return;
        update(row.key, { phase: 'error', error: messageOf(err) });
      }
    },
    [kbId, merge, onCreated, update],
  );

  useEffect(() => {
    const active = rows.filter((r) => r.phase === 'uploading' || (r.phase === 'waiting' && started.current.has(r.key))).length;
    const next = rows.filter((r) => r.phase === 'waiting' && !started.current.has(r.key)).slice(0, Math.max(0, PARALLEL - active));
    for (const row of next) {
      started.current.add(row.key);
      void run(row);
    }
  }, [rows, run]);

  // Without a live stream (reconnecting), unfinished jobs are asked after directly.
  const pending = rows.filter((r) => r.phase === 'processing' && r.jobId && !(jobs[r.jobId] && jobFinished(jobs[r.jobId]!))).map((r) => r.jobId!);
  const pendingKey = pending.join(',');
  useEffect(() => {
    if (connected || !pendingKey) return;
    const ids = pendingKey.split(',');
    const timer = setInterval(() => {
      for (const id of ids) void api<{ job: Job }>(`/api/jobs/${encodeURIComponent(id)}`).then((r) => merge(r.job), () => undefined);
    }, 3000);
    return () => clearInterval(timer);
  }, [connected, pendingKey, merge]);

  const add = (files: FileList | File[] | null) => {
    const list = Array.from(files ?? []);
    if (list.length === 0) return;
    setRows((prev) => [...prev, ...list.map((file) => ({ key: `u${nextKey++}`, file, phase: 'waiting' as const, percent: 0 }))]);
  };

  const cancel = async (jobId: string) => {
    try {
      merge((await api<{ job: Job }>(`/api/jobs/${encodeURIComponent(jobId)}/cancel`, { method: 'POST', body: {} })).job);
    } catch {
      // Most likely it finished meanwhile (409): show what it became.
      await api<{ job: Job }>(`/api/jobs/${encodeURIComponent(jobId)}`).then((r) => merge(r.job), () => undefined);
    }
  };

  const onDrag = (e: DragEvent<HTMLDivElement>, over: boolean) => {
    e.preventDefault();
    if (over) e.dataTransfer.dropEffect = 'copy';
    setDragging(over);
  };

  const shown = rows.map((r) => ({ row: r, s: shownOf(r, r.jobId ? jobs[r.jobId] : undefined) }));
  const ready = shown.filter((x) => x.s.kind === 'ready').length;
  const failed = shown.filter((x) => x.s.kind === 'error').length;
  const settled = ready + failed;

  return (
    <section className="card stack" aria-labelledby={`${inputId}-h`}>
      <h2 id={`${inputId}-h`}>Add documents</h2>
      <div
        className={`kb-dropzone${dragging ? ' dragging' : ''}`}
        data-testid="drop-zone"
        onDragEnter={(e) => onDrag(e, true)}
        onDragOver={(e) => onDrag(e, true)}
        onDragLeave={(e) => {
          if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
        }}
        onDrop={(e) => {
          onDrag(e, false);
          add(e.dataTransfer.files);
        }}
      >
        <label htmlFor={inputId} className="kb-drop-label">
          Upload files
        </label>
        <p className="muted kb-drop-hint" id={`${inputId}-hint`}>
          Drop files here or choose them: txt, md, html, pdf, docx, csv or json. Many at once is fine.
        </p>
        <input
          id={inputId}
          type="file"
          multiple
          accept={ACCEPT}
          aria-describedby={`${inputId}-hint`}
          onChange={(e) => {
            add(e.target.files);
            // The same file chosen again is a new upload, not "no change".
            e.target.value = '';
          }}
        />
      </div>

      {rows.length > 0 && (
        <>
          <div className="row kb-upload-summary">
            <p className="muted" role="status">
              {settled} of {rows.length} {rows.length === 1 ? 'file' : 'files'} done{failed > 0 ? ` (${failed} failed)` : ''}
            </p>
            {settled > 0 && (
              <button type="button" className="link-button" onClick={() => setRows((prev) => prev.filter((r) => !shown.some((x) => x.row.key === r.key && (x.s.kind === 'ready' || x.s.kind === 'error'))))}>
                Clear finished
              </button>
            )}
          </div>
          <ul className="kb-uploads">
            {shown.map(({ row, s }) => (
              <li key={row.key} className={`kb-upload-row ${s.kind}`} data-testid="upload-row">
                <div className="kb-upload-head">
                  {row.entryId ? (
                    <Link className="kb-file-name" data-testid="upload-name" to={`/knowledge/${encodeURIComponent(kbId)}/entries/${encodeURIComponent(row.entryId)}`}>
                      {row.file.name}
                    </Link>
                  ) : (
                    <span className="kb-file-name" data-testid="upload-name">
                      {row.file.name}
                    </span>
                  )}
                  <span className="muted">{bytes(row.file.size)}</span>
                </div>
                <progress aria-label={`Progress of ${row.file.name}`} value={s.value} max={s.max} />
                <div className="kb-upload-foot">
                  <span data-testid="upload-status" className={s.kind === 'error' ? 'fail' : s.kind === 'ready' ? 'ok' : undefined}>
                    {s.text}
                  </span>
                  {s.kind === 'processing' && row.jobId && (
                    <button type="button" className="link-button" aria-label={`Cancel indexing of ${row.file.name}`} onClick={() => void cancel(row.jobId!)}>
                      Cancel
                    </button>
                  )}
                </div>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
