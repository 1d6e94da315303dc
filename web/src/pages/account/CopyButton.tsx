import { useEffect, useRef, useState } from 'react';

/**
 * navigator.clipboard exists only in secure contexts and may be refused (a headless browser, a
 * denied permission); a self-hosted instance is often reached over plain http on a LAN, so fall
 * back to the old selection-based copy before giving up.
 */
async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the fallback
  }
  const active = document.activeElement as HTMLElement | null;
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.setAttribute('aria-hidden', 'true');
  area.style.position = 'fixed';
  area.style.top = '-1000px';
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  active?.focus();
  return ok;
}

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
    <span className="acct-copy">
      <button type="button" onClick={() => void copy()} aria-label={ariaLabel} data-testid={testId}>
        {label}
      </button>
      <span role="status" className={state === 'failed' ? 'fail' : 'ok'}>
        {state === 'copied' ? 'Copied' : state === 'failed' ? 'Copying failed: select the text and copy it yourself.' : ''}
      </span>
    </span>
  );
}
