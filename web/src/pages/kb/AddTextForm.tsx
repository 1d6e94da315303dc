import { useState, type FormEvent } from 'react';
import { api, messageOf } from '../../lib/api';
import { ErrorNote, Field, Notice, TextArea } from '../../components/ui';
import { kbPath, type CreatedEntry, type Job } from './kbTypes';

/** A typed entry (markdown: headings structure the chunks), created as JSON. */
export function AddTextForm({ kbId, onCreated }: { kbId: string; onCreated: (job: Job) => void }) {
  const [open, setOpen] = useState(false);
  const [title, setTitle] = useState('');
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!text.trim()) {
      setError('Content must not be empty.');
      return;
    }
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const created = await api<CreatedEntry>(`${kbPath(kbId)}/entries`, { body: { ...(title.trim() ? { title: title.trim() } : {}), text } });
      setTitle('');
      setText('');
      setDone(`Added “${created.entry.title}”; it is being indexed.`);
      onCreated(created.job);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  if (!open)
    return (
      <div className="row">
        <button type="button" onClick={() => setOpen(true)}>
          Add text
        </button>
        {done && <Notice>{done}</Notice>}
      </div>
    );
  return (
    <form className="stack kb-add-text" onSubmit={(e) => void submit(e)} aria-label="Add text">
      <Field label="Title" value={title} maxLength={300} onChange={(e) => setTitle(e.target.value)} hint="Optional: the first heading is used otherwise." />
      <TextArea label="Content" value={text} rows={8} onChange={(e) => setText(e.target.value)} hint="Markdown; headings split it into sections." />
      <ErrorNote error={error} />
      {done && <Notice>{done}</Notice>}
      <div className="row">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Adding…' : 'Add entry'}
        </button>
        <button type="button" onClick={() => setOpen(false)} disabled={busy}>
          Close
        </button>
      </div>
    </form>
  );
}
