import { sql } from 'drizzle-orm';
import { type AnyPgColumn, boolean, check, index, integer, jsonb, pgTable, primaryKey, real, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { users } from '../auth';
import { knowledgeBases } from '../knowledge-base';

/**
 * Model providers admins add beside the default one (LLM_*): OpenAI-compatible servers or
 * Anthropic. The API key is sealed with ENCRYPTION_KEY (platform/crypto) and never returned.
 */
export const providers = pgTable(
  'providers',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    type: text('type', { enum: ['openai', 'anthropic'] }).notNull(),
    baseUrl: text('base_url'),
    apiKeySealed: text('api_key_sealed'),
    models: jsonb('models').$type<string[]>().notNull().default([]),
    defaultModel: text('default_model').notNull(),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('providers_name_idx').on(t.name), check('providers_type_check', sql`${t.type} IN ('openai', 'anthropic')`)],
);

/**
 * Agents: a system prompt, a model and the knowledge bases it answers from. `provider_id` null is
 * the instance's default provider (LLM_*); `model` null is that provider's default model.
 */
export const agents = pgTable(
  'agents',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    slug: text('slug').notNull(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    systemPrompt: text('system_prompt').notNull().default(''),
    providerId: uuid('provider_id').references(() => providers.id, { onDelete: 'restrict' }),
    model: text('model'),
    temperature: real('temperature'),
    maxOutputTokens: integer('max_output_tokens').notNull().default(1024),
    retrievalK: integer('retrieval_k').notNull().default(5),
    visibility: text('visibility', { enum: ['everyone', 'admins'] }).notNull().default('everyone'),
    /** The default agent's rule: every knowledge base the caller may read, instead of a list. */
    allKnowledgeBases: boolean('all_knowledge_bases').notNull().default(false),
    isDefault: boolean('is_default').notNull().default(false),
    archivedAt: timestamp('archived_at', { withTimezone: true }),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('agents_slug_idx').on(t.slug),
    // At most one default agent, even when several processes seed it at once.
    uniqueIndex('agents_default_idx').on(t.isDefault).where(sql`${t.isDefault}`),
    check('agents_visibility_check', sql`${t.visibility} IN ('everyone', 'admins')`),
    check('agents_limits_check', sql`${t.maxOutputTokens} BETWEEN 1 AND 200000 AND ${t.retrievalK} BETWEEN 0 AND 50`),
  ],
);

export const agentKnowledgeBases = pgTable(
  'agent_knowledge_bases',
  {
    agentId: uuid('agent_id')
      .notNull()
      .references(() => agents.id, { onDelete: 'cascade' }),
    kbId: uuid('kb_id')
      .notNull()
      .references(() => knowledgeBases.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.agentId, t.kbId] })],
);

export const agentConversations = pgTable(
  'agent_conversations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    agentId: uuid('agent_id')
      .notNull()
      .references(() => agents.id, { onDelete: 'restrict' }),
    title: text('title').notNull().default('New chat'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('agent_conversations_user_idx').on(t.userId, t.updatedAt)],
);

export interface Citation {
  n: number;
  kbId: string;
  entryId: string;
  entryTitle: string;
  revisionId: string;
  revisionNumber: number;
  chunkId: number;
  score: number;
  quote: string;
}

/**
 * Messages form a tree through parent_id (an edited question or a regenerated answer is a sibling);
 * an assistant message is written once, when its answer has ended, with what it produced.
 */
export const agentMessages = pgTable(
  'agent_messages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => agentConversations.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    agentId: uuid('agent_id')
      .notNull()
      .references(() => agents.id, { onDelete: 'restrict' }),
    parentId: uuid('parent_id').references((): AnyPgColumn => agentMessages.id, { onDelete: 'cascade' }),
    role: text('role', { enum: ['user', 'assistant'] }).notNull(),
    content: text('content').notNull(),
    status: text('status', { enum: ['complete', 'aborted', 'error'] }).notNull().default('complete'),
    error: text('error'),
    citations: jsonb('citations').$type<Citation[]>().notNull().default([]),
    provider: text('provider'),
    model: text('model'),
    promptTokens: integer('prompt_tokens'),
    completionTokens: integer('completion_tokens'),
    usageId: uuid('usage_id'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('agent_messages_role_check', sql`${t.role} IN ('user', 'assistant')`),
    check('agent_messages_status_check', sql`${t.status} IN ('complete', 'aborted', 'error')`),
    index('agent_messages_user_agent_idx').on(t.userId, t.agentId),
    index('agent_messages_created_idx').on(t.createdAt),
    index('agent_messages_conversation_idx').on(t.conversationId, t.createdAt),
  ],
);
