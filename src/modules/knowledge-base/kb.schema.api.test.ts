import { sql } from 'drizzle-orm';
import { rowsOf } from '../../platform/db/migrate';
import { captureLogger, openTestDatabase, unique } from '../../../test/support/test-app';
import { LocalEmbedder } from './kb.embedder.local';
import { kbChunks, kbEntries, kbRevisions, knowledgeBases } from './kb.schema';
import { users } from '../auth';
import type { Database } from '../../platform/db/client';

/** The storage #4 builds on: untyped vectors with per-dimension partial HNSW, generated full text. */
describe('knowledge-base storage', () => {
  let database: Database;
  const embedder = new LocalEmbedder(384);
  beforeAll(async () => {
    database = await openTestDatabase(captureLogger().logger);
  });
  afterAll(() => database.close());

  async function seed(texts: string[], dims = 384) {
    const db = database.db;
    const [owner] = await db.insert(users).values({ email: `${unique('kb')}@example.com`, name: 'Owner', passwordHash: 'x' }).returning();
    const [kb] = await db.insert(knowledgeBases).values({ ownerId: owner!.id, name: "Ops' handbook", embeddingProvider: 'local', embeddingModel: 'hashing-v1', embeddingDimensions: dims, language: 'english' }).returning();
    const [entry] = await db.insert(kbEntries).values({ kbId: kb!.id, title: 'Runbook', sourceType: 'text' }).returning();
    const [rev] = await db.insert(kbRevisions).values({ entryId: entry!.id, number: 1, content: texts.join('\n\n'), contentHash: 'h', sizeBytes: 1 }).returning();
    const e = new LocalEmbedder(dims);
    await db.insert(kbChunks).values(
      texts.map((content, ordinal) => ({ kbId: kb!.id, entryId: entry!.id, revisionId: rev!.id, ordinal, content, tokenCount: content.split(' ').length, embedding: e.embedOne(content), embeddingDimensions: dims, inVectorIndex: true, language: 'english' })),
    );
    return kb!;
  }

  it('when chunks are stored, then the nearest by cosine distance (with the indexed expression) and the full-text match are the right ones', async () => {
    const kb = await seed(['Restart the payment service with systemctl restart payments.', 'The cafeteria opens at noon.', 'Rotate the database credentials every quarter.']);
    const q = embedder.embedOne('how do I restart payments');
    const nearest = rowsOf<{ content: string }>(
      await database.db.execute(sql`SELECT content FROM kb_chunks WHERE kb_id = ${kb.id} AND embedding_dimensions = 384
        ORDER BY (embedding::vector(384)) <=> ${JSON.stringify(q)}::vector(384) LIMIT 1`),
    );
    expect(nearest[0]!.content).toContain('payment service');
    const text = rowsOf<{ content: string }>(
      await database.db.execute(sql`SELECT content FROM kb_chunks WHERE kb_id = ${kb.id} AND tsv @@ websearch_to_tsquery('english', 'rotating credentials')`),
    );
    expect(text.map((r) => r.content)).toEqual(['Rotate the database credentials every quarter.']);
  });

  it('when the planner may not scan, then the 384-d partial HNSW index serves the same expression and predicate', async () => {
    await seed(['alpha beta gamma', 'delta epsilon']);
    const q = JSON.stringify(embedder.embedOne('alpha'));
    const plan = await database.db.transaction(async (tx) => {
      await tx.execute(sql`SET LOCAL enable_seqscan = off`);
      return rowsOf<{ 'QUERY PLAN': string }>(
        await tx.execute(sql.raw(`EXPLAIN SELECT id FROM kb_chunks WHERE embedding_dimensions = 384 AND in_vector_index ORDER BY (embedding::vector(384)) <=> '${q}'::vector(384) LIMIT 5`)),
      );
    });
    expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toContain('kb_chunks_embedding_idx');
  });

  it('when a vector does not match its declared dimensions, or another size is stored, then the check holds and both sizes live side by side', async () => {
    const kb = await seed(['sixty-four dimensional text'], 64);
    const rows = rowsOf<{ n: number }>(await database.db.execute(sql`SELECT count(*)::int AS n FROM kb_chunks WHERE kb_id = ${kb.id} AND vector_dims(embedding) = 64`));
    expect(rows[0]!.n).toBe(1);
    await expect(
      database.db.execute(sql`UPDATE kb_chunks SET embedding_dimensions = 384 WHERE kb_id = ${kb.id}`),
    ).rejects.toMatchObject({ cause: { message: expect.stringContaining('kb_chunks_dimensions_check') } });
  });
});
