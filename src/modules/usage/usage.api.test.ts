import { asc, eq, sql } from 'drizzle-orm';
import { captureLogger, openTestDatabase, unique } from '../../../test/support/test-app';
import type { Database, Db } from '../../platform/db/client';
import { users } from '../auth';
import { agentConversations, agents } from '../agent-chat';
import { aiUsage, aiUsageDaily, usageProcesses } from './usage.schema';
import { rowsOf } from '../../platform/db/migrate';
import { UsageHeartbeat, UsageRecorder, type UsageRecord } from '.';

/** The recording half of usage accounting, on the database the migrations build (PGlite or Postgres 15 via PgBouncer). */
describe('usage recording', () => {
  let database: Database;
  let db: Db;
  let recorder: UsageRecorder;

  beforeAll(async () => {
    database = await openTestDatabase(captureLogger().logger);
    db = database.db;
    recorder = new UsageRecorder(db);
  });
  afterAll(() => database.close());

  async function newUser(): Promise<string> {
    const [u] = await db.insert(users).values({ email: `${unique('usage')}@example.com`, name: 'Spender', passwordHash: 'x' }).returning({ id: users.id });
    return u!.id;
  }

  /** Rows point at real agents and conversations (foreign keys, set null when those go). */
  async function newAgent(): Promise<string> {
    const [a] = await db.insert(agents).values({ slug: unique('usage-agent'), name: 'Agent' }).returning({ id: agents.id });
    return a!.id;
  }
  async function newConversation(userId: string, agentId: string): Promise<string> {
    const [c] = await db.insert(agentConversations).values({ userId, agentId }).returning({ id: agentConversations.id });
    return c!.id;
  }

  /** Each test prices and records its own model, so tests (and earlier runs on a shared database) never meet. */
  const newModel = () => unique('model');

  const call = (over: Partial<UsageRecord> & Pick<UsageRecord, 'userId' | 'model'>): UsageRecord => ({
    kind: 'chat',
    provider: 'openai',
    promptTokens: 100,
    completionTokens: 20,
    source: 'reported',
    at: new Date('2031-03-04T12:00:00Z'),
    ...over,
  });

  const usageRows = (model: string) => db.select().from(aiUsage).where(eq(aiUsage.model, model)).orderBy(asc(aiUsage.createdAt));
  const dailyRows = (model: string) => db.select().from(aiUsageDaily).where(eq(aiUsageDaily.model, model)).orderBy(asc(aiUsageDaily.day), asc(aiUsageDaily.agentId));

  it('when one call is recorded, then its ai_usage row holds every field and the daily row its sums', async () => {
    const userId = await newUser();
    const model = newModel();
    const agentId = await newAgent();
    const conversationId = await newConversation(userId, agentId);
    const at = new Date('2031-03-04T10:11:12.345Z');
    const result = await recorder.record(
      call({ userId, model, agentId, conversationId, promptTokens: 7777, completionTokens: 333, source: 'reported', status: 'aborted', latencyMs: 812.4, ttftMs: 95, error: 'client went away', at }),
    );
    expect(result).toEqual({ recorded: true, id: expect.any(String), cost: '0.0000000000' });
    const [row] = await usageRows(model);
    expect(row).toMatchObject({
      id: result.id,
      userId,
      agentId,
      conversationId,
      kind: 'chat',
      provider: 'openai',
      promptTokens: 7777,
      completionTokens: 333,
      totalTokens: 8110,
      reservedTokens: 0,
      cost: '0.0000000000',
      source: 'reported',
      status: 'aborted',
      latencyMs: 812,
      ttftMs: 95,
      error: 'client went away',
      ownerProcess: null,
      createdAt: at,
      finishedAt: at,
    });
    expect(await dailyRows(model)).toEqual([
      expect.objectContaining({ day: '2031-03-04', userId, agentId, kind: 'chat', provider: 'openai', requests: 1, promptTokens: 7777, completionTokens: 333, totalTokens: 8110, cost: '0.0000000000' }),
    ]);
  });

  it('when two calls of the same day, user and model have no agent, then they add up in one daily row (NULLS NOT DISTINCT)', async () => {
    const userId = await newUser();
    const model = newModel();
    await recorder.record(call({ userId, model, kind: 'embedding', promptTokens: 1000, completionTokens: 0, source: 'estimated' }));
    await recorder.record(call({ userId, model, kind: 'embedding', promptTokens: 234, completionTokens: 0, source: 'estimated', at: new Date('2031-03-04T23:59:59Z') }));
    expect(await usageRows(model)).toHaveLength(2);
    const daily = await dailyRows(model);
    expect(daily).toHaveLength(1);
    expect(daily[0]).toMatchObject({ day: '2031-03-04', userId, agentId: null, kind: 'embedding', requests: 2, promptTokens: 1234, completionTokens: 0, totalTokens: 1234 });
  });

  it('when calls have no user either (a deleted account), then they still collapse into one daily row', async () => {
    const model = newModel();
    await recorder.record(call({ userId: null, model }));
    await recorder.record(call({ userId: null, model }));
    expect(await dailyRows(model)).toEqual([expect.objectContaining({ userId: null, agentId: null, requests: 2, totalTokens: 240 })]);
  });

  it('when calls differ by agent, kind or UTC day, then each gets its own daily row', async () => {
    const userId = await newUser();
    const model = newModel();
    const [a1, a2] = [await newAgent(), await newAgent()].sort();
    await recorder.record(call({ userId, model, agentId: a1 }));
    await recorder.record(call({ userId, model, agentId: a1 }));
    await recorder.record(call({ userId, model, agentId: a2 }));
    await recorder.record(call({ userId, model, agentId: a1, kind: 'title' }));
    await recorder.record(call({ userId, model, agentId: a1, at: new Date('2031-03-05T00:00:00.001Z') }));
    const daily = await dailyRows(model);
    expect(daily.map((d) => [d.day, d.agentId, d.kind, d.requests])).toEqual(
      expect.arrayContaining([
        ['2031-03-04', a1, 'chat', 2],
        ['2031-03-04', a2, 'chat', 1],
        ['2031-03-04', a1, 'title', 1],
        ['2031-03-05', a1, 'chat', 1],
      ]),
    );
    expect(daily).toHaveLength(4);
  });

  it("when the session's time zone is far from UTC, then the day is still the UTC day of the call", async () => {
    const userId = await newUser();
    const model = newModel();
    // 23:30 UTC is already the next day in Kiritimati (UTC+14); the books are kept in UTC.
    await db.transaction(async (tx) => {
      await tx.execute(sql`SET LOCAL TIME ZONE 'Pacific/Kiritimati'`);
      await recorder.record(call({ userId, model, at: new Date('2031-03-04T23:30:00Z') }), tx);
    });
    expect((await dailyRows(model)).map((d) => d.day)).toEqual(['2031-03-04']);
  });

  it('when the same idempotency key is recorded twice, then there is one row and the daily sums count it once', async () => {
    const userId = await newUser();
    const model = newModel();
    const key = unique('turn');
    await recorder.setPrice({ provider: 'openai', model, inputPerMillion: '1', outputPerMillion: '2', effectiveFrom: new Date('2030-01-01T00:00:00Z') });
    const first = await recorder.record(call({ userId, model, idempotencyKey: key }));
    const second = await recorder.record(call({ userId, model, idempotencyKey: key, promptTokens: 999_999 }));
    expect(first).toMatchObject({ recorded: true, cost: '0.0001400000' });
    expect(second).toEqual({ recorded: false, id: first.id, cost: '0.0001400000' });
    expect(await usageRows(model)).toHaveLength(1);
    expect(await dailyRows(model)).toEqual([expect.objectContaining({ requests: 1, promptTokens: 100, completionTokens: 20, cost: '0.0001400000' })]);
  });

  it('when the same idempotency key is recorded concurrently, then exactly one call records it', async () => {
    const userId = await newUser();
    const model = newModel();
    const key = unique('batch');
    const results = await Promise.all(Array.from({ length: 6 }, () => recorder.record(call({ userId, model, kind: 'embedding', promptTokens: 64, completionTokens: 0, idempotencyKey: key }))));
    expect(results.filter((r) => r.recorded)).toHaveLength(1);
    expect(new Set(results.map((r) => r.id))).toEqual(new Set([results.find((r) => r.recorded)!.id]));
    expect(await usageRows(model)).toHaveLength(1);
    expect(await dailyRows(model)).toEqual([expect.objectContaining({ requests: 1, promptTokens: 64 })]);
  });

  it('when different calls of one day and user are recorded concurrently, then the daily row counts every one of them', async () => {
    const userId = await newUser();
    const model = newModel();
    await Promise.all(Array.from({ length: 8 }, (_, i) => recorder.record(call({ userId, model, promptTokens: i + 1, completionTokens: 0 }))));
    expect(await dailyRows(model)).toEqual([expect.objectContaining({ requests: 8, promptTokens: 36 })]);
  });

  it('when prices change over time, then each call is costed at the price in force at its time, exactly', async () => {
    const userId = await newUser();
    const model = newModel();
    const price = (effectiveFrom: string, inputPerMillion: string, outputPerMillion = '0') =>
      recorder.setPrice({ provider: 'openai', model, inputPerMillion, outputPerMillion, effectiveFrom: new Date(effectiveFrom), createdBy: userId });
    await price('2030-01-01T00:00:00Z', '0.05'); // superseded by the next one
    await price('2031-01-01T00:00:00Z', '0.02', '0.06');
    await price('2031-06-01T00:00:00Z', '0.01'); // not yet in force in March
    // Another provider's price for the same model name must not apply.
    await recorder.setPrice({ provider: 'other', model, inputPerMillion: '100', outputPerMillion: '100', effectiveFrom: new Date('2030-01-01T00:00:00Z') });

    const march = await recorder.record(call({ userId, model, kind: 'embedding', promptTokens: 1_234_567, completionTokens: 0 }));
    const march2 = await recorder.record(call({ userId, model, kind: 'embedding', promptTokens: 1_234_567, completionTokens: 0 }));
    expect(march.cost).toBe('0.0246913400');
    expect(march2.cost).toBe('0.0246913400');
    // 1,000,001 in at 0.02 + 333,333 out at 0.06 = 0.02000002 + 0.01999998.
    expect((await recorder.record(call({ userId, model, promptTokens: 1_000_001, completionTokens: 333_333 }))).cost).toBe('0.0400000000');
    expect((await recorder.record(call({ userId, model, promptTokens: 1_000_000, completionTokens: 0, at: new Date('2030-06-01T00:00:00Z') }))).cost).toBe('0.0500000000');
    expect((await recorder.record(call({ userId, model, promptTokens: 1_000_000, completionTokens: 0, at: new Date('2031-06-01T00:00:00Z') }))).cost).toBe('0.0100000000');
    expect((await recorder.record(call({ userId, model, promptTokens: 1_000_000, completionTokens: 0, at: new Date('2029-12-31T23:59:59Z') }))).cost).toBe('0.0000000000');

    const stored = await usageRows(model);
    expect(stored.filter((r) => r.kind === 'embedding').map((r) => r.cost)).toEqual(['0.0246913400', '0.0246913400']);
    const embeddingDay = (await dailyRows(model)).find((d) => d.kind === 'embedding' && d.day === '2031-03-04');
    expect(embeddingDay).toMatchObject({ requests: 2, promptTokens: 2_469_134, cost: '0.0493826800' });
  });

  it('when a price is set twice for the same moment, then the second corrects the first', async () => {
    const model = newModel();
    const effectiveFrom = new Date('2030-01-01T00:00:00Z');
    await recorder.setPrice({ provider: 'openai', model, inputPerMillion: '9', outputPerMillion: '9', effectiveFrom });
    await recorder.setPrice({ provider: 'openai', model, inputPerMillion: '1', outputPerMillion: '0', effectiveFrom });
    expect((await recorder.record(call({ userId: null, model, promptTokens: 1_000_000, completionTokens: 5 }))).cost).toBe('1.0000000000');
  });

  it("when recording inside a caller's transaction that rolls back, then nothing is left, and the key can be used again", async () => {
    const userId = await newUser();
    const model = newModel();
    const key = unique('rolled-back');
    await expect(
      db.transaction(async (tx) => {
        const r = await recorder.record(call({ userId, model, idempotencyKey: key }), tx);
        expect(r.recorded).toBe(true);
        throw new Error('the turn failed after recording');
      }),
    ).rejects.toThrow('the turn failed after recording');
    expect(await usageRows(model)).toHaveLength(0);
    expect(await dailyRows(model)).toHaveLength(0);
    expect((await recorder.record(call({ userId, model, idempotencyKey: key }))).recorded).toBe(true);
    expect(await dailyRows(model)).toEqual([expect.objectContaining({ requests: 1 })]);
  });

  it("when recording inside a caller's transaction that commits, then the row lands with the caller's own writes", async () => {
    const model = newModel();
    const email = `${unique('tx')}@example.com`;
    await db.transaction(async (tx) => {
      const [u] = await tx.insert(users).values({ email, name: 'Same transaction', passwordHash: 'x' }).returning({ id: users.id });
      await recorder.record(call({ userId: u!.id, model }), tx);
    });
    const [row] = await usageRows(model);
    const [u] = await db.select({ id: users.id }).from(users).where(eq(users.email, email));
    expect(row?.userId).toBe(u!.id);
    expect(await dailyRows(model)).toEqual([expect.objectContaining({ userId: u!.id, requests: 1 })]);
  });

  it("when one user's calls are recorded, then another user's rows of the same model and day stay as they were", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const model = newModel();
    await recorder.record(call({ userId: bob, model, promptTokens: 5, completionTokens: 5 }));
    const bobDailyBefore = (await dailyRows(model)).filter((d) => d.userId === bob);
    const bobUsageBefore = (await usageRows(model)).filter((r) => r.userId === bob);
    await recorder.record(call({ userId: alice, model, promptTokens: 50 }));
    await recorder.record(call({ userId: alice, model, promptTokens: 70 }));
    const daily = await dailyRows(model);
    expect(daily.filter((d) => d.userId === bob)).toEqual(bobDailyBefore);
    expect((await usageRows(model)).filter((r) => r.userId === bob)).toEqual(bobUsageBefore);
    expect(daily.find((d) => d.userId === alice)).toMatchObject({ requests: 2, promptTokens: 120, completionTokens: 40 });
  });

  it('when a record is malformed, then it throws before writing anything', async () => {
    const model = newModel();
    await expect(recorder.record(call({ userId: null, model, promptTokens: -1 }))).rejects.toThrow(/promptTokens/);
    await expect(recorder.record(call({ userId: null, model, completionTokens: 1.5 }))).rejects.toThrow(/completionTokens/);
    await expect(recorder.record(call({ userId: null, model, status: 'pending' as never }))).rejects.toThrow(/pending/);
    await expect(recorder.setPrice({ provider: 'openai', model, inputPerMillion: '-1', outputPerMillion: '0' })).rejects.toThrow(/decimal/);
    expect(await usageRows(model)).toHaveLength(0);
  });
  it('when a pending call is finished twice, even at once, then it is finalised once, with its price of when it began, and counted once a day', async () => {
    const userId = await newUser();
    const model = newModel();
    const agentId = await newAgent();
    await recorder.setPrice({ provider: 'openai', model, inputPerMillion: '2.50', outputPerMillion: '10', effectiveFrom: new Date('2020-01-01T00:00:00Z') });
    const begun = await recorder.begin({ userId, agentId, kind: 'chat', provider: 'openai', model, reservedTokens: 1500, ownerProcess: 'test-process' });
    recorder.lookUpPrice(begun);
    const id = begun.id;
    const [pending] = await db.select().from(aiUsage).where(eq(aiUsage.id, id));
    expect(pending).toMatchObject({ status: 'pending', reservedTokens: 1500, ownerProcess: 'test-process', promptTokens: 0, finishedAt: null });
    expect(await dailyRows(model)).toEqual([]);
    // A later price does not change what the call cost when it was made.
    await recorder.setPrice({ provider: 'openai', model, inputPerMillion: '100', outputPerMillion: '100', effectiveFrom: new Date(Date.now() + 60_000) });

    // The stream's end knows the call (its price looked up while it ran) and, on /v1, finishes in
    // one statement; a sweeper knows only the id and finishes in a transaction.
    await begun.price;
    const end = (status: 'complete' | 'interrupted') => ({ promptTokens: 1000, completionTokens: 200, source: 'reported' as const, status, latencyMs: 1234, ttftMs: 56 });
    const finish = (status: 'complete' | 'interrupted') => (status === 'complete' ? recorder.finish(begun, end(status)) : db.transaction((tx) => recorder.finish(id, end(status), tx as unknown as Db)));
    const results = await Promise.all([finish('complete'), finish('interrupted')]);
    expect(results.map((r) => r.recorded).sort()).toEqual([false, true]);
    const [row] = await db.select().from(aiUsage).where(eq(aiUsage.id, id));
    expect(row).toMatchObject({ promptTokens: 1000, completionTokens: 200, totalTokens: 1200, reservedTokens: 0, cost: '0.0045000000', latencyMs: 1234, ttftMs: 56 });
    expect(['complete', 'interrupted']).toContain(row!.status);
    expect(await dailyRows(model)).toEqual([expect.objectContaining({ userId, agentId, requests: 1, totalTokens: 1200, cost: '0.0045000000' })]);
    expect((await finish('complete')).recorded).toBe(false);
    expect(await dailyRows(model)).toEqual([expect.objectContaining({ requests: 1 })]);
  });
  it('when the price lookup of a begun call failed, then finishing it looks the price up itself; a call finished without a transaction, its price looked up while it ran, is summed too', async () => {
    const userId = await newUser();
    const model = newModel();
    await recorder.setPrice({ provider: 'openai', model, inputPerMillion: '1', outputPerMillion: '3', effectiveFrom: new Date('2020-01-01T00:00:00Z') });
    const begun = await recorder.begin({ userId, kind: 'chat', provider: 'openai', model, reservedTokens: 10, ownerProcess: 'test-process' });
    const other = await recorder.begin({ userId, kind: 'chat', provider: 'openai', model, reservedTokens: 10, ownerProcess: 'test-process' });
    const done = await recorder.finish({ ...begun, price: Promise.resolve(undefined) }, { promptTokens: 1_000_000, completionTokens: 1_000_000, source: 'reported', status: 'complete' });
    recorder.lookUpPrice(other);
    expect(done).toEqual({ recorded: true, id: begun.id, cost: '4.0000000000' });
    expect((await recorder.finish(other, { promptTokens: 1_000_000, completionTokens: 0, source: 'estimated', status: 'aborted' })).cost).toBe('1.0000000000');
    const [row] = await db.select().from(aiUsage).where(eq(aiUsage.id, begun.id));
    expect(row).toMatchObject({ status: 'complete', priceKnown: true, cost: '4.0000000000', reservedTokens: 0 });
    expect(await dailyRows(model)).toEqual([expect.objectContaining({ userId, requests: 2, promptTokens: 2_000_000, completionTokens: 1_000_000, cost: '5.0000000000' })]);
  });
  it('when a process stops beating, then its pending rows are finalised as interrupted once, while a live process\'s rows and a young row without a heartbeat stay pending', async () => {
    const userId = await newUser();
    const model = newModel();
    const [dead, live, young] = [unique('dead'), unique('live'), unique('young')];
    await db.insert(usageProcesses).values([{ owner: dead, beatAt: new Date(Date.now() - 5 * 60_000) }, { owner: live }]);
    const begin = async (owner: string) => (await recorder.begin({ userId, kind: 'chat', provider: 'openai', model, reservedTokens: 900, ownerProcess: owner })).id;
    const [orphan, alive, fresh] = [await begin(dead), await begin(live), await begin(young)];
    const log = { warn: () => undefined, info: () => undefined };
    const sweeper = new UsageHeartbeat(db, recorder, unique('sweeper'), log, { staleSeconds: 60 });
    expect(await sweeper.sweep()).toBeGreaterThanOrEqual(1);
    const status = async (id: string) => (await db.select().from(aiUsage).where(eq(aiUsage.id, id)))[0]!;
    expect(await status(orphan)).toMatchObject({ status: 'interrupted', reservedTokens: 0, source: 'estimated', totalTokens: 0 });
    expect((await status(alive)).status).toBe('pending');
    expect((await status(fresh)).status).toBe('pending');
    expect(await dailyRows(model)).toEqual([expect.objectContaining({ userId, requests: 1, totalTokens: 0 })]);
    // A second sweep (another process's, say) changes nothing.
    await sweeper.sweep();
    expect(await dailyRows(model)).toEqual([expect.objectContaining({ requests: 1 })]);
    // The live process finishes its own call as usual.
    await db.transaction((tx) => recorder.finish(alive, { promptTokens: 10, completionTokens: 5, source: 'reported', status: 'complete' }, tx as unknown as Db));
    expect((await status(alive)).status).toBe('complete');
  });
  it('when a model has no price, then its calls cost 0 and are flagged as unpriced; a priced model is not, and the seeded list prices are in force', async () => {
    const userId = await newUser();
    const [unpriced, priced] = [newModel(), newModel()];
    await recorder.setPrice({ provider: 'openai', model: priced, inputPerMillion: '1', outputPerMillion: '2', effectiveFrom: new Date('2020-01-01T00:00:00Z') });
    const a = await recorder.record(call({ userId, model: unpriced }));
    const b = await recorder.record(call({ userId, model: priced }));
    const rows = await db.select({ id: aiUsage.id, priceKnown: aiUsage.priceKnown, cost: aiUsage.cost }).from(aiUsage).where(sql`${aiUsage.id} IN (${a.id}, ${b.id})`);
    expect(rows.find((r) => r.id === a.id)).toMatchObject({ priceKnown: false, cost: '0.0000000000' });
    expect(rows.find((r) => r.id === b.id)).toMatchObject({ priceKnown: true, cost: '0.0001400000' });
    const seeded = await db.execute(sql`SELECT provider, model, input_per_million::text AS i, output_per_million::text AS o FROM model_prices WHERE (provider, model) IN (('openai', 'gpt-4o'), ('anthropic', 'claude-sonnet-4-0'), ('extractive', 'extractive')) ORDER BY provider`);
    expect(rowsOf(seeded)).toEqual([
      { provider: 'anthropic', model: 'claude-sonnet-4-0', i: '3.0000000000', o: '15.0000000000' },
      { provider: 'extractive', model: 'extractive', i: '0.0000000000', o: '0.0000000000' },
      { provider: 'openai', model: 'gpt-4o', i: '2.5000000000', o: '10.0000000000' },
    ]);
  });
});
