import { AppError, ForbiddenError, NotFoundError } from '../../platform/errors';
import type { AuditService } from '../../platform/audit/audit.service';
import type { Principal } from '../auth';
import type { KnowledgeBaseService } from '../knowledge-base';
import type { AgentRow, ChatRepository } from './chat.repository';

type Origin = { ip?: string | null; userAgent?: string | null; requestId?: string | null };

export interface AgentInput {
  slug: string;
  name: string;
  description?: string;
  systemPrompt?: string;
  providerId?: string | null;
  model?: string | null;
  temperature?: number | null;
  maxOutputTokens?: number;
  retrievalK?: number;
  visibility?: 'everyone' | 'admins';
  knowledgeBaseIds?: string[];
}

export interface PublicAgent {
  id: string;
  slug: string;
  name: string;
  description: string;
  systemPrompt?: string;
  providerId: string | null;
  model: string | null;
  temperature: number | null;
  maxOutputTokens: number;
  retrievalK: number;
  visibility: 'everyone' | 'admins';
  knowledgeBaseIds: string[] | 'all';
  isDefault: boolean;
  archived: boolean;
  createdAt: string;
  updatedAt: string;
}

const DEFAULT_AGENT = {
  slug: 'assistant',
  name: 'Assistant',
  description: 'Answers from every knowledge base you can read.',
  systemPrompt: 'You are a helpful assistant for the people of this company. Answer from the numbered sources when they are relevant and cite them as [n]; say so when they do not answer the question.',
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Agents: admins create, edit and archive them; members list and use the ones open to them. */
export class AgentService {
  constructor(
    private readonly repo: ChatRepository,
    private readonly kbs: Pick<KnowledgeBaseService, 'readableScope'>,
    private readonly audit: AuditService,
    private readonly providers: { checkAgentChoice(providerId: string | null | undefined, model: string | null | undefined): Promise<void> },
  ) {}

  /** The default "Assistant" exists after first start (racing processes create it once). */
  async ensureDefault(): Promise<AgentRow> {
    const existing = await this.repo.defaultAgent();
    if (existing) return existing;
    await this.repo.insertAgent({ ...DEFAULT_AGENT, isDefault: true, allKnowledgeBases: true }, []);
    const created = await this.repo.defaultAgent();
    if (!created) throw new Error('the default agent could not be created (is the slug "assistant" taken?)');
    return created;
  }

  /** An agent `p` may use, by id or slug; anything else is a 404, archived ones included. */
  /**
   * The agent `ref` (id or slug) if `p` may use it. `ahead` is the same read started earlier (see
   * lookAhead); when it found nothing or failed, the agent is read again.
   */
  async usable(p: Principal, ref: string, ahead?: Promise<AgentRow | undefined>): Promise<AgentRow> {
    const early = ahead ? await ahead : undefined;
    const agent = early && (early.slug === ref || early.id === ref) ? early : UUID.test(ref) ? await this.repo.agentById(ref) : await this.repo.agentBySlug(ref);
    if (!agent || agent.archivedAt || (agent.visibility === 'admins' && p.user.role !== 'admin')) throw new NotFoundError('agent-not-found', 'No such agent.');
    return agent;
  }

  /** The row `usable` would read for `ref`, read before the caller is known; decides nothing. */
  async lookAhead(ref: string): Promise<AgentRow | undefined> {
    return UUID.test(ref) ? this.repo.agentById(ref) : this.repo.agentBySlug(ref);
  }

  /** The knowledge bases the agent searches for `p`: its own list (or all), always within `p`'s rights. */
  async knowledgeScope(agent: AgentRow): Promise<string[] | 'all'> {
    if (agent.allKnowledgeBases) return 'all';
    return (await this.repo.agentKbIds([agent.id])).get(agent.id) ?? [];
  }

  async list(p: Principal, opts: { includeArchived?: boolean } = {}): Promise<PublicAgent[]> {
    const isAdmin = p.user.role === 'admin';
    const rows = await this.repo.listAgents(isAdmin, isAdmin && opts.includeArchived === true);
    const kbIds = await this.repo.agentKbIds(rows.map((r) => r.id));
    return rows.map((r) => this.present(r, kbIds.get(r.id) ?? [], isAdmin));
  }

  async get(p: Principal, id: string): Promise<PublicAgent> {
    const agent = await this.usable(p, id);
    return this.present(agent, (await this.repo.agentKbIds([agent.id])).get(agent.id) ?? [], p.user.role === 'admin');
  }

  async create(p: Principal, input: AgentInput, origin: Origin): Promise<PublicAgent> {
    this.admin(p);
    const kbIds = await this.checkKnowledgeBases(p, input.visibility ?? 'everyone', input.knowledgeBaseIds ?? []);
    await this.providers.checkAgentChoice(input.providerId, input.model);
    const row = await this.repo.insertAgent(
      {
        slug: input.slug,
        name: input.name,
        description: input.description ?? '',
        systemPrompt: input.systemPrompt ?? '',
        providerId: input.providerId ?? null,
        model: input.model ?? null,
        temperature: input.temperature ?? null,
        maxOutputTokens: input.maxOutputTokens ?? 1024,
        retrievalK: input.retrievalK ?? 5,
        visibility: input.visibility ?? 'everyone',
        createdBy: p.user.id,
      },
      kbIds,
    );
    if (!row) throw new AppError(409, 'agent-slug-taken', `An agent with the slug "${input.slug}" exists already.`);
    await this.audit.record({ action: 'agent.create', actorUserId: p.user.id, targetType: 'agent', targetId: row.id, metadata: { slug: row.slug }, ...origin });
    return this.present(row, kbIds, true);
  }

  async update(p: Principal, id: string, input: Partial<AgentInput>, origin: Origin): Promise<PublicAgent> {
    this.admin(p);
    const before = await this.repo.agentById(id);
    if (!before || before.archivedAt) throw new NotFoundError('agent-not-found', 'No such agent.');
    if (before.isDefault && (input.knowledgeBaseIds !== undefined || input.visibility !== undefined)) {
      throw new AppError(422, 'default-agent-fixed', 'The default agent always searches every knowledge base the caller may read and is open to everyone; create another agent for a narrower one.');
    }
    const visibility = input.visibility ?? before.visibility;
    const current = (await this.repo.agentKbIds([id])).get(id) ?? [];
    const kbIds = await this.checkKnowledgeBases(p, visibility, input.knowledgeBaseIds ?? current);
    if (input.providerId !== undefined || input.model !== undefined) await this.providers.checkAgentChoice(input.providerId === undefined ? before.providerId : input.providerId, input.model === undefined ? before.model : input.model);
    const { knowledgeBaseIds: _ignored, ...fields } = input;
    let row: AgentRow | undefined;
    try {
      row = await this.repo.updateAgent(id, fields, input.knowledgeBaseIds !== undefined ? kbIds : undefined);
    } catch (err) {
      if ((err as { code?: string; cause?: { code?: string } }).code === '23505' || (err as { cause?: { code?: string } }).cause?.code === '23505') throw new AppError(409, 'agent-slug-taken', `An agent with the slug "${input.slug}" exists already.`);
      throw err;
    }
    await this.audit.record({ action: 'agent.update', actorUserId: p.user.id, targetType: 'agent', targetId: id, metadata: { fields: Object.keys(input) }, ...origin });
    return this.present(row!, kbIds, true);
  }

  async archive(p: Principal, id: string, origin: Origin): Promise<void> {
    this.admin(p);
    const agent = await this.repo.agentById(id);
    if (!agent || agent.archivedAt) throw new NotFoundError('agent-not-found', 'No such agent.');
    if (agent.isDefault) throw new AppError(422, 'default-agent-fixed', 'The default agent cannot be archived.');
    await this.repo.updateAgent(id, { archivedAt: new Date() });
    await this.audit.record({ action: 'agent.archive', actorUserId: p.user.id, targetType: 'agent', targetId: id, ...origin });
  }

  private admin(p: Principal): void {
    if (p.user.role !== 'admin') throw new ForbiddenError('admin-only', 'Only admins can change agents.');
  }

  /**
   * Every knowledge base must exist (for the admin, who may read all), and an agent everyone may
   * use can only hold organization-wide ones: a private knowledge base would otherwise be searched
   * for people its owner never shared it with, or silently skipped for them.
   */
  private async checkKnowledgeBases(p: Principal, visibility: 'everyone' | 'admins', ids: string[]): Promise<string[]> {
    const unique = [...new Set(ids)];
    const found = await this.kbs.readableScope(p, unique);
    const missing = unique.filter((id) => !found.some((kb) => kb.id === id));
    if (missing.length > 0) throw new AppError(422, 'knowledge-base-not-found', `No such knowledge base: ${missing.join(', ')}.`, { missing });
    const privateOnes = found.filter((kb) => kb.visibility === 'private');
    if (visibility === 'everyone' && privateOnes.length > 0) {
      throw new AppError(
        422,
        'agent-knowledge-base-private',
        `An agent everyone can use can only search organization-wide knowledge bases; ${privateOnes.map((kb) => `"${kb.name}"`).join(', ')} ${privateOnes.length === 1 ? 'is' : 'are'} private. Share ${privateOnes.length === 1 ? 'it' : 'them'} with the organization, or make the agent admins-only.`,
        { private: privateOnes.map((kb) => kb.id) },
      );
    }
    return unique;
  }

  present(r: AgentRow, kbIds: string[], isAdmin: boolean): PublicAgent {
    return {
      id: r.id,
      slug: r.slug,
      name: r.name,
      description: r.description,
      // Members see what an agent is for, not how it is instructed.
      ...(isAdmin ? { systemPrompt: r.systemPrompt } : {}),
      providerId: r.providerId,
      model: r.model,
      temperature: r.temperature,
      maxOutputTokens: r.maxOutputTokens,
      retrievalK: r.retrievalK,
      visibility: r.visibility,
      knowledgeBaseIds: r.allKnowledgeBases ? 'all' : kbIds,
      isDefault: r.isDefault,
      archived: r.archivedAt !== null,
      createdAt: r.createdAt.toISOString(),
      updatedAt: r.updatedAt.toISOString(),
    };
  }
}
