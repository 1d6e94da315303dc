import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { Express } from 'express';
import { createTestApp, type TestApp } from './test-app';

export interface ChatCall {
  n: number;
  headers: http.IncomingHttpHeaders;
  body: { model: string; messages: { role: string; content: string }[]; stream?: boolean; stream_options?: { include_usage?: boolean }; max_tokens?: number };
}

/** How the fake answers one call: text pieces (streamed as chunks), the usage it reports, or a failure. */
export interface ChatScript {
  pieces?: string[];
  /** Reported in the final chunk; omitted → the server reports no usage at all. */
  usage?: { prompt_tokens: number; completion_tokens: number };
  /** Answer this HTTP status with an OpenAI error body instead. */
  status?: number;
  /** Wait this long before each piece. */
  delayMs?: number;
  /** Stop sending after this many pieces and keep the connection open (a hang). */
  hangAfter?: number;
  /** After this many pieces, send a line that is not JSON. */
  malformedAfter?: number;
  /** Wait this long before the first piece only (a slow first token). */
  firstDelayMs?: number;
  /** After this many pieces, drop the connection without ending the stream. */
  disconnectAfter?: number;
}

/**
 * An OpenAI-compatible `POST /v1/chat/completions` on loopback that streams the way OpenAI does:
 * `data: {chunk}` lines, the usage chunk last when asked for, then `data: [DONE]`. `script`
 * decides each call. `aborted` counts calls whose client went away before the end.
 */
export async function fakeOpenAi(script: (call: ChatCall) => ChatScript) {
  const calls: ChatCall[] = [];
  let aborted = 0;
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', async () => {
      const call: ChatCall = { n: calls.length + 1, headers: req.headers, body: JSON.parse(raw) };
      calls.push(call);
      const s = script(call);
      if (s.status) {
        res.writeHead(s.status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { message: `scripted failure ${s.status}`, type: 'server_error', code: null } }));
        return;
      }
      open.add(res);
      let ended = false;
      res.on('close', () => {
        open.delete(res);
        if (!ended) aborted += 1;
      });
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      const chunk = (delta: object, extra: object = {}) => res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: call.body.model, choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`);
      chunk({ role: 'assistant', content: '' });
      const pieces = s.pieces ?? [];
      for (let i = 0; i < pieces.length; i++) {
        if (s.hangAfter !== undefined && i >= s.hangAfter) return;
        if (s.disconnectAfter !== undefined && i >= s.disconnectAfter) {
          // Let what was written reach the client first: destroying at once would discard it.
          await new Promise((r) => setTimeout(r, 50));
          res.destroy();
          return;
        }
        if (s.malformedAfter !== undefined && i >= s.malformedAfter) {
          res.write('data: {"id": "c1", "choices": [{"delta": {"content": "broken\n\n');
          ended = true;
          res.end();
          return;
        }
        if (i === 0 && s.firstDelayMs) await new Promise((r) => setTimeout(r, s.firstDelayMs));
        if (s.delayMs) await new Promise((r) => setTimeout(r, s.delayMs));
        if (res.destroyed) return;
        chunk({ content: pieces[i] });
      }
      res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: call.body.model, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
      if (s.usage && call.body.stream_options?.include_usage) res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: call.body.model, choices: [], usage: { ...s.usage, total_tokens: s.usage.prompt_tokens + s.usage.completion_tokens } })}\n\n`);
      res.write('data: [DONE]\n\n');
      ended = true;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    calls,
    aborted: () => aborted,
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: () =>
      new Promise<void>((r) => {
        for (const res of open) res.destroy();
        server.close(() => r());
      }),
  };
}

export interface AnthropicCall {
  n: number;
  body: { model: string; system?: string; messages: { role: string; content: string }[]; max_tokens: number; stream?: boolean };
  headers: http.IncomingHttpHeaders;
}

/**
 * Anthropic's `POST /v1/messages` on loopback, streaming as Anthropic does: named events
 * message_start (input tokens), content_block_* (text deltas), message_delta (output tokens),
 * message_stop; or an error body with `status`.
 */
export async function fakeAnthropic(script: (call: AnthropicCall) => { pieces?: string[]; usage?: { input_tokens: number; output_tokens: number }; status?: number }) {
  const calls: AnthropicCall[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const call: AnthropicCall = { n: calls.length + 1, body: JSON.parse(raw), headers: req.headers };
      calls.push(call);
      const s = script(call);
      if (s.status) {
        res.writeHead(s.status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: `scripted failure ${s.status}` } }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      const send = (event: string, data: object) => res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
      const usage = s.usage ?? { input_tokens: 0, output_tokens: 0 };
      send('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: call.body.model, stop_reason: null, stop_sequence: null, usage: { input_tokens: usage.input_tokens, output_tokens: 1 } } });
      send('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
      for (const text of s.pieces ?? []) send('content_block_delta', { index: 0, delta: { type: 'text_delta', text } });
      send('content_block_stop', { index: 0 });
      send('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
      send('message_stop', {});
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    calls,
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Parses a whole SSE body into its events (comments skipped). */
export function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .map((block) => block.split('\n').filter((l) => l && !l.startsWith(':')))
    .filter((lines) => lines.length > 0)
    .map((lines) => ({ event: lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message', data: JSON.parse(lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n')) as Record<string, unknown> }));
}

/** Posts a message and reads the whole event stream. */
export async function ask(app: Express, auth: Record<string, string>, conversationId: string, content: string, extra: Record<string, unknown> = {}) {
  const res = await request(app)
    .post(`/api/conversations/${conversationId}/messages`)
    .set(auth)
    .send({ content, ...extra })
    .buffer(true)
    .parse((r, cb) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (c: string) => (body += c));
      r.on('end', () => cb(null, body));
    });
  const text = res.body as string;
  return { status: res.status, headers: res.headers, events: res.status === 200 ? parseSse(text) : [], error: res.status === 200 ? undefined : (JSON.parse(text) as { error: { code: string; message: string } }).error };
}

/**
 * Posts a chat turn over a real socket (supertest cannot leave mid-stream) and hands the body so
 * far to `onData` after each chunk; `onData` answering 'leave' destroys the request there, as a
 * client that goes away. Resolves with the body received and whether the client left.
 */
export function streamTurn(port: number, auth: Record<string, string>, conversationId: string, content: string, onData?: (body: string) => 'leave' | void): Promise<{ body: string; left: boolean }> {
  return new Promise((resolve, reject) => {
    let body = '';
    let left = false;
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: `/api/conversations/${conversationId}/messages`, headers: { ...auth, 'Content-Type': 'application/json' } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
        if (!left && onData?.(body) === 'leave') {
          left = true;
          req.destroy();
          resolve({ body, left });
        }
      });
      res.on('end', () => resolve({ body, left }));
      res.on('error', () => undefined);
    });
    req.on('error', (err) => (left ? undefined : reject(err)));
    req.end(JSON.stringify({ content }));
  });
}

/**
 * An app with `env` whose default provider is the local `upstream`: `body` runs with it, then the
 * app and the upstream are closed, whatever happened.
 */
export async function withApp(upstream: { baseUrl: string; close(): Promise<void> }, env: Record<string, string>, body: (t: TestApp) => Promise<void>): Promise<void> {
  try {
    const t = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000', LLM_BASE_URL: upstream.baseUrl, ...env });
    try {
      await body(t);
    } finally {
      await t.close();
    }
  } finally {
    await upstream.close();
  }
}
