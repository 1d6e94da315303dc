/**
 * The one way the UI talks to the server: same-origin fetch with the session cookies, the CSRF
 * token on every state-changing request, one silent refresh of an expired access cookie, and the
 * API's error body turned into an ApiError whose message is fit to show a person.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

type Listener = () => void;
const signedOutListeners = new Set<Listener>();
/** The session is gone for good: every listener (the app) sends the person to sign-in. */
export function notifySignedOut(): void {
  signedOutListeners.forEach((l) => l());
}

/** Called when the session is gone for good (refresh refused): the app sends the person to sign-in. */
export function onSignedOut(fn: Listener): () => void {
  signedOutListeners.add(fn);
  return () => signedOutListeners.delete(fn);
}

let csrfPromise: Promise<string | null> | undefined;
/** The session's CSRF token (fetched once per session); for every state-changing request. */
export function csrfToken(): Promise<string | null> {
  csrfPromise ??= fetch('/api/auth/csrf', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
    .then(async (res) => (res.ok ? ((await res.json()) as { csrfToken: string | null }).csrfToken : null))
    .catch(() => {
      csrfPromise = undefined;
      return null;
    });
  return csrfPromise;
}
/** The CSRF token is bound to the session: a new sign-in or refresh means a new one. */
export function forgetCsrf(): void {
  csrfPromise = undefined;
}

const withRefreshLock = <T>(fn: () => Promise<T>): Promise<T> => (typeof navigator !== 'undefined' && navigator.locks ? (navigator.locks.request('hearth-refresh', fn) as Promise<T>) : fn());

let refreshing: Promise<boolean> | undefined;
/**
 * Renews an expired access cookie, once for the whole page and one tab at a time: the server takes
 * a second use of a spent refresh token as theft and ends the session, so two tabs (or a request
 * and an upload) must never refresh at once.
 */
export function refreshSession(): Promise<boolean> {
  refreshing ??= withRefreshLock(async () => {
    // Another tab may have refreshed while this one waited (the cookies are shared).
    const me = await fetch('/api/auth/me', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (me.ok) return true;
    const r = await fetch('/api/auth/refresh', { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    return r.ok;
  })
    .catch(() => false)
    .finally(() => {
      forgetCsrf();
      refreshing = undefined;
    });
  return refreshing;
}

const twoFactorListeners = new Set<Listener>();
/** REQUIRE_ADMIN_2FA: an admin without 2FA is sent to set it up instead of seeing errors everywhere. */
export function onTwoFactorRequired(fn: Listener): () => void {
  twoFactorListeners.add(fn);
  return () => twoFactorListeners.delete(fn);
}

const NO_REFRESH = new Set(['/api/auth/login', '/api/auth/refresh', '/api/auth/setup']);

/** An error answer (status, parsed body, Retry-After) as an ApiError with a message fit to show. */
export function apiErrorOf(status: number, body: unknown, retryAfter: string | null, what = 'request'): ApiError {
  const e = (body as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
  const retry = Number(retryAfter);
  const fallback = status === 413 ? 'That is larger than this server accepts.' : status >= 500 ? 'The server had a problem; try again in a moment.' : `The ${what} failed (${status}).`;
  return new ApiError(status, e?.code ?? `http-${status}`, e?.message ?? fallback, e?.details, Number.isFinite(retry) && retry > 0 ? retry : undefined);
}

export async function errorFrom(res: Response): Promise<ApiError> {
  const body: unknown = await res.json().catch(() => undefined);
  return apiErrorOf(res.status, body, res.headers.get('Retry-After'));
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  form?: FormData;
  signal?: AbortSignal;
  accept?: string;
}

/** A raw response (for streams and downloads); throws ApiError for a non-2xx answer. */
export async function send(path: string, opts: RequestOptions = {}): Promise<Response> {
  const method = opts.method ?? (opts.body !== undefined || opts.form ? 'POST' : 'GET');
  const attempt = async () => {
    const headers: Record<string, string> = { Accept: opts.accept ?? 'application/json' };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && method !== 'HEAD') {
      const token = await csrfToken();
      if (token) headers['X-CSRF-Token'] = token;
    }
    return fetch(path, { method, credentials: 'same-origin', headers, body: opts.form ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined), signal: opts.signal });
  };
  let res = await attempt();
  if (res.status === 401 && !NO_REFRESH.has(path)) {
    if (await refreshSession()) res = await attempt();
    if (res.status === 401) notifySignedOut();
  } else if (res.status === 403) {
    const code = ((await res.clone().json().catch(() => ({}))) as { error?: { code?: string } }).error?.code;
    // A stale CSRF token (the session was rotated in another tab): fetch a fresh one once.
    if ((code === 'csrf-invalid' || code === 'csrf-missing') && method !== 'GET') {
      forgetCsrf();
      res = await attempt();
    } else if (code === 'two-factor-required') twoFactorListeners.forEach((l) => l());
  }
  if (!res.ok) throw await errorFrom(res);
  return res;
}

/** JSON in, JSON out. */
export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await send(path, opts);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** A message fit to show: the API's own for an ApiError, a plain one otherwise. */
export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof DOMException && err.name === 'AbortError') return 'Stopped.';
  if (err instanceof TypeError) return 'The server could not be reached. Check your connection and try again.';
  return err instanceof Error ? err.message : String(err);
}
