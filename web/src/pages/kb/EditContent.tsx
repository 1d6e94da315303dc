import { useState, type FormEvent } from 'react';
import { api } from '../../lib/api';
import { ErrorNote, Field, Notice, TextArea } from '../../components/ui';
import { describeError, entryPath, type Entry, type Revised, type Revision } from './kbTypes';

/** Rename, and new text content as a new revision (identical text makes none). */
export function EditContent({ kbId, entry, baseRevision, onRevised, onRenamed }: { kbId: string; entry: Entry; baseRevision: number | null; onRevised: (r: Revised) => void; onRenamed: (e: Entry) => void }) {
  const base = entryPath(kbId, entry.id);
  const [title, setTitle] = useState(entry.title);
  const [text, setText] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);

  const run = async (what: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    setNote(null);
    try {
      await what();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const rename = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const r = await api<{ entry: Entry }>(base, { method: 'PATCH', body: { title: title.trim() } });
      onRenamed(r.entry);
      setNote('Renamed.');
    });
  };

  const startEditing = () =>
    void run(async () => {
      if (baseRevision === null) {
        setText('');
        return;
      }
      const r = await api<{ revision: Revision & { content: string } }>(`${base}/revisions/${baseRevision}`);
      setText(r.revision.content);
    });

  const save = (e: FormEvent) => {
    e.preventDefault();
    if (!text?.trim()) {
      setError('Content must not be empty.');
      return;
    }
    void run(async () => {
      const r = await api<Revised>(`${base}/revisions`, { body: { text } });
      if (r.unchanged) setNote('Nothing changed: the text is identical to the latest revision, so no revision was made.');
      else {
        setNote(`Saved as revision ${r.revision.number}; it is being indexed.`);
        setText(null);
      }
      onRevised(r);
    });
  };

  return (
    <div className="stack">
      <form className="kb-inline-form" onSubmit={rename}>
        <Field label="Title" value={title} maxLength={300} required onChange={(e) => setTitle(e.target.value)} />
        <button type="submit" disabled={busy || !title.trim() || title.trim() === entry.title}>
          Rename
        </button>
      </form>
      {text === null ? (
        <div className="row">
          <button type="button" onClick={startEditing} disabled={busy}>
            Edit content
          </button>
          <span className="muted kb-small">Saves the edited text (markdown) as a new revision; an uploaded file's extracted text is what you edit.</span>
        </div>
      ) : (
        <form className="stack" onSubmit={save}>
          <TextArea label="New content" value={text} rows={14} onChange={(e) => setText(e.target.value)} />
          <div className="row">
            <button type="submit" className="primary" disabled={busy}>
              {busy ? 'Saving…' : 'Save as new revision'}
            </button>
            <button type="button" disabled={busy} onClick={() => setText(null)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      <ErrorNote error={error} />
      {note && <Notice>{note}</Notice>}
    </div>
  );
}
