import { and, asc, desc, eq, ilike, inArray, isNull, or, sql } from 'drizzle-orm';
import { reusable, type Db } from '../../platform/db/client';
import { agentConversations, agentKnowledgeBases, agentMessages, agents, providers } from './chat.schema';

export type AgentRow = typeof agents.$inferSelect;
export type NewAgent = typeof agents.$inferInsert;
export type ConversationRow = typeof agentConversations.$inferSelect;
export type MessageRow = typeof agentMessages.$inferSelect;
export type ProviderRow = typeof providers.$inferSelect;
export type NewProvider = typeof providers.$inferInsert;
export type NewMessage = typeof agentMessages.$inferInsert;

/** Agents, conversations and messages: the only place that touches those tables. */
export class ChatRepository {
  constructor(readonly db: Db) {}

  transaction<T>(fn: (repo: ChatRepository) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new ChatRepository(tx as unknown as Db)));
  }

  async insertProvider(values: NewProvider): Promise<ProviderRow | undefined> {
    const [row] = await this.db.insert(providers).values(values).onConflictDoNothing().returning();
    return row;
  }

  async updateProvider(id: string, values: Partial<NewProvider>): Promise<ProviderRow | undefined> {
    const [row] = await this.db.update(providers).set({ ...values, updatedAt: new Date() }).where(eq(providers.id, id)).returning();
    return row;
  }

  async providerById(id: string): Promise<ProviderRow | undefined> {
    const [row] = await this.db.select().from(providers).where(eq(providers.id, id)).limit(1);
    return row;
  }

  async listProviders(): Promise<ProviderRow[]> {
    return this.db.select().from(providers).orderBy(asc(providers.name));
  }

  async agentsUsingProvider(id: string): Promise<number> {
    const [row] = await this.db.select({ n: sql<number>`count(*)::int` }).from(agents).where(eq(agents.providerId, id));
    return Number(row?.n ?? 0);
  }

  async deleteProvider(id: string): Promise<void> {
    await this.db.delete(providers).where(eq(providers.id, id));
  }

  /** With its knowledge bases, in one transaction: a turn never sees an agent half made. */
  async insertAgent(values: NewAgent, kbIds: string[]): Promise<AgentRow | undefined> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx.insert(agents).values(values).onConflictDoNothing().returning();
      if (row && kbIds.length > 0) await tx.insert(agentKnowledgeBases).values(kbIds.map((kbId) => ({ agentId: row.id, kbId })));
      return row;
    });
  }

  /** In one transaction: a turn meanwhile sees the old list or the new one, never none. */
  async updateAgent(id: string, values: Partial<NewAgent>, kbIds?: string[]): Promise<AgentRow | undefined> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx.update(agents).set({ ...values, updatedAt: new Date() }).where(eq(agents.id, id)).returning();
      if (row && kbIds) {
        await tx.delete(agentKnowledgeBases).where(eq(agentKnowledgeBases.agentId, id));
        if (kbIds.length > 0) await tx.insert(agentKnowledgeBases).values(kbIds.map((kbId) => ({ agentId: id, kbId })));
      }
      return row;
    });
  }

  async agentById(id: string): Promise<AgentRow | undefined> {
    const [row] = await this.db.select().from(agents).where(eq(agents.id, id)).limit(1);
    return row;
  }

  private slugLookup?: ReturnType<ChatRepository['buildSlugLookup']>;
  private buildSlugLookup() {
    return reusable(this.db.select().from(agents).where(eq(agents.slug, sql.placeholder('slug'))).limit(1));
  }

  /** Every /v1 request's lookup: built once. */
  async agentBySlug(slug: string): Promise<AgentRow | undefined> {
    this.slugLookup ??= this.buildSlugLookup();
    const [row] = await this.slugLookup.execute({ slug });
    return row;
  }

  async defaultAgent(): Promise<AgentRow | undefined> {
    const [row] = await this.db.select().from(agents).where(eq(agents.isDefault, true)).limit(1);
    return row;
  }

  /** Active agents; admins-only ones too when `includeAdminOnly`. */
  async listAgents(includeAdminOnly: boolean, includeArchived = false): Promise<AgentRow[]> {
    const conditions = [includeArchived ? undefined : isNull(agents.archivedAt), includeAdminOnly ? undefined : eq(agents.visibility, 'everyone')].filter((c) => c !== undefined);
    return this.db.select().from(agents).where(and(...conditions)).orderBy(desc(agents.isDefault), asc(agents.name), asc(agents.id));
  }

  async agentKbIds(agentIds: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>(agentIds.map((id) => [id, []]));
    if (agentIds.length === 0) return out;
    const rows = await this.db.select().from(agentKnowledgeBases).where(inArray(agentKnowledgeBases.agentId, agentIds)).orderBy(agentKnowledgeBases.kbId);
    for (const r of rows) out.get(r.agentId)?.push(r.kbId);
    return out;
  }

  async insertConversation(values: typeof agentConversations.$inferInsert): Promise<ConversationRow> {
    const [row] = await this.db.insert(agentConversations).values(values).returning();
    return row!;
  }

  async conversationOf(userId: string, id: string): Promise<ConversationRow | undefined> {
    const [row] = await this.db.select().from(agentConversations).where(and(eq(agentConversations.id, id), eq(agentConversations.userId, userId))).limit(1);
    return row;
  }

  /** Newest first; `q` matches titles and message text. */
  async listConversations(userId: string, opts: { limit: number; offset: number; q?: string }): Promise<{ rows: ConversationRow[]; total: number }> {
    const pattern = opts.q ? `%${opts.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : undefined;
    const where = and(
      eq(agentConversations.userId, userId),
      pattern
        ? or(ilike(agentConversations.title, pattern), sql`EXISTS (SELECT 1 FROM ${agentMessages} m WHERE m.conversation_id = ${agentConversations.id} AND m.content ILIKE ${pattern})`)
        : undefined,
    );
    const rows = await this.db.select().from(agentConversations).where(where).orderBy(desc(agentConversations.updatedAt), desc(agentConversations.id)).limit(opts.limit).offset(opts.offset);
    const [count] = await this.db.select({ n: sql<number>`count(*)::int` }).from(agentConversations).where(where);
    return { rows, total: Number(count?.n ?? 0) };
  }

  async updateConversation(id: string, values: Partial<Pick<ConversationRow, 'title' | 'updatedAt'>>): Promise<ConversationRow | undefined> {
    const [row] = await this.db.update(agentConversations).set(values).where(eq(agentConversations.id, id)).returning();
    return row;
  }

  /** Sets the title only while it is still `expected` (nobody renamed the conversation meanwhile). */
  async renameIf(id: string, expected: string, title: string): Promise<void> {
    await this.db.update(agentConversations).set({ title }).where(and(eq(agentConversations.id, id), eq(agentConversations.title, expected)));
  }

  async deleteConversation(id: string): Promise<void> {
    await this.db.delete(agentConversations).where(eq(agentConversations.id, id));
  }

  async messages(conversationId: string): Promise<MessageRow[]> {
    return this.db.select().from(agentMessages).where(eq(agentMessages.conversationId, conversationId)).orderBy(asc(agentMessages.createdAt), asc(agentMessages.id));
  }

  async insertMessage(values: NewMessage): Promise<MessageRow> {
    const [row] = await this.db.insert(agentMessages).values(values).returning();
    return row!;
  }
}
