import http from 'node:http';
import https from 'node:https';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A plain request with a custom CA (fetch cannot take one) and no redirect following. */
export function rawRequest(url: string, opts: { method?: string; headers?: Record<string, string>; ca?: Buffer; body?: string | Buffer; rejectUnauthorized?: boolean } = {}): Promise<RawResponse> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      u,
      { method: opts.method ?? 'GET', headers: opts.headers, ca: opts.ca, rejectUnauthorized: opts.rejectUnauthorized ?? true, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout: ${url}`)));
    if (opts.body) req.write(opts.body);
    req.end();
  });
}

export interface TimedEvent {
  atMs: number;
  text: string;
}

/** Reads a response as it arrives, noting when each chunk came (to see whether a proxy buffers). */
export function streamChunks(url: string, opts: { ca?: Buffer; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; chunks: TimedEvent[]; endedAtMs: number }> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = lib.request(u, { headers: { Accept: 'text/event-stream', ...opts.headers }, ca: opts.ca, agent: false }, (res) => {
      const chunks: TimedEvent[] = [];
      res.on('data', (c: Buffer) => chunks.push({ atMs: performance.now() - started, text: c.toString() }));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, chunks, endedAtMs: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(60_000, () => req.destroy(new Error(`timeout: ${url}`)));
    req.end();
  });
}
