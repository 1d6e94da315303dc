import crypto from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { ApiDocs } from '../../platform/openapi';
import { AppError, NotFoundError } from '../../platform/errors';
import { validated } from '../../platform/http/validate';
import { SseStream } from '../../platform/http/sse';
import { z } from '../../platform/zod';
import { apiKeyFrom, type Principal } from '../auth';
import type { AgentRow } from './chat.repository';
import type { AgentService } from './chat.agents.service';
import type { PromptMessage } from './chat.providers';
import type { ChatService } from './chat.service';

const principal = (req: Request): Principal => req.principal!;

const content = z.union([
  z.string(),
  z.array(z.object({ type: z.literal('text'), text: z.string() }).strict(), { message: 'only text parts are supported' }),
]);
const Message = z.object({ role: z.enum(['system', 'developer', 'user', 'assistant']), content, name: z.string().optional() }).strict();

/** The parameters Hearth honours; anything else in a request is refused by name (never silently ignored). */
const KNOWN = new Set(['model', 'messages', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'temperature', 'n', 'user']);
export const ChatCompletionBody = z
  .object({
    model: z.string().min(1),
    messages: z.array(Message).min(1, { message: 'needs at least one message' }),
    stream: z.boolean().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).strict().nullable().optional(),
    max_tokens: z.number().int().min(1).max(200_000).nullable().optional(),
    max_completion_tokens: z.number().int().min(1).max(200_000).nullable().optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    n: z.number().int().optional(),
    user: z.string().max(256).optional(),
  })
  .passthrough()
  .openapi('ChatCompletionRequest');

const ModelList = z.object({ object: z.literal('list'), data: z.array(z.object({ id: z.string(), object: z.literal('model'), created: z.number(), owned_by: z.string() })) });

const textOf = (c: z.infer<typeof content>) => (typeof c === 'string' ? c : c.map((p) => p.text).join(''));

const STATUS_BY_CODE: Record<string, number> = { 'provider-timeout': 504, 'provider-unavailable': 503, 'provider-error': 502, 'provider-bad-response': 502 };

/** Agent rows read ahead by `openAiAgentPrefetch`, for the request that asked. */
const prefetched = new WeakMap<Request, Promise<AgentRow | undefined>>();

/**
 * Runs before authentication (for `POST /v1/chat/completions` only): starts reading the requested
 * agent while the API key is checked, since both reads are round trips before the first token and
 * neither needs the other. Only a request bearing an API key gets one (its key lookup costs it a
 * read already), and only once the rate limit let it through or gave it headroom (limitAlongside).
 * Nothing is decided here: the row is checked against the caller's rights once they are known, and
 * a failed read is read again.
 */
export function openAiAgentPrefetch(agents: AgentService): RequestHandler {
  return (req, _res, next) => {
    if (req.method !== 'POST' || req.originalUrl.split('?')[0] !== '/v1/chat/completions') return next();
    const model = (req.body as { model?: unknown } | undefined)?.model;
    if (apiKeyFrom(req) && typeof model === 'string' && model.length > 0 && model.length <= 200) {
      prefetched.set(req, agents.lookAhead(model).catch(() => undefined));
    }
    next();
  };
}

/**
 * The OpenAI-compatible API: `GET /v1/models` (the agents the caller may use, by slug) and
 * `POST /v1/chat/completions` (`model` = agent slug), streaming or not, with `usage` always. The
 * agent's system prompt and retrieval apply; a client's system messages come after the agent's.
 * The answer is accounted like one in the UI (no conversation is stored).
 */
export function openAiRoutes(docs: ApiDocs, agents: AgentService, chat: ChatService, opts: { signal: AbortSignal }) {
  const api = docs.router();
  const scope = { access: 'member' as const, apiKeyScope: 'chat' };
  const tags = ['openai-compatible'];
  api.route(
    { ...scope, method: 'get', path: '/v1/models', summary: 'The agents you may use, as OpenAI models (id = agent slug)', tags, responses: { 200: { description: 'Models', schema: ModelList }, 401: { description: 'No valid API key' } } },
    async (req, res) => {
      const list = await agents.list(principal(req));
      res.json({ object: 'list', data: list.map((a) => ({ id: a.slug, object: 'model', created: Math.floor(Date.parse(a.createdAt) / 1000), owned_by: 'hearth' })) });
    },
  );
  api.route(
    {
      ...scope,
      method: 'post',
      path: '/v1/chat/completions',
      summary: 'Chat completion from an agent (model = agent slug); stream or not; usage always',
      tags,
      request: { body: ChatCompletionBody },
      responses: { 200: { description: 'A chat.completion, or with stream: an SSE stream of chat.completion.chunk objects ending in [DONE]', schema: z.record(z.string(), z.unknown()) }, 400: { description: 'Invalid or unsupported parameters (OpenAI error shape)' }, 401: { description: 'No valid API key' }, 404: { description: 'No such model (agent)' } },
    },
    async (req, res) => {
      const { body } = validated<{ body: typeof ChatCompletionBody }>(req);
      const unsupported = Object.keys(body).filter((k) => !KNOWN.has(k));
      if (unsupported.length > 0) throw new AppError(400, 'unsupported-parameter', `Hearth does not support ${unsupported.map((k) => `'${k}'`).join(', ')}; remove ${unsupported.length === 1 ? 'it' : 'them'}.`, { param: unsupported[0] });
      if (body.n !== undefined && body.n !== 1) throw new AppError(400, 'unsupported-parameter', "Hearth returns one choice: 'n' must be 1.", { param: 'n' });
      const last = body.messages[body.messages.length - 1]!;
      if (last.role !== 'user') throw new AppError(400, 'last-message-not-user', 'The last message must be the user’s question.', { param: 'messages' });
      const p = principal(req);
      const agent = await agents.usable(p, body.model, prefetched.get(req)).catch((err: unknown) => {
        if (err instanceof NotFoundError) throw new AppError(404, 'model_not_found', `The model '${body.model}' does not exist or you do not have access to it.`, { param: 'model' });
        throw err;
      });
      const clientSystem = body.messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => textOf(m.content));
      const history = body.messages.slice(0, -1).filter((m) => m.role === 'user' || m.role === 'assistant').map((m): PromptMessage => ({ role: m.role as 'user' | 'assistant', content: textOf(m.content) }));
      const id = `chatcmpl-${crypto.randomUUID().replace(/-/g, '')}`;
      const created = Math.floor(Date.now() / 1000);
      const controller = new AbortController();
      const abort = () => controller.abort(new Error('client went away'));
      res.on('close', () => {
        if (!res.writableEnded) abort();
      });
      opts.signal.addEventListener('abort', abort, { once: true });
      const chunk = (delta: object, finish: string | null = null) => ({ id, object: 'chat.completion.chunk', created, model: agent.slug, choices: [{ index: 0, delta, finish_reason: finish }] });
      try {
        // Refused before any byte is sent: an open circuit is a plain 503, a question too long a 422.
        const checked = await chat.assertAnswerable(agent, { question: textOf(last.content), clientSystem, maxOutputTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined });
        if (body.stream) {
          const sse = new SseStream(res);
          const send = (o: unknown) => sse.write(`data: ${JSON.stringify(o)}\n\n`);
          try {
            send(chunk({ role: 'assistant', content: '' }));
            const r = await chat.generate({ p, agent, checked, question: textOf(last.content), history, clientSystem, conversationId: null, maxOutputTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined, temperature: body.temperature, signal: controller.signal, onDelta: (text) => send(chunk({ content: text })) });
            if (res.destroyed) return;
            if (r.outcome.status === 'error') send({ error: { message: r.outcome.message, type: 'api_error', param: null, code: r.outcome.code } });
            else if (r.outcome.status === 'aborted') send({ error: { message: 'The server is shutting down; the answer was cut short.', type: 'api_error', param: null, code: 'server-shutting-down' } });
            else send(chunk({}, 'stop'));
            if (body.stream_options?.include_usage) send({ id, object: 'chat.completion.chunk', created, model: agent.slug, choices: [], usage: usageOf(r.tokens) });
            sse.write('data: [DONE]\n\n');
          } catch (err) {
            // Headers are out: the failure goes in the stream, in OpenAI's shape, and the stream ends.
            if (!res.destroyed) {
              send({ error: { message: err instanceof AppError ? err.message : 'The answer failed on the server.', type: 'api_error', param: null, code: err instanceof AppError ? err.code : 'chat-failed' } });
              sse.write('data: [DONE]\n\n');
            }
            if (!(err instanceof AppError)) throw err;
          } finally {
            sse.end();
          }
          return;
        }
        const r = await chat.generate({ p, agent, checked, question: textOf(last.content), history, clientSystem, conversationId: null, maxOutputTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined, temperature: body.temperature, signal: controller.signal, onDelta: () => undefined });
        if (r.outcome.status === 'error') throw new AppError(STATUS_BY_CODE[r.outcome.code] ?? r.outcome.httpStatus ?? 500, r.outcome.code, r.outcome.message);
        if (r.outcome.status === 'aborted') throw new AppError(503, 'server-shutting-down', 'The server is shutting down; the answer was cut short.', undefined, { 'Retry-After': '5' });
        res.json({ id, object: 'chat.completion', created, model: agent.slug, choices: [{ index: 0, message: { role: 'assistant', content: r.text }, finish_reason: 'stop' }], usage: usageOf(r.tokens) });
      } finally {
        opts.signal.removeEventListener('abort', abort);
      }
    },
  );
  return api.router;
}

const usageOf = (t: { promptTokens: number; completionTokens: number }) => ({ prompt_tokens: t.promptTokens, completion_tokens: t.completionTokens, total_tokens: t.promptTokens + t.completionTokens });
