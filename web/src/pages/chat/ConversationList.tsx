import { memo, useState } from 'react';
import { Link } from 'react-router';
import type { Conversation } from '../../lib/types';

interface Props {
  conversations: Conversation[];
  activeId: string | undefined;
  query: string;
  onQuery: (q: string) => void;
  onRename: (id: string, title: string) => Promise<boolean>;
  onDelete: (id: string) => Promise<void>;
}

/** The sidebar: newest first, a search over titles and messages, rename and delete in place. */
export const ConversationList = memo(function ConversationList({ conversations, activeId, query, onQuery, onRename, onDelete }: Props) {
  return (
    <div className="conversation-list">
      <label className="visually-hidden" htmlFor="conversation-search">
        Search conversations
      </label>
      <input id="conversation-search" type="search" placeholder="Search conversations" value={query} onChange={(e) => onQuery(e.target.value)} />
      {conversations.length === 0 && <p className="muted small">{query ? 'Nothing matches.' : 'No conversations yet.'}</p>}
      <ul aria-label="Conversations">
        {conversations.map((c) => (
          <ConversationItem key={c.id} conversation={c} active={c.id === activeId} onRename={onRename} onDelete={onDelete} />
        ))}
      </ul>
    </div>
  );
});

function ConversationItem({ conversation, active, onRename, onDelete }: { conversation: Conversation; active: boolean; onRename: Props['onRename']; onDelete: Props['onDelete'] }) {
  const [mode, setMode] = useState<'view' | 'rename' | 'confirm'>('view');
  const [title, setTitle] = useState(conversation.title);
  if (mode === 'rename')
    return (
      <li className="conversation editing">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void onRename(conversation.id, title).then((ok) => ok && setMode('view'));
          }}
        >
          <input aria-label="New title" value={title} onChange={(e) => setTitle(e.target.value)} autoFocus onKeyDown={(e) => e.key === 'Escape' && setMode('view')} />
          <div className="row">
            <button type="submit">Save</button>
            <button type="button" onClick={() => setMode('view')}>
              Cancel
            </button>
          </div>
        </form>
      </li>
    );
  return (
    <li className={active ? 'conversation active' : 'conversation'}>
      <Link to={`/c/${conversation.id}`} aria-current={active ? 'page' : undefined} title={conversation.title}>
        {conversation.title}
      </Link>
      {mode === 'confirm' ? (
        <span className="row item-actions">
          <button type="button" className="danger" onClick={() => void onDelete(conversation.id)}>
            Delete
          </button>
          <button type="button" onClick={() => setMode('view')}>
            Keep
          </button>
        </span>
      ) : (
        <span className="row item-actions">
          <button type="button" className="icon" aria-label={`Rename ${conversation.title}`} onClick={() => (setTitle(conversation.title), setMode('rename'))}>
            ✎
          </button>
          <button type="button" className="icon" aria-label={`Delete ${conversation.title}`} onClick={() => setMode('confirm')}>
            ×
          </button>
        </span>
      )}
    </li>
  );
}
