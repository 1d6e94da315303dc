import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { Express } from 'express';

export interface ChatCall {
  n: number;
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
      const call: ChatCall = { n: calls.length + 1, body: JSON.parse(raw) };
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
