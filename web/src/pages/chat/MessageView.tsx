import { memo, useState } from 'react';
import { Link } from 'react-router';
import { Markdown, StreamingMarkdown } from '../../components/Markdown';
import { CopyButton } from '../../components/CopyButton';
import { ErrorNote } from '../../components/ui';
import type { Citation, Message } from '../../lib/types';

export interface Step {
  message: Message;
  siblings: Message[];
}

interface Props {
  step: Step;
  isLast: boolean;
  busy: boolean;
  onChoose: (parentKey: string, id: string) => void;
  onRegenerate: (assistantId: string) => void;
  onEdit: (message: Message, content: string) => void;
}

/** One message of the branch. Memoised: a streaming answer re-renders only itself, not the history. */
export const MessageView = memo(function MessageView({ step, isLast, busy, onChoose, onRegenerate, onEdit }: Props) {
  const { message, siblings } = step;
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(message.content);
  const index = siblings.findIndex((s) => s.id === message.id);
  const parentKey = message.parentId ?? 'root';
  const versions =
    siblings.length > 1 ? (
      <span className="versions" role="group" aria-label={`Version ${index + 1} of ${siblings.length}`}>
        <button type="button" className="icon" aria-label="Previous version" disabled={index === 0 || busy} onClick={() => onChoose(parentKey, siblings[index - 1]!.id)}>
          ‹
        </button>
        {index + 1}/{siblings.length}
        <button type="button" className="icon" aria-label="Next version" disabled={index === siblings.length - 1 || busy} onClick={() => onChoose(parentKey, siblings[index + 1]!.id)}>
          ›
        </button>
      </span>
    ) : null;

  if (message.role === 'user') {
    return (
      <article className="message user" data-testid="message-user" aria-label="Your question">
        {editing ? (
          <form
            className="edit-form"
            onSubmit={(e) => {
              e.preventDefault();
              if (!draft.trim()) return;
              setEditing(false);
              onEdit(message, draft);
            }}
          >
            <label className="visually-hidden" htmlFor={`edit-${message.id}`}>
              Edit your question
            </label>
            <textarea id={`edit-${message.id}`} value={draft} onChange={(e) => setDraft(e.target.value)} rows={3} autoFocus />
            <div className="row">
              <button type="submit" className="primary">
                Send
              </button>
              <button type="button" onClick={() => (setEditing(false), setDraft(message.content))}>
                Cancel
              </button>
            </div>
          </form>
        ) : (
          <>
            <div className="bubble">{message.content}</div>
            <div className="message-actions">
              {versions}
              <button type="button" className="small" disabled={busy} onClick={() => (setDraft(message.content), setEditing(true))}>
                Edit
              </button>
            </div>
          </>
        )}
      </article>
    );
  }
  return (
    <AnswerView message={message} versions={versions}>
      {isLast && (
        <button type="button" className="small" disabled={busy} onClick={() => onRegenerate(message.id)}>
          Regenerate
        </button>
      )}
    </AnswerView>
  );
});

const tokensOf = (m: Pick<Message, 'promptTokens' | 'completionTokens'>) => (m.completionTokens === null ? null : (m.promptTokens ?? 0) + m.completionTokens);

export function AnswerView({ message, versions, streaming, children }: { message: Message; versions?: React.ReactNode; streaming?: boolean; children?: React.ReactNode }) {
  const [open, setOpen] = useState<Citation | null>(null);
  const tokens = tokensOf(message);
  return (
    <article className={`message assistant ${message.status}`} data-testid="message-assistant" aria-label="Answer" aria-busy={streaming || undefined}>
      {message.content ? streaming ? <StreamingMarkdown text={message.content} /> : <Markdown text={message.content} /> : streaming ? <p className="muted">Thinking…</p> : null}
      {message.status === 'aborted' && !streaming && <p className="badge" data-testid="answer-stopped">Stopped — the answer so far is kept.</p>}
      {message.status === 'error' && <ErrorNote error={message.error ?? 'The answer failed.'} testId="answer-error" />}
      {message.citations.length > 0 && (
        <div className="citations" aria-label="Sources">
          {message.citations.map((c) => (
            <button key={c.n} type="button" className={open?.n === c.n ? 'chip active' : 'chip'} data-testid="citation-chip" aria-expanded={open?.n === c.n} onClick={() => setOpen(open?.n === c.n ? null : c)} title={c.entryTitle}>
              [{c.n}] {c.entryTitle}
            </button>
          ))}
        </div>
      )}
      {open && (
        <aside className="citation-panel" data-testid="citation-panel" aria-label={`Source ${open.n}`}>
          <header className="row">
            <strong>
              [{open.n}] {open.entryTitle}
            </strong>
            <span className="muted">revision {open.revisionNumber}</span>
            <button type="button" className="icon close" aria-label="Close source" onClick={() => setOpen(null)}>
              ×
            </button>
          </header>
          <blockquote>{open.quote}</blockquote>
          <Link to={`/knowledge/${open.kbId}/entries/${open.entryId}?revision=${open.revisionNumber}&chunk=${open.chunkId}`} state={{ quote: open.quote }}>Open the passage in its document</Link>
        </aside>
      )}
      <div className="message-actions">
        {versions}
        {tokens !== null && !streaming && (
          <span className="muted small" data-testid="answer-tokens" title={`${message.promptTokens ?? 0} in the prompt, ${message.completionTokens} in the answer`}>
            {tokens.toLocaleString()} tokens
          </span>
        )}
        {message.content && !streaming && <CopyButton text={message.content} label="Copy answer" />}
        {children}
      </div>
    </article>
  );
}
