import { ApiError, apiErrorOf, csrfToken, forgetCsrf, notifySignedOut, refreshSession } from '../../lib/api';
import { kbPath, type CreatedEntry } from './kbTypes';

// fetch() reports no upload progress, so files go up with XMLHttpRequest, which must then do by
// hand what lib/api does for every other call: credentials, the CSRF header, one refresh on 401.

interface XhrResult {
  status: number;
  body: unknown;
  retryAfter: string | null;
}

function post(url: string, form: FormData, csrf: string | null, onProgress: (fraction: number) => void, signal?: AbortSignal): Promise<XhrResult> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.withCredentials = true;
    xhr.responseType = 'text';
    xhr.setRequestHeader('Accept', 'application/json');
    if (csrf) xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let body: unknown;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : undefined;
      } catch {
        body = undefined;
      }
      resolve({ status: xhr.status, body, retryAfter: xhr.getResponseHeader('Retry-After') });
    };
    xhr.onerror = () => reject(new TypeError('network'));
    xhr.onabort = () => reject(new DOMException('Stopped.', 'AbortError'));
    if (signal?.aborted) return reject(new DOMException('Stopped.', 'AbortError'));
    const abort = () => xhr.abort();
    signal?.addEventListener('abort', abort, { once: true });
    xhr.onloadend = () => signal?.removeEventListener('abort', abort);
    xhr.send(form);
  });
}

const errorOf = (r: XhrResult): ApiError => apiErrorOf(r.status, r.body, r.retryAfter, 'upload');

const csrfRejected = (r: XhrResult) => {
  const code = (r.body as { error?: { code?: string } } | undefined)?.error?.code;
  return r.status === 403 && (code === 'csrf-invalid' || code === 'csrf-missing');
};

/** Uploads one file as a new entry (multipart field "file"); resolves with the entry, revision and job. */
export async function uploadEntry(kbId: string, file: File, onProgress: (fraction: number) => void, signal?: AbortSignal): Promise<CreatedEntry> {
  const url = `${kbPath(kbId)}/entries`;
  const attempt = async () => {
    const form = new FormData();
    form.append('file', file, file.name);
    return post(url, form, await csrfToken(), onProgress, signal);
  };
  let r = await attempt();
  if (r.status === 401) {
    if (await refreshSession()) r = await attempt();
  } else if (csrfRejected(r)) {
    forgetCsrf();
    r = await attempt();
  }
  if (r.status === 401) notifySignedOut();
  if (r.status === 401) throw new ApiError(401, 'unauthenticated', 'Your session has ended. Sign in again, then upload the file again.');
  if (r.status < 200 || r.status >= 300) throw errorOf(r);
  return r.body as CreatedEntry;
}
