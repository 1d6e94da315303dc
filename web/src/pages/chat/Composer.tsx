import { memo, useEffect, useRef, useState } from 'react';

/** Enter sends, Shift+Enter adds a line, Esc stops a streaming answer. */
export const Composer = memo(function Composer({ busy, disabled, onSend, onStop }: { busy: boolean; disabled?: boolean; onSend: (text: string) => void; onStop: () => void }) {
  const [text, setText] = useState('');
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    if (!busy) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onStop();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [busy, onStop]);
  useEffect(() => {
    if (!busy) ref.current?.focus();
  }, [busy]);
  const submit = () => {
    const content = text.trim();
    if (!content || busy || disabled) return;
    setText('');
    onSend(content);
  };
  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <label className="visually-hidden" htmlFor="composer-input">
        Your message
      </label>
      <textarea
        id="composer-input"
        ref={ref}
        rows={2}
        placeholder="Ask a question… (Enter sends, Shift+Enter for a new line)"
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            submit();
          }
        }}
      />
      {busy ? (
        <button type="button" className="stop" onClick={onStop} aria-keyshortcuts="Escape">
          Stop
        </button>
      ) : (
        <button type="submit" className="primary" disabled={!text.trim() || disabled}>
          Send
        </button>
      )}
    </form>
  );
});
