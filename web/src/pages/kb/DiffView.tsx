import { useEffect, useId, useState } from 'react';
import { api, messageOf } from '../../lib/api';
import { ErrorNote, Spinner } from '../../components/ui';
import { entryPath, type Revision } from './kbTypes';

interface Diff {
  from: number;
  to: number;
  changed: boolean;
  diff: string;
}

function lineClass(line: string): string {
  if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('Index:') || line.startsWith('====') || line.startsWith('\\')) return 'diff-meta';
  if (line.startsWith('@@')) return 'diff-hunk';
  if (line.startsWith('+')) return 'diff-add';
  if (line.startsWith('-')) return 'diff-del';
  return 'diff-ctx';
}

/** The API's unified diff, line by line as text; colour marks the +/- lines, which also keep their sign. */
export function UnifiedDiff({ text }: { text: string }) {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return (
    <pre className="kb-diff" data-testid="diff">
      {lines.map((line, i) => (
        <span key={i} className={lineClass(line)}>
          {line}
          {'\n'}
        </span>
      ))}
    </pre>
  );
}

function RevisionSelect({ label, value, revisions, onChange }: { label: string; value: number | null; revisions: Revision[]; onChange: (n: number) => void }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value ?? ''} onChange={(e) => onChange(Number(e.target.value))}>
        {revisions.map((r) => (
          <option key={r.number} value={r.number}>
            Revision {r.number}
            {r.current ? ' (current)' : ''}
          </option>
        ))}
      </select>
    </div>
  );
}

export function DiffView({ kbId, entryId, revisions }: { kbId: string; entryId: string; revisions: Revision[] }) {
  const newest = revisions[0]?.number ?? null;
  const current = revisions.find((r) => r.current)?.number ?? newest;
  const [to, setTo] = useState<number | null>(null);
  const [from, setFrom] = useState<number | null>(null);
  const [diff, setDiff] = useState<Diff | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  // Defaults once revisions exist: the current revision against the one before it.
  const toShown = to ?? current;
  const fromShown = from ?? revisions.find((r) => toShown !== null && r.number < toShown)?.number ?? toShown;

  useEffect(() => {
    if (fromShown === null || toShown === null || fromShown === toShown) {
      setDiff(null);
      return;
    }
    const c = new AbortController();
    setBusy(true);
    setError(null);
    api<Diff>(`${entryPath(kbId, entryId)}/diff?${new URLSearchParams({ from: String(fromShown), to: String(toShown) })}`, { signal: c.signal })
      .then(setDiff)
      .catch((err: unknown) => {
        if (!c.signal.aborted) {
          setDiff(null);
          setError(messageOf(err));
        }
      })
      .finally(() => {
        if (!c.signal.aborted) setBusy(false);
      });
    return () => c.abort();
  }, [kbId, entryId, fromShown, toShown]);

  if (revisions.length < 2) return <p className="muted">There is only one revision so far; edits and restores add more to compare.</p>;
  return (
    <div className="stack">
      <div className="kb-diff-pick">
        <RevisionSelect label="From revision" value={fromShown} revisions={revisions} onChange={setFrom} />
        <RevisionSelect label="To revision" value={toShown} revisions={revisions} onChange={setTo} />
      </div>
      <ErrorNote error={error} />
      {fromShown === toShown && <p className="muted">Choose two different revisions to compare.</p>}
      {busy && <Spinner label="Comparing…" />}
      {!busy && diff && (diff.changed ? <UnifiedDiff text={diff.diff} /> : <p className="muted" data-testid="diff-unchanged">Revisions {diff.from} and {diff.to} have the same content.</p>)}
    </div>
  );
}
