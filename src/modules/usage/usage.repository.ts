import { and, desc, eq, lte, sql } from 'drizzle-orm';
import { reusable, type Db } from '../../platform/db/client';
import { rowsOf } from '../../platform/db/migrate';
import { aiUsage, modelPrices, usageProcesses } from './usage.schema';

export type NewUsageRow = typeof aiUsage.$inferInsert;
export type ModelPriceRow = typeof modelPrices.$inferSelect;

/** What finishing a pending row writes into it. */
export interface FinishValues {
  priceKnown: boolean;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cost: string;
  source: 'reported' | 'estimated';
  status: 'complete' | 'aborted' | 'error' | 'interrupted';
  latencyMs: number | null;
  ttftMs: number | null;
  error: string | null;
  messageId: string | null;
  finishedAt: Date;
}

export interface DailyBump {
  /** YYYY-MM-DD, UTC. */
  day: string;
  userId: string | null;
  agentId: string | null;
  kind: string;
  provider: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cost: string;
}

/** A call's share of its day: added to the day's row (a new row starts at it). */
const ADD_TO_DAY = sql.raw(`ON CONFLICT ON CONSTRAINT ai_usage_daily_key DO UPDATE SET
  requests = ai_usage_daily.requests + 1,
  prompt_tokens = ai_usage_daily.prompt_tokens + EXCLUDED.prompt_tokens,
  completion_tokens = ai_usage_daily.completion_tokens + EXCLUDED.completion_tokens,
  total_tokens = ai_usage_daily.total_tokens + EXCLUDED.total_tokens,
  cost = ai_usage_daily.cost + EXCLUDED.cost,
  updated_at = now()`);

/**
 * The only place that touches ai_usage, ai_usage_daily and model_prices. Every statement is
 * self-contained (no session state), so it runs unchanged through PgBouncer's transaction pooling.
 */
export class UsageRepository {
  constructor(readonly db: Db) {}

  /** The price in force at `at`: the latest whose effective_from is not after it. */
  async priceAt(provider: string, model: string, at: Date): Promise<Pick<ModelPriceRow, 'inputPerMillion' | 'outputPerMillion'> | undefined> {
    const [row] = await this.db
      .select({ inputPerMillion: modelPrices.inputPerMillion, outputPerMillion: modelPrices.outputPerMillion })
      .from(modelPrices)
      .where(and(eq(modelPrices.provider, provider), eq(modelPrices.model, model), lte(modelPrices.effectiveFrom, at)))
      .orderBy(desc(modelPrices.effectiveFrom))
      .limit(1);
    return row;
  }

  /**
   * Inserts unless a row with the same idempotency key exists. ON CONFLICT waits for a concurrent
   * inserter of the same key to commit or roll back, so exactly one of them gets the id back.
   */
  private pendingInsert?: ReturnType<UsageRepository['buildPendingInsert']>;
  private buildPendingInsert() {
    const p = (name: string) => sql.placeholder(name);
    return reusable(
      this.db
        .insert(aiUsage)
        .values({ userId: p('userId'), agentId: p('agentId'), conversationId: p('conversationId'), apiKeyId: p('apiKeyId'), kind: p('kind'), provider: p('provider'), model: p('model'), reservedTokens: p('reservedTokens'), status: 'pending', ownerProcess: p('ownerProcess') })
        .returning({ id: aiUsage.id, createdAt: aiUsage.createdAt }),
    );
  }

  /** The pending row written before every model call: built once. */
  async insertPending(values: Pick<NewUsageRow, 'userId' | 'agentId' | 'conversationId' | 'apiKeyId' | 'kind' | 'provider' | 'model' | 'reservedTokens' | 'ownerProcess'>): Promise<{ id: string; createdAt: Date }> {
    this.pendingInsert ??= this.buildPendingInsert();
    const [row] = await this.pendingInsert.execute({ ...values, agentId: values.agentId ?? null, conversationId: values.conversationId ?? null, apiKeyId: values.apiKeyId ?? null });
    return row!;
  }

  async insertUsage(values: NewUsageRow): Promise<string | undefined> {
    const [row] = await this.db.insert(aiUsage).values(values).onConflictDoNothing({ target: aiUsage.idempotencyKey }).returning({ id: aiUsage.id });
    return row?.id;
  }

  /**
   * Finalises a pending row, once, and adds it to its day's sums (UTC day of its start), in one
   * statement: only a row still `pending` is changed, so of two racing finishers (the stream's end
   * and a shutdown, say) exactly one finalises it, and only that one is summed. True if this call did.
   */
  async finishPendingAndSum(id: string, v: FinishValues): Promise<boolean> {
    const rows = rowsOf<{ n: number }>(
      await this.db.execute(sql`
        WITH done AS (
          UPDATE ai_usage SET price_known = ${v.priceKnown}::boolean, prompt_tokens = ${v.promptTokens}::int, completion_tokens = ${v.completionTokens}::int,
            total_tokens = ${v.totalTokens}::int, cost = ${v.cost}::numeric, source = ${v.source}, status = ${v.status}, latency_ms = ${v.latencyMs}::int,
            ttft_ms = ${v.ttftMs}::int, error = ${v.error}, message_id = ${v.messageId}::uuid, finished_at = ${v.finishedAt.toISOString()}::timestamptz, reserved_tokens = 0
          WHERE id = ${id}::uuid AND status = 'pending'
          RETURNING created_at, user_id, agent_id, kind, provider, model
        ), summed AS (
          INSERT INTO ai_usage_daily (day, user_id, agent_id, kind, provider, model, requests, prompt_tokens, completion_tokens, total_tokens, cost, updated_at)
          SELECT (created_at AT TIME ZONE 'UTC')::date, user_id, agent_id, kind, provider, model, 1, ${v.promptTokens}::int, ${v.completionTokens}::int, ${v.totalTokens}::int, ${v.cost}::numeric, now() FROM done
          ${ADD_TO_DAY}
        )
        SELECT count(*)::int AS n FROM done`),
    );
    return rows[0]?.n === 1;
  }

  async beat(owner: string): Promise<void> {
    await this.db.insert(usageProcesses).values({ owner }).onConflictDoUpdate({ target: usageProcesses.owner, set: { beatAt: sql`now()` } });
  }

  async forget(owner: string): Promise<void> {
    await this.db.delete(usageProcesses).where(eq(usageProcesses.owner, owner));
  }

  /**
   * Pending rows no live process owns: their owner's heartbeat is older than `staleSeconds`, or it
   * never beat and the row is that old. Judged by the database's clock, so hosts' clocks do not matter.
   */
  async orphanedPending(staleSeconds: number, limit = 500): Promise<string[]> {
    const rows = rowsOf<{ id: string }>(
      await this.db.execute(sql`SELECT u.id FROM ai_usage u LEFT JOIN usage_processes p ON p.owner = u.owner_process
        WHERE u.status = 'pending' AND (p.owner IS NULL AND u.created_at < now() - make_interval(secs => ${staleSeconds}) OR p.beat_at < now() - make_interval(secs => ${staleSeconds}))
        ORDER BY u.created_at LIMIT ${limit}`),
    );
    return rows.map((r) => r.id);
  }

  /** Heartbeat rows of processes long gone (a day without a beat). */
  async pruneProcesses(): Promise<void> {
    await this.db.execute(sql`DELETE FROM usage_processes p WHERE p.beat_at < now() - interval '1 day' AND NOT EXISTS (SELECT 1 FROM ai_usage u WHERE u.status = 'pending' AND u.owner_process = p.owner)`);
  }

  async findById(id: string): Promise<typeof aiUsage.$inferSelect | undefined> {
    const [row] = await this.db.select().from(aiUsage).where(eq(aiUsage.id, id)).limit(1);
    return row;
  }

  async findByIdempotencyKey(key: string): Promise<{ id: string; cost: string } | undefined> {
    const [row] = await this.db.select({ id: aiUsage.id, cost: aiUsage.cost }).from(aiUsage).where(eq(aiUsage.idempotencyKey, key)).limit(1);
    return row;
  }

  /** The constraint is NULLS NOT DISTINCT, so calls without an agent (or user) add up in one row. */
  async bumpDaily(b: DailyBump): Promise<void> {
    await this.db.execute(sql`
      INSERT INTO ai_usage_daily (day, user_id, agent_id, kind, provider, model, requests, prompt_tokens, completion_tokens, total_tokens, cost, updated_at)
      VALUES (${b.day}::date, ${b.userId}::uuid, ${b.agentId}::uuid, ${b.kind}, ${b.provider}, ${b.model}, 1, ${b.promptTokens}, ${b.completionTokens}, ${b.totalTokens}, ${b.cost}::numeric, now())
      ${ADD_TO_DAY}`);
  }

  /** Setting a price again for the same moment corrects it rather than failing. */
  async upsertPrice(values: typeof modelPrices.$inferInsert): Promise<void> {
    await this.db
      .insert(modelPrices)
      .values(values)
      .onConflictDoUpdate({
        target: [modelPrices.provider, modelPrices.model, modelPrices.effectiveFrom],
        set: { inputPerMillion: values.inputPerMillion, outputPerMillion: values.outputPerMillion, createdBy: values.createdBy ?? null, createdAt: new Date() },
      });
  }
}
