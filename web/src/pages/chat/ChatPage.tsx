import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useNavigate, useParams } from 'react-router';
import { api, ApiError, messageOf } from '../../lib/api';
import type { Agent, Conversation, Message } from '../../lib/types';
import { ErrorNote } from '../../components/ui';
import { ConversationList } from './ConversationList';
import { AnswerView, MessageView } from './MessageView';
import { Composer } from './Composer';
import { streamTurn, type TurnEvent } from './stream';
import { currentBranch } from './tree';
import './chat.css';

interface Streaming {
  /** The message the new turn hangs under (null: the first question). */
  attachTo: string | null;
  question?: string;
  answer: Message;
}

const draftAnswer = (): Message => ({ id: 'streaming', parentId: null, role: 'assistant', content: '', status: 'complete', error: null, citations: [], model: null, promptTokens: null, completionTokens: null, createdAt: new Date().toISOString() });

export function ChatPage() {
  const { conversationId } = useParams();
  const navigate = useNavigate();
  const [agents, setAgents] = useState<Agent[]>([]);
  const [agentSlug, setAgentSlug] = useState('');
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [query, setQuery] = useState('');
  const [conversation, setConversation] = useState<Conversation | null>(null);
  const [messages, setMessages] = useState<Message[]>([]);
  const [chosen, setChosen] = useState<Record<string, string>>({});
  const [streaming, setStreaming] = useState<Streaming | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [sidebarOpen, setSidebarOpen] = useState(false);
  const abortRef = useRef<AbortController | null>(null);
  const streamingFor = useRef<string | null>(null);
  const scrollRef = useRef<HTMLDivElement>(null);
  // Late answers for a conversation no longer on screen must not land in its place.
  // Set when the route changes (the effect below) and when a turn opens a new conversation, not on
  // every render: a render in between (the route update is a transition) must not reset it.
  const currentId = useRef(conversationId);
  const listSeq = useRef(0);
  const loadSeq = useRef(0);
  const titleTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  // Each turn's number: a turn left behind (its conversation closed) must not touch the next one's state.
  const runSeq = useRef(0);
  const starting = useRef(false);

  // How many conversations the sidebar shows: 50, and 50 more per "Show more" (pages of at most 100).
  const listWant = useRef(50);
  const [listTotal, setListTotal] = useState(0);
  const loadList = useCallback(async (q: string) => {
    const seq = ++listSeq.current;
    const want = listWant.current;
    const search = q.trim() ? `&q=${encodeURIComponent(q.trim())}` : '';
    const pages = await Promise.all(
      Array.from({ length: Math.ceil(want / 100) }, (_, i) => api<{ conversations: Conversation[]; total: number }>(`/api/conversations?limit=${Math.min(100, want - i * 100)}&offset=${i * 100}${search}`)),
    );
    if (seq !== listSeq.current) return;
    setConversations(pages.flatMap((r) => r.conversations));
    setListTotal(pages[0]?.total ?? 0);
  }, []);
  const showMore = useCallback(() => {
    listWant.current += 50;
    void loadList(query).catch((err: unknown) => setError(messageOf(err)));
  }, [loadList, query]);
  useEffect(() => {
    listWant.current = 50;
    const t = setTimeout(() => void loadList(query).catch((err: unknown) => setError(messageOf(err))), query ? 250 : 0);
    return () => clearTimeout(t);
  }, [query, loadList]);

  useEffect(() => {
    api<{ agents: Agent[] }>('/api/agents')
      .then((r) => {
        const usable = r.agents.filter((a) => !a.archived);
        setAgents(usable);
        setAgentSlug((s) => s || (usable.find((a) => a.isDefault) ?? usable[0])?.slug || '');
      })
      .catch((err: unknown) => setError(messageOf(err)));
  }, []);

  /** Loads a conversation; `expect` waits (briefly) for an answer the server is still saving after a Stop. */
  const loadConversation = useCallback(async (id: string, expect?: string) => {
    const seq = ++loadSeq.current;
    for (let attempt = 0; ; attempt++) {
      const res = await api<{ conversation: Conversation; messages: Message[] }>(`/api/conversations/${id}`);
      if (seq !== loadSeq.current || currentId.current !== id) return;
      if (!expect || attempt >= 20 || res.messages.some((m) => m.id === expect)) {
        setConversation(res.conversation);
        setMessages(res.messages);
        return;
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  }, []);
  useEffect(() => {
    currentId.current = conversationId;
    setError(null);
    setSidebarOpen(false);
    clearTimeout(titleTimer.current);
    // Leaving a conversation while its answer streams stops it (the server keeps what was written).
    if (streamingFor.current !== null && streamingFor.current !== conversationId) {
      abortRef.current?.abort();
      runSeq.current++;
      abortRef.current = null;
      streamingFor.current = null;
      setStreaming(null);
    }
    if (!conversationId) {
      setConversation(null);
      setMessages([]);
      setChosen({});
      return;
    }
    // The page's own new conversation is already on screen, streaming.
    if (streamingFor.current === conversationId) return;
    setChosen({});
    loadConversation(conversationId).catch((err: unknown) => {
      if (err instanceof ApiError && err.status === 404) {
        setError('This conversation does not exist (or is not yours).');
        setConversation(null);
        setMessages([]);
      } else setError(messageOf(err));
    });
  }, [conversationId, loadConversation]);

  useEffect(
    () => () => {
      abortRef.current?.abort();
      clearTimeout(titleTimer.current);
    },
    [],
  );

  const branch = useMemo(() => currentBranch(messages, chosen), [messages, chosen]);
  const visible = useMemo(() => {
    if (!streaming) return branch;
    const cut = streaming.attachTo === null ? 0 : branch.findIndex((s) => s.message.id === streaming.attachTo) + 1;
    return branch.slice(0, cut);
  }, [branch, streaming]);

  useEffect(() => {
    const el = scrollRef.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 160) el.scrollTop = el.scrollHeight;
  });

  /** Streams one turn; deltas are painted at most once a frame so long answers stay smooth. */
  const run = useCallback(
    async (path: (id: string) => string, body: unknown, attachTo: string | null, question: string | undefined, existing: string | null): Promise<boolean> => {
      // A second Enter before the first turn shows must not start a second turn (or conversation).
      if (starting.current || streamingFor.current !== null) return false;
      starting.current = true;
      setError(null);
      const mine = ++runSeq.current;
      const live = () => runSeq.current === mine;
      let id = existing;
      try {
        if (!id) {
          id = (await api<{ conversation: Conversation }>('/api/conversations', { body: agentSlug ? { agent: agentSlug } : {} })).conversation.id;
          streamingFor.current = id;
          // Before the route re-renders: a quick answer may be loaded before it does.
          currentId.current = id;
          navigate(`/c/${id}`);
          void loadList(query).catch(() => undefined);
        } else streamingFor.current = id;
      } catch (err) {
        starting.current = false;
        setError(messageOf(err));
        return false;
      }
      const controller = new AbortController();
      abortRef.current = controller;
      const answer = draftAnswer();
      let text = '';
      let frame = 0;
      const paint = () => {
        frame = 0;
        if (live()) setStreaming((s) => (s ? { ...s, answer: { ...s.answer, content: text } } : s));
      };
      setStreaming({ attachTo, question, answer });
      starting.current = false;
      let refused = false;
      let meta: Extract<TurnEvent, { event: 'meta' }>['data'] | undefined;
      try {
        // Pieces are painted once a frame; the other events carry the text so far with them, so that
        // pieces arriving in the same read never show after the citations or the error.
        await streamTurn(path(id), body, controller.signal, (ev) => {
          if (!live()) return;
          if (ev.event === 'meta') meta = ev.data;
          else if (ev.event === 'delta') {
            text += ev.data.text;
            frame ||= requestAnimationFrame(paint);
          } else if (ev.event === 'citations') setStreaming((s) => (s ? { ...s, answer: { ...s.answer, content: text, citations: ev.data.citations } } : s));
          else if (ev.event === 'error') setStreaming((s) => (s ? { ...s, answer: { ...s.answer, content: text, status: 'error', error: ev.data.message } } : s));
        });
      } catch (err) {
        if (!controller.signal.aborted && live()) {
          setError(messageOf(err));
          // Refused before the answer began (a limit, an open circuit): the question was not kept.
          refused = meta === undefined;
        }
      } finally {
        if (frame) cancelAnimationFrame(frame);
        if (live()) abortRef.current = null;
      }
      if (!live()) return !refused;
      // The server's copy is the truth (what was saved, with its status and tokens).
      try {
        await loadConversation(id, meta?.assistantMessageId);
        if (meta) {
          const m = meta;
          setChosen((c) => ({ ...c, [attachTo ?? 'root']: question === undefined ? m.assistantMessageId : m.userMessageId, ...(question === undefined ? {} : { [m.userMessageId]: m.assistantMessageId }) }));
        }
      } catch (err) {
        setError(messageOf(err));
      }
      if (!live()) return !refused;
      streamingFor.current = null;
      setStreaming(null);
      void loadList(query).catch(() => undefined);
      // The model names a new conversation after its first answer, in the background; pick the title up shortly after.
      if (attachTo === null && question !== undefined) {
        clearTimeout(titleTimer.current);
        titleTimer.current = setTimeout(() => {
          void loadList(query).catch(() => undefined);
          if (currentId.current === id) void loadConversation(id).catch(() => undefined);
        }, 2500);
      }
      return !refused;
    },
    [agentSlug, navigate, loadConversation, loadList, query],
  );

  const busy = streaming !== null;
  const lastAnswerId = [...branch].reverse().find((s) => s.message.role === 'assistant')?.message.id ?? null;
  const ask = useCallback((content: string) => run((id) => `/api/conversations/${id}/messages`, { content, parentId: lastAnswerId }, lastAnswerId, content, conversationId ?? null), [run, lastAnswerId, conversationId]);
  const regenerate = useCallback((assistantId: string) => {
    const parent = messages.find((m) => m.id === assistantId)?.parentId ?? null;
    void run((id) => `/api/conversations/${id}/regenerate`, { messageId: assistantId }, parent, undefined, conversationId ?? null);
  }, [run, messages, conversationId]);
  const edit = useCallback((m: Message, content: string) => run((id) => `/api/conversations/${id}/messages`, { content, parentId: m.parentId }, m.parentId, content, conversationId ?? null), [run, conversationId]);
  const choose = useCallback((key: string, id: string) => setChosen((c) => ({ ...c, [key]: id })), []);
  const stop = useCallback(() => abortRef.current?.abort(), []);

  const rename = useCallback(async (id: string, title: string): Promise<boolean> => {
    try {
      await api(`/api/conversations/${id}`, { method: 'PATCH', body: { title } });
      await loadList(query);
      if (id === conversationId) setConversation((c) => (c ? { ...c, title } : c));
      return true;
    } catch (err) {
      setError(messageOf(err));
      return false;
    }
  }, [loadList, query, conversationId]);
  const remove = useCallback(async (id: string) => {
    try {
      await api(`/api/conversations/${id}`, { method: 'DELETE' });
      await loadList(query);
      if (id === conversationId) navigate('/');
    } catch (err) {
      setError(messageOf(err));
    }
  }, [loadList, query, conversationId, navigate]);

  useEffect(() => {
    document.title = conversation ? `${conversation.title} · Hearth` : 'Hearth';
    return () => {
      document.title = 'Hearth';
    };
  }, [conversation]);

  const agent = conversation ? agents.find((a) => a.id === conversation.agentId) : agents.find((a) => a.slug === agentSlug);

  return (
    <div className="chat">
      <aside className={sidebarOpen ? 'chat-sidebar open' : 'chat-sidebar'} aria-label="Conversation list">
        <button type="button" className="primary new-chat" onClick={() => (setSidebarOpen(false), navigate('/'))}>
          New chat
        </button>
        <ConversationList conversations={conversations} activeId={conversationId} query={query} onQuery={setQuery} onRename={rename} onDelete={remove} />
        {conversations.length < listTotal && (
          <button type="button" className="small" onClick={showMore}>
            Show more ({(listTotal - conversations.length).toLocaleString()} older)
          </button>
        )}
      </aside>
      <section className="chat-main" aria-label="Chat">
        <header className="chat-header">
          <button type="button" className="sidebar-toggle" aria-expanded={sidebarOpen} onClick={() => setSidebarOpen((o) => !o)}>
            Conversations
          </button>
          <h1 className="chat-title">{conversation?.title ?? 'New chat'}</h1>
          {!conversationId ? (
            <span className="agent-picker">
              <label htmlFor="agent-picker">Agent</label>
              <select id="agent-picker" value={agentSlug} onChange={(e) => setAgentSlug(e.target.value)}>
                {agents.map((a) => (
                  <option key={a.id} value={a.slug}>
                    {a.name}
                  </option>
                ))}
              </select>
            </span>
          ) : (
            agent && <span className="muted agent-name">{agent.name}</span>
          )}
        </header>
        <div className="messages" ref={scrollRef} aria-live="off">
          {visible.length === 0 && !streaming && (
            <div className="welcome">
              <h2>{agent ? `Ask ${agent.name}` : 'Ask a question'}</h2>
              <p className="muted">{agent?.description || 'Answers are grounded in your knowledge bases and cite their sources.'}</p>
            </div>
          )}
          {visible.map((step, i) => (
            <MessageView key={step.message.id} step={step} isLast={!streaming && i === visible.length - 1} busy={busy} onChoose={choose} onRegenerate={regenerate} onEdit={edit} />
          ))}
          {streaming?.question !== undefined && (
            <article className="message user" data-testid="message-user" aria-label="Your question">
              <div className="bubble">{streaming.question}</div>
            </article>
          )}
          {streaming && <AnswerView message={streaming.answer} streaming />}
        </div>
        <div className="chat-footer">
          <ErrorNote error={error} testId="chat-error" />
          <Composer busy={busy} onSend={ask} onStop={stop} />
        </div>
      </section>
    </div>
  );
}
