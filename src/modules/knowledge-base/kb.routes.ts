import type { Request } from 'express';
import type { ApiDocs } from '../../platform/openapi';
import { validated } from '../../platform/http/validate';
import { AuditService } from '../../platform/audit/audit.service';
import type { Principal } from '../auth';
import type { KnowledgeBaseService } from './kb.service';
import type { KbEntriesService, RevisionSource } from './kb.entries.service';
import type { JobEvents } from './kb.job-events';
import { BadRequestError } from '../../platform/errors';
import * as dto from './kb.dto';
import { z } from '../../platform/zod';

const principal = (req: Request): Principal => req.principal!;
const tags = ['knowledge-bases'];
const errors = { 400: { description: 'Invalid input' }, 401: { description: 'Not signed in' }, 404: { description: 'No such knowledge base (or not yours to see)' } };

export function kbRoutes(docs: ApiDocs, service: KnowledgeBaseService, entries: KbEntriesService, events: JobEvents, opts: { uploadMaxBytes: number; signal: AbortSignal }) {
  const api = docs.router();
  const scope = { access: 'member' as const, apiKeyScope: 'knowledge-bases' };
  api.route(
    { ...scope, method: 'get', path: '/api/knowledge-bases', summary: 'Knowledge bases you can read', tags, request: { query: dto.ListKbQuery }, responses: { 200: { description: 'A page', schema: dto.KbListResponse }, ...errors } },
    async (req, res) => {
      const { query } = validated<{ query: typeof dto.ListKbQuery }>(req);
      res.json(await service.list(principal(req), query));
    },
  );
  api.route(
    { ...scope, method: 'post', path: '/api/knowledge-bases', summary: 'Create a knowledge base (embedding model and language are fixed from then on)', tags, request: { body: dto.CreateKbBody }, responses: { 201: { description: 'Created', schema: dto.KbResponse }, ...errors } },
    async (req, res) => {
      const { body } = validated<{ body: typeof dto.CreateKbBody }>(req);
      res.status(201).json({ knowledgeBase: await service.create(principal(req), body, AuditService.origin(req)) });
    },
  );
  api.route(
    { ...scope, method: 'get', path: '/api/knowledge-bases/:id', summary: 'One knowledge base', tags, request: { params: dto.KbParams }, responses: { 200: { description: 'The knowledge base', schema: dto.KbResponse }, ...errors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.KbParams }>(req);
      res.json({ knowledgeBase: await service.get(principal(req), params.id) });
    },
  );
  api.route(
    { ...scope, method: 'patch', path: '/api/knowledge-bases/:id', summary: 'Rename, describe or change who can read it (owner or admin)', tags, request: { params: dto.KbParams, body: dto.UpdateKbBody }, responses: { 200: { description: 'Updated', schema: dto.KbResponse }, 403: { description: 'Readable but not yours to change' }, ...errors } },
    async (req, res) => {
      const { params, body } = validated<{ params: typeof dto.KbParams; body: typeof dto.UpdateKbBody }>(req);
      res.json({ knowledgeBase: await service.update(principal(req), params.id, body, AuditService.origin(req)) });
    },
  );
  api.route(
    { ...scope, method: 'delete', path: '/api/knowledge-bases/:id', summary: 'Delete a knowledge base with all its entries (owner or admin)', tags, request: { params: dto.KbParams }, responses: { 204: { description: 'Deleted' }, 403: { description: 'Readable but not yours to delete' }, ...errors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.KbParams }>(req);
      await service.delete(principal(req), params.id, AuditService.origin(req));
      res.status(204).end();
    },
  );
  api.route(
    { ...scope, method: 'post', path: '/api/knowledge-bases/:id/reindex', summary: "Index every entry again with the instance's current embedding model (and optionally a new full-text language), as jobs", tags, request: { params: dto.KbParams, body: dto.ReindexBody }, responses: { 202: { description: 'Jobs created, one per entry', schema: dto.ReindexResponse }, 403: { description: 'Readable but not yours to change' }, 409: { description: 'Still indexing' }, ...errors } },
    async (req, res) => {
      const { params, body } = validated<{ params: typeof dto.KbParams; body: typeof dto.ReindexBody }>(req);
      const { jobs } = await entries.reindex(principal(req), params.id, body, AuditService.origin(req));
      res.status(202).json({ knowledgeBase: await service.get(principal(req), params.id), jobs: jobs.length, jobIds: jobs.map((j) => j.id) });
    },
  );
  api.route(
    { ...scope, method: 'get', path: '/api/knowledge-bases/:id/search', summary: 'Hybrid search (vectors + full text, fused by rank) over the current revisions', tags, request: { params: dto.KbParams, query: dto.SearchQuery }, responses: { 200: { description: 'Best passages first', schema: dto.SearchResponse }, ...errors } },
    async (req, res) => {
      const { params, query } = validated<{ params: typeof dto.KbParams; query: typeof dto.SearchQuery }>(req);
      res.json(await service.search(principal(req), params.id, query.q, query.k));
    },
  );

  const entryErrors = { ...errors, 403: { description: 'Readable but not yours to change' }, 404: { description: 'No such knowledge base or entry (or not yours to see)' } };
  const uploadErrors = { 413: { description: 'Larger than UPLOAD_MAX_MB (or its text too long)' }, 415: { description: 'Not a supported document type (decided by content)' }, 422: { description: 'A document that is unsafe (scripts, zip bomb) or cannot be read' } };
  const upload = { field: 'file', maxBytes: opts.uploadMaxBytes, description: 'txt, md, html, pdf, docx, csv or json; the type is decided by content' };
  /** Exactly one of a file, `text` or `url`: anything else is a clear 400, not a guess. */
  const sourceOf = (req: Request, body: { text?: string; url?: string }, allowUrl: boolean): RevisionSource => {
    const given = [req.upload ? 'file' : undefined, body.text !== undefined ? 'text' : undefined, body.url !== undefined ? 'url' : undefined].filter(Boolean);
    if (given.length !== 1) throw new BadRequestError('entry-source-required', allowUrl ? 'Send exactly one of: a file (multipart field "file"), "text", or "url".' : 'Send exactly one of: a file (multipart field "file") or "text".');
    if (req.upload) return { upload: req.upload };
    return body.text !== undefined ? { text: body.text } : { url: body.url! };
  };

  api.route(
    { ...scope, method: 'get', path: '/api/knowledge-bases/:id/entries', summary: 'Entries (documents) of a knowledge base, with the state of their latest revision', tags, request: { params: dto.KbParams, query: dto.ListKbQuery }, responses: { 200: { description: 'A page', schema: dto.EntryListResponse }, ...errors } },
    async (req, res) => {
      const { params, query } = validated<{ params: typeof dto.KbParams; query: typeof dto.ListKbQuery }>(req);
      res.json(await entries.list(principal(req), params.id, query));
    },
  );
  api.route(
    { ...scope, method: 'post', path: '/api/knowledge-bases/:id/entries', summary: 'Add a document: upload a file (multipart), send text, or import a URL; indexing runs as a job', tags, upload, request: { params: dto.KbParams, body: dto.CreateEntryBody }, responses: { 202: { description: 'Stored; the job indexes it', schema: dto.CreatedEntryResponse }, ...uploadErrors, ...entryErrors } },
    async (req, res) => {
      const { params, body } = validated<{ params: typeof dto.KbParams; body: typeof dto.CreateEntryBody }>(req);
      const source = sourceOf(req, body, true);
      res.status(202).json(await entries.create(principal(req), params.id, { title: body.title, ...source }, AuditService.origin(req)));
    },
  );
  api.route(
    { ...scope, method: 'get', path: '/api/knowledge-bases/:id/entries/:entryId', summary: 'One entry with its revision history and recent jobs', tags, request: { params: dto.EntryParams }, responses: { 200: { description: 'The entry', schema: dto.EntryResponse }, ...entryErrors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.EntryParams }>(req);
      res.json(await entries.get(principal(req), params.id, params.entryId));
    },
  );
  api.route(
    { ...scope, method: 'patch', path: '/api/knowledge-bases/:id/entries/:entryId', summary: 'Rename an entry', tags, request: { params: dto.EntryParams, body: dto.UpdateEntryBody }, responses: { 200: { description: 'Renamed', schema: z.object({ entry: dto.EntrySchema }) }, ...entryErrors } },
    async (req, res) => {
      const { params, body } = validated<{ params: typeof dto.EntryParams; body: typeof dto.UpdateEntryBody }>(req);
      res.json({ entry: await entries.rename(principal(req), params.id, params.entryId, body.title) });
    },
  );
  api.route(
    { ...scope, method: 'delete', path: '/api/knowledge-bases/:id/entries/:entryId', summary: 'Delete an entry; its passages leave search at once', tags, request: { params: dto.EntryParams }, responses: { 204: { description: 'Deleted' }, ...entryErrors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.EntryParams }>(req);
      await entries.delete(principal(req), params.id, params.entryId, AuditService.origin(req));
      res.status(204).end();
    },
  );
  api.route(
    { ...scope, method: 'get', path: '/api/knowledge-bases/:id/entries/:entryId/revisions', summary: 'Revision history, newest first', tags, request: { params: dto.EntryParams }, responses: { 200: { description: 'Revisions', schema: dto.RevisionListResponse }, ...entryErrors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.EntryParams }>(req);
      res.json({ revisions: await entries.revisions(principal(req), params.id, params.entryId) });
    },
  );
  api.route(
    { ...scope, method: 'post', path: '/api/knowledge-bases/:id/entries/:entryId/revisions', summary: 'Edit: new content (text or an uploaded file) becomes a new revision; identical content creates none', tags, upload, request: { params: dto.EntryParams, body: dto.ReviseEntryBody }, responses: { 200: { description: 'Unchanged (identical content)', schema: dto.RevisedResponse }, 202: { description: 'A new revision; the job indexes it', schema: dto.RevisedResponse }, ...uploadErrors, ...entryErrors } },
    async (req, res) => {
      const { params, body } = validated<{ params: typeof dto.EntryParams; body: typeof dto.ReviseEntryBody }>(req);
      const result = await entries.revise(principal(req), params.id, params.entryId, sourceOf(req, body, false), AuditService.origin(req));
      res.status(result.unchanged ? 200 : 202).json(result);
    },
  );
  api.route(
    { ...scope, method: 'get', path: '/api/knowledge-bases/:id/entries/:entryId/revisions/:number', summary: 'One revision with its text', tags, request: { params: dto.RevisionParams }, responses: { 200: { description: 'The revision', schema: dto.RevisionResponse }, ...entryErrors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.RevisionParams }>(req);
      res.json({ revision: await entries.revision(principal(req), params.id, params.entryId, params.number) });
    },
  );
  api.route(
    { ...scope, method: 'get', path: '/api/knowledge-bases/:id/entries/:entryId/revisions/:number/original', summary: 'Download the uploaded original of a revision (typed text as markdown)', tags, request: { params: dto.RevisionParams }, responses: { 200: { description: 'The file', schema: z.string(), contentType: 'application/octet-stream' }, ...entryErrors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.RevisionParams }>(req);
      const file = await entries.original(principal(req), params.id, params.entryId, params.number);
      // Served as a download in a sandbox: an uploaded HTML file must never run as this origin.
      res.attachment(file.fileName).type(file.mimeType).set({ 'Content-Security-Policy': "sandbox; default-src 'none'", 'Cache-Control': 'private, no-store' }).send(file.bytes);
    },
  );
  api.route(
    { ...scope, method: 'post', path: '/api/knowledge-bases/:id/entries/:entryId/revisions/:number/restore', summary: 'Restore an old revision: its content becomes a new revision', tags, request: { params: dto.RevisionParams }, responses: { 202: { description: 'A new revision; the job indexes it', schema: dto.RevisedResponse }, ...entryErrors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.RevisionParams }>(req);
      res.status(202).json(await entries.restore(principal(req), params.id, params.entryId, params.number, AuditService.origin(req)));
    },
  );
  api.route(
    { ...scope, method: 'get', path: '/api/knowledge-bases/:id/entries/:entryId/diff', summary: 'Unified diff between two revisions', tags, request: { params: dto.EntryParams, query: dto.DiffQuery }, responses: { 200: { description: 'The diff', schema: dto.DiffResponse }, ...entryErrors } },
    async (req, res) => {
      const { params, query } = validated<{ params: typeof dto.EntryParams; query: typeof dto.DiffQuery }>(req);
      res.json(await entries.diff(principal(req), params.id, params.entryId, query.from, query.to));
    },
  );

  const jobErrors = { 401: { description: 'Not signed in' }, 404: { description: 'No such job (or not yours)' } };
  api.route(
    { ...scope, method: 'get', path: '/api/jobs/events', summary: "Server-sent events with the progress of all of the caller's jobs (one stream per user)", tags: ['jobs'], responses: { 200: { description: 'An SSE stream of `job` events', schema: z.string(), contentType: 'text/event-stream' }, 401: jobErrors[401] } },
    async (req, res) => {
      const user = principal(req).user.id;
      res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
      res.flushHeaders();
      const send = (job: unknown) => res.write(`event: job\ndata: ${JSON.stringify(job)}\n\n`);
      const unsubscribe = events.subscribe(user, send);
      // Proxies close quiet connections; a comment line every 15 s keeps this one open.
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
      const close = () => {
        clearInterval(heartbeat);
        unsubscribe();
        opts.signal.removeEventListener('abort', end);
      };
      const end = () => {
        close();
        res.end();
      };
      opts.signal.addEventListener('abort', end);
      res.on('close', close);
      try {
        for (const job of await events.snapshot(user)) send(job);
        res.write('event: ready\ndata: {}\n\n');
      } catch (err) {
        // The headers are gone: say it in the stream and end it; the client reconnects.
        res.write(`event: error\ndata: ${JSON.stringify({ code: 'job-events-unavailable', message: 'Job progress is unavailable right now; reconnect shortly.' })}\n\n`);
        end();
        throw err;
      }
    },
  );
  api.route(
    { ...scope, method: 'get', path: '/api/jobs/:id', summary: 'Progress of a job (chunks done of total, stage)', tags: ['jobs'], request: { params: dto.JobParams }, responses: { 200: { description: 'The job', schema: dto.JobResponse }, ...jobErrors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.JobParams }>(req);
      res.json({ job: await entries.job(principal(req), params.id) });
    },
  );
  api.route(
    { ...scope, method: 'post', path: '/api/jobs/:id/cancel', summary: 'Cancel a job that has not finished; its partial index is removed', tags: ['jobs'], request: { params: dto.JobParams }, responses: { 200: { description: 'Cancelled', schema: dto.JobResponse }, 409: { description: 'Already finished' }, ...jobErrors } },
    async (req, res) => {
      const { params } = validated<{ params: typeof dto.JobParams }>(req);
      res.json({ job: await entries.cancelJob(principal(req), params.id, AuditService.origin(req)) });
    },
  );
  return api.router;
}
