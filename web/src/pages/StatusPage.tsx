import { useEffect, useState } from 'react';

interface Check {
  status: 'ok' | 'fail';
  latencyMs?: number;
  error?: string;
}
interface Readiness {
  status: 'ok' | 'fail';
  checks: Record<string, Check>;
}
type State = { kind: 'loading' } | { kind: 'loaded'; ready: Readiness } | { kind: 'unreachable'; message: string };

async function fetchReadiness(): Promise<State> {
  try {
    const res = await fetch('/health/ready', { headers: { Accept: 'application/json' }, cache: 'no-store' });
    return { kind: 'loaded', ready: (await res.json()) as Readiness };
  } catch (err) {
    return { kind: 'unreachable', message: err instanceof Error ? err.message : String(err) };
  }
}

/** System status (public): what /health/ready says, refreshed every 10 s. */
export function StatusPage() {
  const [state, setState] = useState<State>({ kind: 'loading' });
  useEffect(() => {
    let cancelled = false;
    const load = () => fetchReadiness().then((s) => !cancelled && setState(s));
    void load();
    const timer = setInterval(load, 10_000);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, []);
  return (
    <main className="narrow">
      <header className="brand">
        <img src="/favicon.svg" alt="" width={40} height={40} />
        <div>
          <h1>Hearth</h1>
          <p className="muted">Your company's AI agents, grounded in your documents, on your own server.</p>
        </div>
      </header>
      <section className="card" aria-live="polite" data-testid="readiness">
        <h2>System status</h2>
        {state.kind === 'loading' && <p className="muted">Checking…</p>}
        {state.kind === 'unreachable' && <p className="status fail">Server unreachable: {state.message}</p>}
        {state.kind === 'loaded' && (
          <>
            <p className={`status ${state.ready.status}`} data-testid="readiness-status">
              {state.ready.status === 'ok' ? 'Ready' : 'Not ready'}
            </p>
            <ul className="checks">
              {Object.entries(state.ready.checks).map(([name, check]) => (
                <li key={name} className={check.status}>
                  <span className="dot" aria-hidden="true" />
                  <span className="name">{name}</span>
                  <span className="detail">{check.status === 'ok' ? `${check.latencyMs ?? 0} ms` : (check.error ?? 'failing')}</span>
                </li>
              ))}
            </ul>
          </>
        )}
      </section>
      <p>
        <a href="/">Open Hearth</a>
      </p>
    </main>
  );
}
