import { useEffect, useMemo, useRef, useState } from 'react';
import { Link } from 'react-router';
import { api, ApiError, messageOf } from '../../lib/api';
import { ErrorNote, Spinner } from '../../components/ui';
import { entryPath, kbPath, type Revision, type SearchHit } from './kbTypes';

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Where a cited passage sits in a revision's text. Chunks are the revision's paragraphs re-joined
 * (and may carry an overlap or a trailing "…" in a quote), so after an exact try this matches on
 * the words with any whitespace between, then on the passage's longest paragraph alone.
 */
export function findPassage(content: string, quote: string): [number, number] | null {
  const q = quote.trim().replace(/(…|\.\.\.)$/, '').trim();
  if (q.length < 3) return null;
  const exact = content.indexOf(q);
  if (exact >= 0) return [exact, exact + q.length];
  const paragraphs = q
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter((p) => p.length >= 20)
    .sort((a, b) => b.length - a.length);
  for (const attempt of [q, ...paragraphs]) {
    const words = attempt.split(/\s+/).filter(Boolean).slice(0, 500);
    if (words.length === 0) continue;
    const m = new RegExp(words.map(escapeRe).join('\\s+')).exec(content);
    if (m) return [m.index, m.index + m[0].length];
  }
  return null;
}

const WINDOW = 900;
const MAX_LOOKUPS = 8;

/** Slices of the text (at word breaks) short enough to be a search query; evenly spread when there are many. */
function windowsOf(content: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < content.length; ) {
    let end = Math.min(content.length, i + WINDOW);
    if (end < content.length) {
      const space = content.lastIndexOf(' ', end);
      if (space > i + WINDOW / 2) end = space;
    }
    const piece = content.slice(i, end).trim();
    if (piece) out.push(piece);
    i = end;
  }
  if (out.length <= MAX_LOOKUPS) return out;
  return Array.from({ length: MAX_LOOKUPS }, (_, k) => out[Math.floor((k * out.length) / MAX_LOOKUPS)]!);
}

/**
 * The API has no "chunk by id" lookup, and a citation link carries only the id. The chunks of the
 * current revision are in the search index, so searching with the revision's own text finds them
 * and their ids; each lookup costs a query embedding, hence the small cap.
 */
async function chunkTextById(kbId: string, entryId: string, chunkId: number, content: string, signal: AbortSignal): Promise<string | undefined> {
  for (const q of windowsOf(content)) {
    const r = await api<{ hits: SearchHit[] }>(`${kbPath(kbId)}/search?${new URLSearchParams({ q, k: '50' })}`, { signal });
    const hit = r.hits.find((h) => h.chunkId === chunkId && h.entryId === entryId);
    if (hit) return hit.content;
  }
  return undefined;
}

/** One revision's text, opened from a citation or the history; the cited passage is marked. */
export function RevisionView({ kbId, entryId, number, quote, chunk }: { kbId: string; entryId: string; number: number; quote?: string; chunk?: string }) {
  const [revision, setRevision] = useState<(Revision & { content: string }) | null>(null);
  const [error, setError] = useState<string | null>(null);
  const markRef = useRef<HTMLElement | null>(null);

  useEffect(() => {
    const c = new AbortController();
    setRevision(null);
    setError(null);
    api<{ revision: Revision & { content: string } }>(`${entryPath(kbId, entryId)}/revisions/${number}`, { signal: c.signal })
      .then((r) => setRevision(r.revision))
      .catch((err: unknown) => {
        if (!c.signal.aborted) setError(err instanceof ApiError && err.status === 404 ? `This entry has no revision ${number}.` : messageOf(err));
      });
    return () => c.abort();
  }, [kbId, entryId, number]);

  // Without the passage's text (a citation link), it is looked up by the chunk id, for the current revision only (older revisions' chunks are gone).
  const [found, setFound] = useState<string | undefined>(undefined);
  const chunkId = chunk && /^\d+$/.test(chunk) ? Number(chunk) : null;
  useEffect(() => {
    setFound(undefined);
    if (quote || chunkId === null || !revision || !revision.current) return;
    const c = new AbortController();
    chunkTextById(kbId, entryId, chunkId, revision.content, c.signal).then(setFound, () => undefined);
    return () => c.abort();
  }, [kbId, entryId, chunkId, quote, revision]);

  const passage = quote ?? found;
  const range = useMemo(() => (revision && passage ? findPassage(revision.content, passage) : null), [revision, passage]);
  useEffect(() => {
    if (range) markRef.current?.scrollIntoView({ block: 'center' });
  }, [range]);

  return (
    <section className="card stack" aria-labelledby="kb-revision-h" data-testid="revision-view">
      <div className="row kb-spread">
        <h2 id="kb-revision-h">Revision {number}</h2>
        <Link to=".">Close</Link>
      </div>
      <ErrorNote error={error} />
      {!revision && !error && <Spinner />}
      {revision && (
        <>
          <p className="muted kb-small">
            {revision.status}
            {revision.current ? ' · current' : ''}
            {revision.originalName ? ` · ${revision.originalName}` : ''}
          </p>
          {chunk && passage && !range && <p className="muted">The cited passage could not be located in this revision; its full text is below.</p>}
          <pre className="kb-content" data-testid="revision-content">
            {range ? (
              <>
                {revision.content.slice(0, range[0])}
                <mark ref={markRef} data-testid="cited-passage">
                  {revision.content.slice(range[0], range[1])}
                </mark>
                {revision.content.slice(range[1])}
              </>
            ) : (
              revision.content
            )}
          </pre>
        </>
      )}
    </section>
  );
}
