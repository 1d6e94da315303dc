import { useEffect, useRef, useState } from 'react';
import { copyText } from '../lib/clipboard';

/** A copy button that says what happened next to it (announced, since focus stays on the button). */
export function CopyButton({ text, label = 'Copy', ariaLabel, testId }: { text: string; label?: string; ariaLabel?: string; testId?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  const copy = async () => {
    const ok = await copyText(text);
    setState(ok ? 'copied' : 'failed');
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => setState('idle'), 4000);
  };
  return (
    <span className="copy-button">
      <button type="button" onClick={() => void copy()} aria-label={ariaLabel} data-testid={testId}>
        {label}
      </button>
      <span role="status" className={state === 'failed' ? 'fail' : 'ok'}>
        {state === 'copied' ? 'Copied' : state === 'failed' ? 'Copying failed: select the text and copy it yourself.' : ''}
      </span>
    </span>
  );
}
