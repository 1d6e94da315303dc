import { sql } from 'drizzle-orm';
import { bigint, boolean, check, date, index, integer, numeric, pgTable, text, timestamp, unique, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { apiKeys, users } from '../auth';

/**
 * One row per model call that spends tokens (DESIGN.md, "Usage records"). Rows outlive what they
 * describe: a deleted user, key or knowledge base leaves its spending in the books.
 */
export const aiUsage = pgTable(
  'ai_usage',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    // Foreign keys (ON DELETE SET NULL) to agents, conversations and messages: migration 0011.
    agentId: uuid('agent_id'),
    conversationId: uuid('conversation_id'),
    messageId: uuid('message_id'),
    apiKeyId: uuid('api_key_id').references(() => apiKeys.id, { onDelete: 'set null' }),
    /** The knowledge base an embedding call indexed or searched, for the per-knowledge-base view. */
    kbId: uuid('kb_id'),
    kind: text('kind', { enum: ['chat', 'embedding', 'title'] }).notNull(),
    provider: text('provider').notNull(),
    model: text('model').notNull(),
    promptTokens: integer('prompt_tokens').notNull().default(0),
    completionTokens: integer('completion_tokens').notNull().default(0),
    totalTokens: integer('total_tokens').notNull().default(0),
    /** Tokens held against quotas while the call runs (pending rows only). */
    reservedTokens: integer('reserved_tokens').notNull().default(0),
    cost: numeric('cost', { precision: 20, scale: 10 }).notNull().default('0'),
    /** False when model_prices had no price for the model: its cost of 0 is unknown, not free. */
    priceKnown: boolean('price_known').notNull().default(true),
    source: text('source', { enum: ['reported', 'estimated'] }).notNull().default('reported'),
    status: text('status', { enum: ['pending', 'complete', 'aborted', 'error', 'interrupted'] }).notNull().default('pending'),
    latencyMs: integer('latency_ms'),
    ttftMs: integer('ttft_ms'),
    /** The process that owns a pending row; only a stale owner's rows are finalised as interrupted. */
    ownerProcess: text('owner_process'),
    /** Makes recording idempotent: a retried batch or turn records once. */
    idempotencyKey: text('idempotency_key'),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    check('ai_usage_kind_check', sql`${t.kind} IN ('chat', 'embedding', 'title')`),
    check('ai_usage_source_check', sql`${t.source} IN ('reported', 'estimated')`),
    check('ai_usage_status_check', sql`${t.status} IN ('pending', 'complete', 'aborted', 'error', 'interrupted')`),
    check('ai_usage_tokens_check', sql`${t.promptTokens} >= 0 AND ${t.completionTokens} >= 0 AND ${t.totalTokens} >= 0 AND ${t.reservedTokens} >= 0`),
    index('ai_usage_user_agent_idx').on(t.userId, t.agentId),
    index('ai_usage_created_idx').on(t.createdAt),
    index('ai_usage_pending_idx').on(t.ownerProcess).where(sql`${t.status} = 'pending'`),
    uniqueIndex('ai_usage_idempotency_idx').on(t.idempotencyKey),
  ],
);

/** Day × user × agent × kind × provider × model sums, bumped in the same transaction as the row. */
export const aiUsageDaily = pgTable(
  'ai_usage_daily',
  {
    day: date('day').notNull(),
    userId: uuid('user_id'),
    agentId: uuid('agent_id'),
    kind: text('kind').notNull(),
    provider: text('provider').notNull(),
    model: text('model').notNull(),
    requests: integer('requests').notNull().default(0),
    promptTokens: bigint('prompt_tokens', { mode: 'number' }).notNull().default(0),
    completionTokens: bigint('completion_tokens', { mode: 'number' }).notNull().default(0),
    totalTokens: bigint('total_tokens', { mode: 'number' }).notNull().default(0),
    cost: numeric('cost', { precision: 20, scale: 10 }).notNull().default('0'),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // Embeddings have no agent: NULLS NOT DISTINCT keeps one row per day and user for them (PostgreSQL ≥ 15).
  (t) => [unique('ai_usage_daily_key').on(t.day, t.userId, t.agentId, t.kind, t.provider, t.model).nullsNotDistinct(), index('ai_usage_daily_day_idx').on(t.day)],
);

/** Prices per million tokens; the row in force is the latest whose effective_from has passed. */
export const modelPrices = pgTable(
  'model_prices',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    provider: text('provider').notNull(),
    model: text('model').notNull(),
    inputPerMillion: numeric('input_per_million', { precision: 20, scale: 10 }).notNull(),
    outputPerMillion: numeric('output_per_million', { precision: 20, scale: 10 }).notNull(),
    currency: text('currency').notNull().default('USD'),
    effectiveFrom: timestamp('effective_from', { withTimezone: true }).notNull().defaultNow(),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('model_prices_key_idx').on(t.provider, t.model, t.effectiveFrom),
    check('model_prices_nonnegative_check', sql`${t.inputPerMillion} >= 0 AND ${t.outputPerMillion} >= 0`),
  ],
);

/**
 * One row per running process that may own pending usage rows: it stamps `beat_at` on a clock.
 * A pending row whose owner stopped beating (crashed, killed) is finalised as `interrupted` by any
 * other process; a live process's streams are never touched.
 */
export const usageProcesses = pgTable('usage_processes', {
  owner: text('owner').primaryKey(),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  beatAt: timestamp('beat_at', { withTimezone: true }).notNull().defaultNow(),
});
