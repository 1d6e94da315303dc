import { memo, useEffect, useRef, useState } from 'react';

/** Enter sends, Shift+Enter adds a line, Esc stops a streaming answer. */
export const Composer = memo(function Composer({ busy, disabled, onSend, onStop }: { busy: boolean; disabled?: boolean; onSend: (text: string) => Promise<boolean>; onStop: () => void }) {
  const [text, setText] = useState('');
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    if (!busy) return;
    const onKey = (e: KeyboardEvent) => {
      // Esc in another field (a rename, an edit) cancels that, not the answer.
      const t = e.target as HTMLElement | null;
      const elsewhere = t !== ref.current && t !== null && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT');
      if (e.key === 'Escape' && !e.defaultPrevented && !elsewhere) onStop();
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
    // A question the server refused (a limit, an open circuit) comes back to the box, not lost.
    void onSend(content).then((started) => {
      if (!started) setText((now) => now || content);
    });
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
