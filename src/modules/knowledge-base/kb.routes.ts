import type { Request } from 'express';
import type { ApiDocs } from '../../platform/openapi';
import { validated } from '../../platform/http/validate';
import { AuditService } from '../../platform/audit/audit.service';
import type { Principal } from '../auth';
import type { KnowledgeBaseService } from './kb.service';
import * as dto from './kb.dto';

const principal = (req: Request): Principal => req.principal!;
const tags = ['knowledge-bases'];
const errors = { 400: { description: 'Invalid input' }, 401: { description: 'Not signed in' }, 404: { description: 'No such knowledge base (or not yours to see)' } };

export function kbRoutes(docs: ApiDocs, service: KnowledgeBaseService) {
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
    { ...scope, method: 'get', path: '/api/knowledge-bases/:id/search', summary: 'Hybrid search (vectors + full text, fused by rank) over the current revisions', tags, request: { params: dto.KbParams, query: dto.SearchQuery }, responses: { 200: { description: 'Best passages first', schema: dto.SearchResponse }, ...errors } },
    async (req, res) => {
      const { params, query } = validated<{ params: typeof dto.KbParams; query: typeof dto.SearchQuery }>(req);
      res.json(await service.search(principal(req), params.id, query.q, query.k));
    },
  );
  return api.router;
}
