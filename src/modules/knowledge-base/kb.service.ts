import { ForbiddenError, NotFoundError } from '../../platform/errors';
import type { UsageRecorder } from '../usage';
import type { Embedder } from './kb.embedder';
import type { Db } from '../../platform/db/client';
import { hybridSearch, type SearchHit } from './kb.search';
import type { AuditService } from '../../platform/audit/audit.service';
import type { Principal } from '../auth';
import type { Logger } from '../../platform/logger';
import type { KbRepository, KbStats, KnowledgeBaseRow } from './kb.repository';

export interface PublicKnowledgeBase {
  id: string;
  name: string;
  description: string;
  visibility: 'private' | 'organization';
  ownerId: string | null;
  embedding: { provider: string; model: string; dimensions: number };
  language: string;
  entries: number;
  chunks: number;
  canWrite: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface KbDefaults {
  embeddingProvider: string;
  embeddingModel: string;
  embeddingDimensions: number;
  language: string;
}

type Origin = { ip: string | null; userAgent: string | null };

/** The read rule (kb.repository readRights is the same rule in SQL). */
const canRead = (p: Principal, kb: KnowledgeBaseRow) => kb.visibility === 'organization' || kb.ownerId === p.user.id || p.user.role === 'admin';
const canWrite = (p: Principal, kb: KnowledgeBaseRow) => kb.ownerId === p.user.id || p.user.role === 'admin';

export class KnowledgeBaseService {
  constructor(
    private readonly repo: KbRepository,
    private readonly audit: AuditService,
    private readonly defaults: KbDefaults,
    private readonly db: Db,
    private readonly deps: { embedderFor: (kb: KnowledgeBaseRow) => Embedder; usage: UsageRecorder; ensureVectorIndex: (dimensions: number) => Promise<void>; exactScanMaxChunks: number; logger?: Logger },
  ) {}

  /** What a knowledge base created now (or re-indexed now) is embedded with. */
  get indexingDefaults(): KbDefaults {
    return this.defaults;
  }

  /** The partial HNSW index for a size, before the first chunk of that size is stored. */
  prepareVectorIndex(dimensions: number): Promise<void> {
    return this.deps.ensureVectorIndex(dimensions);
  }

  /** Hybrid search in one knowledge base the caller may read. */
  async search(p: Principal, id: string, text: string, k: number): Promise<{ hits: SearchHit[]; plan: 'exact' | 'hnsw' }> {
    const kb = await this.readable(p, id);
    return this.searchAlike(p, [kb], text, k, { kbId: kb.id });
  }

  /** One hybrid search over knowledge bases embedded alike: one query embedding (accounted), one search. */
  private async searchAlike(p: Principal, group: KnowledgeBaseRow[], text: string, k: number, usage: { kbId?: string; agentId?: string | null; conversationId?: string | null }) {
    const first = group[0]!;
    const embedder = this.deps.embedderFor(first);
    const query = await embedder.embed([text]);
    // A remote model's query embedding costs tokens like any other call; the built-in one is free.
    if (embedder.provider !== 'local') {
      await this.deps.usage.record({ userId: p.user.id, apiKeyId: p.apiKey?.id ?? null, kbId: usage.kbId ?? null, agentId: usage.agentId ?? null, conversationId: usage.conversationId ?? null, kind: 'embedding', provider: embedder.provider, model: embedder.model, promptTokens: query.promptTokens, source: query.source, latencyMs: query.latencyMs });
    }
    return hybridSearch(this.db, { kbIds: group.map((kb) => kb.id), dimensions: first.embeddingDimensions, languages: [...new Set(group.map((kb) => kb.language))] }, { text, vector: query.vectors[0]! }, { k, exactThreshold: this.deps.exactScanMaxChunks });
  }

  /**
   * The knowledge bases an answer for `p` may draw on: `among` (an agent's list) intersected with
   * what `p` may read, or everything `p` may read when `among` is 'all'. Never more than the caller's rights.
   */
  async readableScope(p: Principal, among: string[] | 'all'): Promise<{ id: string; name: string; visibility: 'private' | 'organization'; ownerId: string | null }[]> {
    const rows = await this.repo.readable(p.user.id, p.user.role === 'admin', among === 'all' ? undefined : among);
    return rows.map((kb) => ({ id: kb.id, name: kb.name, visibility: kb.visibility, ownerId: kb.ownerId }));
  }

  /**
   * Hybrid search over several knowledge bases for #5's answers, within `p`'s rights (see
   * readableScope). Knowledge bases embedded alike share one query embedding and one search; the
   * lists of differently embedded ones are merged by their fused scores.
   */
  async searchMany(p: Principal, among: string[] | 'all', text: string, k: number, usage?: { agentId?: string | null; conversationId?: string | null }): Promise<SearchHit[]> {
    const kbs = await this.repo.readable(p.user.id, p.user.role === 'admin', among === 'all' ? undefined : among);
    if (kbs.length === 0 || !text.trim()) return [];
    const groups = new Map<string, KnowledgeBaseRow[]>();
    for (const kb of kbs) {
      // The local embedder's query vector depends on the language (its stop words); a remote model's does not.
      const key = [kb.embeddingProvider, kb.embeddingModel, kb.embeddingDimensions, kb.embeddingProvider === 'local' ? kb.language : ''].join('|');
      groups.set(key, [...(groups.get(key) ?? []), kb]);
    }
    const lists: SearchHit[][] = [];
    let failure: unknown;
    for (const group of groups.values()) {
      const first = group[0]!;
      try {
        lists.push((await this.searchAlike(p, group, text, k, { agentId: usage?.agentId, conversationId: usage?.conversationId })).hits);
      } catch (err) {
        // One knowledge base whose embedder is gone or down must not silence the others: the answer
        // draws on what can be searched, and only when nothing can is the failure the caller's.
        failure ??= err;
        this.deps.logger?.warn('kb.search.group-skipped', { knowledgeBases: group.map((kb) => kb.id), provider: first.embeddingProvider, model: first.embeddingModel, error: (err as Error).message });
      }
    }
    if (lists.length === 0 && failure) throw failure;
    return lists.flat().sort((a, b) => b.score - a.score || a.chunkId - b.chunkId).slice(0, k);
  }

  private present(p: Principal, kb: KnowledgeBaseRow, stats: KbStats = { entries: 0, chunks: 0 }): PublicKnowledgeBase {
    return {
      id: kb.id,
      name: kb.name,
      description: kb.description,
      visibility: kb.visibility,
      ownerId: kb.ownerId,
      embedding: { provider: kb.embeddingProvider, model: kb.embeddingModel, dimensions: kb.embeddingDimensions },
      language: kb.language,
      ...stats,
      canWrite: canWrite(p, kb),
      createdAt: kb.createdAt.toISOString(),
      updatedAt: kb.updatedAt.toISOString(),
    };
  }

  /** A knowledge base the caller may read; anything else (others' private ones too) is a 404. */
  async readable(p: Principal, id: string): Promise<KnowledgeBaseRow> {
    const kb = await this.repo.findById(id);
    if (!kb || !canRead(p, kb)) throw new NotFoundError('knowledge-base-not-found', 'No such knowledge base.');
    return kb;
  }

  async writable(p: Principal, id: string): Promise<KnowledgeBaseRow> {
    const kb = await this.readable(p, id);
    // Readable but not writable (someone else's organization-wide base): say so plainly.
    if (!canWrite(p, kb)) throw new ForbiddenError('knowledge-base-read-only', 'Only its owner or an admin can change this knowledge base.');
    return kb;
  }

  async create(p: Principal, input: { name: string; description?: string; visibility: 'private' | 'organization'; language?: string }, origin: Origin): Promise<PublicKnowledgeBase> {
    // The first knowledge base of a new size brings its partial HNSW index (384 comes by migration).
    await this.deps.ensureVectorIndex(this.defaults.embeddingDimensions);
    const kb = await this.repo.insert({
      ownerId: p.user.id,
      name: input.name,
      description: input.description ?? '',
      visibility: input.visibility,
      // Fixed for the life of the knowledge base: its chunks are embedded and indexed with these.
      embeddingProvider: this.defaults.embeddingProvider,
      embeddingModel: this.defaults.embeddingModel,
      embeddingDimensions: this.defaults.embeddingDimensions,
      language: input.language ?? this.defaults.language,
    });
    await this.audit.record({ action: 'kb.create', actorUserId: p.user.id, targetType: 'knowledge_base', targetId: kb.id, metadata: { visibility: kb.visibility }, ...origin });
    return this.present(p, kb);
  }

  async list(p: Principal, opts: { limit: number; offset: number }): Promise<{ knowledgeBases: PublicKnowledgeBase[]; total: number }> {
    const { rows, total } = await this.repo.listReadable(p.user.id, p.user.role === 'admin', opts);
    const stats = await this.repo.stats(rows.map((r) => r.id));
    return { knowledgeBases: rows.map((kb) => this.present(p, kb, stats.get(kb.id))), total };
  }

  async get(p: Principal, id: string): Promise<PublicKnowledgeBase> {
    const kb = await this.readable(p, id);
    return this.present(p, kb, (await this.repo.stats([kb.id])).get(kb.id));
  }

  async update(p: Principal, id: string, changes: { name?: string; description?: string; visibility?: 'private' | 'organization' }, origin: Origin): Promise<PublicKnowledgeBase> {
    const before = await this.writable(p, id);
    const kb = await this.repo.update(id, changes);
    if (changes.visibility && changes.visibility !== before.visibility) {
      await this.audit.record({ action: 'kb.visibility-change', actorUserId: p.user.id, targetType: 'knowledge_base', targetId: id, metadata: { from: before.visibility, to: changes.visibility }, ...origin });
    }
    return this.present(p, kb, (await this.repo.stats([kb.id])).get(kb.id));
  }

  async delete(p: Principal, id: string, origin: Origin): Promise<void> {
    await this.writable(p, id);
    await this.repo.delete(id);
    await this.audit.record({ action: 'kb.delete', actorUserId: p.user.id, targetType: 'knowledge_base', targetId: id, ...origin });
  }
}
