import type { Request, Response } from 'express';
import type { ApiDocs } from '../../platform/openapi';
import { AppError } from '../../platform/errors';
import { SseStream } from '../../platform/http/sse';
import { validated } from '../../platform/http/validate';
import { AuditService } from '../../platform/audit/audit.service';
import { z } from '../../platform/zod';
import type { Principal } from '../auth';
import type { AgentService } from './chat.agents.service';
import type { ChatService, TurnEvent } from './chat.service';
import type { ProviderService } from './chat.providers.service';
import * as dto from './chat.dto';

const principal = (req: Request): Principal => req.principal!;
const errors = { 400: { description: 'Invalid input' }, 401: { description: 'Not signed in' }, 404: { description: 'No such agent or conversation (or not yours)' } };

export function chatRoutes(docs: ApiDocs, agents: AgentService, chat: ChatService, opts: { signal: AbortSignal; heartbeatMs?: number }) {
  const api = docs.router();
  const member = { access: 'member' as const, apiKeyScope: 'chat' };
  const admin = { access: 'admin' as const };
  const tags = ['agents'];
  api.route(
    { ...member, method: 'get', path: '/api/agents', summary: 'Agents you may use (admins: all, optionally archived ones too)', tags, request: { query: dto.ListAgentsQuery }, responses: { 200: { description: 'The agents', schema: dto.AgentListResponse }, ...errors } },
    async (req, res) => {
      const { query } = validated<{ query: typeof dto.ListAgentsQuery }>(req);
      res.json({ agents: await agents.list(principal(req), { includeArchived: query.archived === 'true' }) });
    },
  );
  api.route(
    { ...member, method: 'get', path: '/api/agents/:id', summary: 'One agent, by id or slug', tags, request: { params: dto.AgentParams }, responses: { 200: { description: 'The agent', schema: dto.AgentResponse }, ...errors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.AgentParams }>(req);
      res.json({ agent: await agents.get(principal(req), params.id) });
    },
  );
  api.route(
    { ...admin, method: 'post', path: '/api/agents', summary: 'Create an agent (admins)', tags, request: { body: dto.CreateAgentBody }, responses: { 201: { description: 'Created', schema: dto.AgentResponse }, 403: { description: 'Admins only' }, 409: { description: 'Slug taken' }, 422: { description: 'A knowledge base that does not exist, or a private one on an agent everyone can use' }, ...errors } },
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.CreateAgentBody }>(req);
      res.status(201).json({ agent: await agents.create(principal(req), body, AuditService.origin(req)) });
    },
  );
  api.route(
    { ...admin, method: 'patch', path: '/api/agents/:id', summary: 'Edit an agent (admins)', tags, request: { params: dto.AgentParams, body: dto.UpdateAgentBody }, responses: { 200: { description: 'Updated', schema: dto.AgentResponse }, 403: { description: 'Admins only' }, 409: { description: 'Slug taken' }, 422: { description: 'As for create; the default agent keeps its scope' }, ...errors } },
    async (req, res) => {
      const { params, body } = validated<{ params: typeof dto.AgentParams; body: typeof dto.UpdateAgentBody }>(req);
      res.json({ agent: await agents.update(principal(req), params.id, body, AuditService.origin(req)) });
    },
  );
  api.route(
    { ...admin, method: 'delete', path: '/api/agents/:id', summary: 'Archive an agent (admins); its conversations stay readable', tags, request: { params: dto.AgentParams }, responses: { 204: { description: 'Archived' }, 403: { description: 'Admins only' }, 422: { description: 'The default agent' }, ...errors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.AgentParams }>(req);
      await agents.archive(principal(req), params.id, AuditService.origin(req));
      res.status(204).end();
    },
  );

  const conv = { access: 'member' as const, apiKeyScope: 'conversations' };
  const ctags = ['conversations'];
  api.route(
    { ...conv, method: 'post', path: '/api/conversations', summary: 'Start a conversation with an agent (by id or slug; the default agent when none is named)', tags: ctags, request: { body: dto.CreateConversationBody }, responses: { 201: { description: 'Created', schema: dto.ConversationResponse }, ...errors } },
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.CreateConversationBody }>(req);
      res.status(201).json({ conversation: await chat.create(principal(req), body) });
    },
  );
  api.route(
    { ...conv, method: 'get', path: '/api/conversations', summary: 'Your conversations, newest first; q searches titles and messages', tags: ctags, request: { query: dto.ListConversationsQuery }, responses: { 200: { description: 'A page', schema: dto.ConversationListResponse }, ...errors } },
    async (req, res) => {
      const { query } = validated<{ query: typeof dto.ListConversationsQuery }>(req);
      res.json(await chat.list(principal(req), query));
    },
  );
  api.route(
    { ...conv, method: 'get', path: '/api/conversations/:id', summary: 'A conversation with its messages (all branches)', tags: ctags, request: { params: dto.ConversationParams }, responses: { 200: { description: 'The conversation', schema: dto.ConversationDetailResponse }, ...errors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.ConversationParams }>(req);
      res.json(await chat.get(principal(req), params.id));
    },
  );
  api.route(
    { ...conv, method: 'patch', path: '/api/conversations/:id', summary: 'Rename a conversation', tags: ctags, request: { params: dto.ConversationParams, body: dto.RenameConversationBody }, responses: { 200: { description: 'Renamed', schema: dto.ConversationResponse }, ...errors } },
    async (req, res) => {
      const { params, body } = validated<{ params: typeof dto.ConversationParams; body: typeof dto.RenameConversationBody }>(req);
      res.json({ conversation: await chat.rename(principal(req), params.id, body.title) });
    },
  );
  api.route(
    { ...conv, method: 'delete', path: '/api/conversations/:id', summary: 'Delete a conversation and its messages (usage records stay)', tags: ctags, request: { params: dto.ConversationParams }, responses: { 204: { description: 'Deleted' }, ...errors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.ConversationParams }>(req);
      await chat.delete(principal(req), params.id);
      res.status(204).end();
    },
  );
  api.route(
    { ...conv, method: 'get', path: '/api/conversations/:id/export', summary: 'Download a conversation as Markdown (the current branch) or JSON (every message)', tags: ctags, request: { params: dto.ConversationParams, query: dto.ExportQuery }, responses: { 200: { description: 'The file', schema: z.string(), contentType: 'text/markdown' }, ...errors } },
    async (req, res) => {
      const { params, query } = validated<{ params: typeof dto.ConversationParams; query: typeof dto.ExportQuery }>(req);
      const file = await chat.export(principal(req), params.id, query.format);
      res.status(200).set({ 'Content-Type': file.mimeType, 'Content-Disposition': `attachment; filename="${file.fileName.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '')}"; filename*=UTF-8''${encodeURIComponent(file.fileName)}`, 'X-Content-Type-Options': 'nosniff' }).send(file.body);
    },
  );
  const stream = (run: (req: Request, emit: (e: TurnEvent) => void, signal: AbortSignal) => Promise<void>) => async (req: Request, res: Response) => {
    // The client going away (or the server shutting down) aborts the upstream call.
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableEnded) controller.abort(new Error('client went away'));
    });
    // A shutdown aborts the model call too, but the client is still there: it gets the final events.
    const shutdown = () => controller.abort(new Error('server shutting down'));
    opts.signal.addEventListener('abort', shutdown, { once: true });
    // Opened by the first event: until then a refusal is still a plain JSON answer.
    let sse: SseStream | undefined;
    const emit = (e: TurnEvent) => {
      if (res.destroyed || res.writableEnded) return;
      sse ??= new SseStream(res, opts.heartbeatMs);
      sse.write(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
    };
    try {
      await run(req, emit, controller.signal);
    } catch (err) {
      // Not by headersSent: an opened stream sends its headers at the end of the turn that opened it.
      if (!sse) throw err;
      // The stream has begun, so the error handler could only end it: the failure is its last
      // event. The handler still logs it.
      emit({ event: 'error', data: err instanceof AppError ? { code: err.code, message: err.message } : { code: 'chat-failed', message: 'The answer failed on the server; try again.' } });
      throw err;
    } finally {
      opts.signal.removeEventListener('abort', shutdown);
      // Before the first event an error is still a plain JSON answer (the error handler's).
      sse?.end();
    }
  };
  api.route(
    {
      ...conv,
      method: 'post',
      path: '/api/conversations/:id/regenerate',
      summary: 'Answer the question of an answer again (the latest by default), as a new sibling answer; the same SSE stream as posting a message',
      tags: ctags,
      request: { params: dto.ConversationParams, body: dto.RegenerateBody },
      responses: { 200: { description: 'Server-sent events', schema: z.string(), contentType: 'text/event-stream' }, 422: { description: 'Not an answer' }, ...errors },
    },
    stream((req, emit, signal) => {
      const { params, body } = validated<{ params: typeof dto.ConversationParams; body: typeof dto.RegenerateBody }>(req);
      return chat.regenerate(principal(req), params.id, body, emit, signal);
    }),
  );
  api.route(
    {
      ...conv,
      method: 'post',
      path: '/api/conversations/:id/messages',
      summary: 'Ask: answers with an SSE stream of meta, delta…, citations, usage, then done or error',
      tags: ctags,
      request: { params: dto.ConversationParams, body: dto.PostMessageBody },
      responses: { 200: { description: 'Server-sent events', schema: z.string(), contentType: 'text/event-stream' }, 422: { description: 'The parent is not an answer' }, ...errors },
    },
    stream((req, emit, signal) => {
      const { params, body } = validated<{ params: typeof dto.ConversationParams; body: typeof dto.PostMessageBody }>(req);
      return chat.turn(principal(req), params.id, body, emit, signal);
    }),
  );
  return api.router;
}

/** Admin-managed model providers (keys sealed with ENCRYPTION_KEY and never returned). */
export function providerRoutes(docs: ApiDocs, providers: ProviderService) {
  const api = docs.router();
  const admin = { access: 'admin' as const };
  const tags = ['providers'];
  const errors = { 400: { description: 'Invalid input' }, 401: { description: 'Not signed in' }, 403: { description: 'Admins only' }, 404: { description: 'No such provider' } };
  api.route({ ...admin, method: 'get', path: '/api/providers', summary: 'Model providers beside the default one (admins)', tags, responses: { 200: { description: 'The providers', schema: dto.ProviderListResponse }, ...errors } }, async (req, res) => {
    res.json({ providers: await providers.list(principal(req)) });
  });
  api.route(
    { ...admin, method: 'post', path: '/api/providers', summary: 'Add an OpenAI-compatible or Anthropic provider (admins); its API key is stored sealed and never returned', tags, request: { body: dto.CreateProviderBody }, responses: { 201: { description: 'Created', schema: dto.ProviderResponse }, 409: { description: 'Name taken' }, 422: { description: 'Default model not among its models' }, ...errors } },
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.CreateProviderBody }>(req);
      res.status(201).json({ provider: await providers.create(principal(req), body, AuditService.origin(req)) });
    },
  );
  api.route(
    { ...admin, method: 'patch', path: '/api/providers/:id', summary: 'Change a provider (admins); apiKey null removes the key', tags, request: { params: dto.ProviderParams, body: dto.UpdateProviderBody }, responses: { 200: { description: 'Updated', schema: dto.ProviderResponse }, 409: { description: 'Name taken' }, 422: { description: 'Default model not among its models' }, ...errors } },
    async (req, res) => {
      const { params, body } = validated<{ params: typeof dto.ProviderParams; body: typeof dto.UpdateProviderBody }>(req);
      res.json({ provider: await providers.update(principal(req), params.id, body, AuditService.origin(req)) });
    },
  );
  api.route(
    { ...admin, method: 'delete', path: '/api/providers/:id', summary: 'Remove a provider no agent uses (admins)', tags, request: { params: dto.ProviderParams }, responses: { 204: { description: 'Removed' }, 409: { description: 'Agents use it' }, ...errors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.ProviderParams }>(req);
      await providers.delete(principal(req), params.id, AuditService.origin(req));
      res.status(204).end();
    },
  );
  return api.router;
}
