import { AppError, ForbiddenError, NotFoundError } from '../../platform/errors';
import type { AuditService } from '../../platform/audit/audit.service';
import type { SecretBox } from '../../platform/crypto';
import type { Principal } from '../auth';
import { AnthropicProvider, BreakerProvider, OpenAiProvider, type ChatProvider } from './chat.providers';
import type { AgentRow, ChatRepository, ProviderRow } from './chat.repository';

type Origin = { ip?: string | null; userAgent?: string | null; requestId?: string | null };

export interface ProviderInput {
  name: string;
  type: 'openai' | 'anthropic';
  baseUrl?: string | null;
  /** Sealed at rest; never returned. null removes it. */
  apiKey?: string | null;
  models?: string[];
  defaultModel: string;
}

export interface PublicProvider {
  id: string;
  name: string;
  type: 'openai' | 'anthropic';
  baseUrl: string | null;
  hasApiKey: boolean;
  models: string[];
  defaultModel: string;
  createdAt: string;
  updatedAt: string;
}

export interface ProviderTimeouts {
  firstTokenTimeoutMs: number;
  timeoutMs: number;
  maxRetries: number;
  breakerResetMs: number;
}

/** Sealing context: a sealed key opens only as a provider key (and of this provider). */
const keyContext = (id: string) => `provider-key:${id}`;

/**
 * Providers admins add, and which provider answers for an agent: the default one (LLM_*) when the
 * agent names none, else its own, built once per version of its row (with its own circuit breaker).
 */
export class ProviderService {
  private readonly built = new Map<string, { version: number; provider: ChatProvider }>();

  constructor(
    private readonly repo: ChatRepository,
    private readonly box: SecretBox,
    private readonly audit: AuditService,
    private readonly fallback: ChatProvider,
    private readonly timeouts: ProviderTimeouts,
  ) {}

  async resolve(agent: Pick<AgentRow, 'providerId' | 'model'>): Promise<{ provider: ChatProvider; model: string }> {
    if (!agent.providerId) return { provider: this.fallback, model: agent.model ?? this.fallback.defaultModel };
    const row = await this.repo.providerById(agent.providerId);
    if (!row) throw new AppError(503, 'provider-unavailable', 'This agent’s provider no longer exists; an admin must choose another.');
    const version = row.updatedAt.getTime();
    let cached = this.built.get(row.id);
    if (!cached || cached.version !== version) {
      cached = { version, provider: this.build(row) };
      this.built.set(row.id, cached);
    }
    return { provider: cached.provider, model: agent.model ?? row.defaultModel };
  }

  /** Circuit states of the default provider and of every admin provider used since start. */
  states(): Record<string, { type: string; state: string }> {
    const out: Record<string, { type: string; state: string }> = { [this.fallback.name]: { type: this.fallback.type, state: this.fallback.state ?? 'closed' } };
    for (const { provider } of this.built.values()) out[provider.name] = { type: provider.type, state: provider.state ?? 'closed' };
    return out;
  }

  async list(p: Principal): Promise<PublicProvider[]> {
    this.admin(p);
    return (await this.repo.listProviders()).map(present);
  }

  async create(p: Principal, input: ProviderInput, origin: Origin): Promise<PublicProvider> {
    this.admin(p);
    this.checkModels(input.models ?? [], input.defaultModel);
    const row = await this.repo.insertProvider({ name: input.name, type: input.type, baseUrl: input.baseUrl ?? null, models: input.models ?? [], defaultModel: input.defaultModel, createdBy: p.user.id });
    if (!row) throw new AppError(409, 'provider-name-taken', `A provider named "${input.name}" exists already.`);
    const sealed = input.apiKey ? await this.repo.updateProvider(row.id, { apiKeySealed: this.box.seal(input.apiKey, keyContext(row.id)) }) : row;
    await this.audit.record({ action: 'provider.create', actorUserId: p.user.id, targetType: 'provider', targetId: row.id, metadata: { name: row.name, type: row.type }, ...origin });
    return present(sealed!);
  }

  async update(p: Principal, id: string, input: Partial<ProviderInput>, origin: Origin): Promise<PublicProvider> {
    this.admin(p);
    const before = await this.repo.providerById(id);
    if (!before) throw new NotFoundError('provider-not-found', 'No such provider.');
    this.checkModels(input.models ?? before.models, input.defaultModel ?? before.defaultModel);
    const { apiKey, ...fields } = input;
    const changes = { ...fields, ...(apiKey === undefined ? {} : { apiKeySealed: apiKey === null ? null : this.box.seal(apiKey, keyContext(id)) }) };
    let row: ProviderRow | undefined;
    try {
      row = await this.repo.updateProvider(id, changes);
    } catch (err) {
      if ((err as { cause?: { code?: string }; code?: string }).cause?.code === '23505' || (err as { code?: string }).code === '23505') throw new AppError(409, 'provider-name-taken', `A provider named "${input.name}" exists already.`);
      throw err;
    }
    // Only which fields changed is audited: never a key.
    await this.audit.record({ action: 'provider.update', actorUserId: p.user.id, targetType: 'provider', targetId: id, metadata: { fields: Object.keys(input) }, ...origin });
    return present(row!);
  }

  async delete(p: Principal, id: string, origin: Origin): Promise<void> {
    this.admin(p);
    if (!(await this.repo.providerById(id))) throw new NotFoundError('provider-not-found', 'No such provider.');
    const users = await this.repo.agentsUsingProvider(id);
    if (users > 0) throw new AppError(409, 'provider-in-use', `${users} agent${users === 1 ? ' uses' : 's use'} this provider; move ${users === 1 ? 'it' : 'them'} to another first.`);
    await this.repo.deleteProvider(id);
    this.built.delete(id);
    await this.audit.record({ action: 'provider.delete', actorUserId: p.user.id, targetType: 'provider', targetId: id, ...origin });
  }

  /** For agents: the provider exists, and the model (when given) is one it offers (when it lists any). */
  async checkAgentChoice(providerId: string | null | undefined, model: string | null | undefined): Promise<void> {
    if (!providerId) return;
    const row = await this.repo.providerById(providerId);
    if (!row) throw new AppError(422, 'provider-not-found', 'No such provider.');
    if (model && row.models.length > 0 && !row.models.includes(model)) throw new AppError(422, 'model-not-offered', `The provider "${row.name}" offers ${row.models.join(', ')}; "${model}" is not one of them.`);
  }

  private build(row: ProviderRow): ChatProvider {
    const apiKey = row.apiKeySealed ? this.box.open(row.apiKeySealed, keyContext(row.id)) : undefined;
    const opts = { name: row.name, baseUrl: row.baseUrl ?? undefined, apiKey, defaultModel: row.defaultModel, firstTokenTimeoutMs: this.timeouts.firstTokenTimeoutMs, overallTimeoutMs: this.timeouts.timeoutMs, maxRetries: this.timeouts.maxRetries };
    return new BreakerProvider(row.type === 'anthropic' ? new AnthropicProvider(opts) : new OpenAiProvider(opts), { resetTimeoutMs: this.timeouts.breakerResetMs });
  }

  private checkModels(models: string[], defaultModel: string): void {
    if (models.length > 0 && !models.includes(defaultModel)) throw new AppError(422, 'model-not-offered', `The default model "${defaultModel}" must be one of the provider's models (${models.join(', ')}).`);
  }

  private admin(p: Principal): void {
    if (p.user.role !== 'admin') throw new ForbiddenError('admin-only', 'Only admins can manage providers.');
  }
}

const present = (r: ProviderRow): PublicProvider => ({
  id: r.id,
  name: r.name,
  type: r.type,
  baseUrl: r.baseUrl,
  hasApiKey: r.apiKeySealed !== null,
  models: r.models,
  defaultModel: r.defaultModel,
  createdAt: r.createdAt.toISOString(),
  updatedAt: r.updatedAt.toISOString(),
});
