import { eq, sql } from 'drizzle-orm';
import { captureLogger, openTestDatabase, unique } from '../../../test/support/test-app';
import type { Database } from '../../platform/db/client';
import { users } from '../auth';
import { chunkText } from './kb.chunker';
import { LocalEmbedder } from './kb.embedder.local';
import { kbChunks, kbEntries, kbRevisions, knowledgeBases } from './kb.schema';
import { rowsOf } from '../../platform/db/migrate';
import { hybridSearch } from './kb.search';

describe('hybrid search', () => {
  let database: Database;
  const embedder = new LocalEmbedder(384);
  beforeAll(async () => {
    database = await openTestDatabase(captureLogger().logger);
  });
  afterAll(() => database.close());

  /**
   * A knowledge base with entries whose current revision holds `docs`; earlier revisions hold
   * `stale`. Its chunks are in the HNSW index, as a large knowledge base's are, so both plans can run.
   */
  async function kbWith(docs: Record<string, string>, stale: Record<string, string> = {}) {
    const db = database.db;
    const [owner] = await db.insert(users).values({ email: `${unique('s')}@example.com`, name: 'S', passwordHash: 'x' }).returning();
    const [kb] = await db.insert(knowledgeBases).values({ ownerId: owner!.id, name: 'KB', embeddingProvider: 'local', embeddingModel: 'hashing-v1', embeddingDimensions: 384, language: 'english', vectorIndex: 'ready' }).returning();
    for (const [title, text] of Object.entries(docs)) {
      const [entry] = await db.insert(kbEntries).values({ kbId: kb!.id, title, sourceType: 'text' }).returning();
      let number = 1;
      for (const content of [stale[title], text].filter((x): x is string => Boolean(x))) {
        const [rev] = await db.insert(kbRevisions).values({ entryId: entry!.id, number: number++, content, contentHash: 'h', sizeBytes: content.length, status: 'ready' }).returning();
        const chunks = chunkText(content);
        await db.insert(kbChunks).values(chunks.map((c) => ({ kbId: kb!.id, entryId: entry!.id, revisionId: rev!.id, ordinal: c.ordinal, content: c.content, tokenCount: c.tokenCount, metadata: { headingPath: c.headingPath }, embedding: embedder.embedOne(c.content), embeddingDimensions: 384, embeddingModel: 'hashing-v1', inVectorIndex: true, language: 'english' })));
        await db.update(kbEntries).set({ currentRevisionId: rev!.id }).where(eq(kbEntries.id, entry!.id));
      }
    }
    return kb!;
  }

  const search = (kbIds: string[], text: string, exactThreshold?: number) => hybridSearch(database.db, { kbIds, dimensions: 384, languages: ['english'] }, { text, vector: embedder.embedOne(text) }, { k: 3, exactThreshold });

  it('when a question is asked, then the right passage of the current revision comes first, with its entry, revision and heading path', async () => {
    const kb = await kbWith(
      {
        'On-call runbook': '# Runbook\n\n## Restarts\n\nTo restart the payment service run systemctl restart payments on the primary node.',
        'Holiday policy': '# Holidays\n\nEmployees get 25 vacation days per year, booked in the HR portal.',
        'Security': '# Credentials\n\nRotate database passwords every quarter and store them in the vault.',
      },
      { 'Holiday policy': '# Holidays\n\nEmployees get 20 vacation days per year.' },
    );
    const { hits, plan } = await search([kb.id], 'how many vacation days do employees get?');
    expect(plan).toBe('exact');
    expect(hits[0]).toMatchObject({ entryTitle: 'Holiday policy', revisionNumber: 2, headingPath: ['Holidays'] });
    expect(hits[0]!.content).toContain('25 vacation days');
    // The retired revision's text never comes back.
    expect(hits.some((h) => h.content.includes('20 vacation days'))).toBe(false);
    const restart = await search([kb.id], 'restart payments');
    expect(restart.hits[0]).toMatchObject({ entryTitle: 'On-call runbook', headingPath: ['Runbook', 'Restarts'] });
    expect(restart.hits[0]!.vectorRank).toBe(1);
    expect(restart.hits[0]!.textRank).toBe(1);
  });

  it('when the searched rows exceed the exact-scan threshold, then the HNSW plan gives the same first answer', async () => {
    const kb = await kbWith({ A: 'Quarterly revenue grew twelve percent in the northern region.', B: 'The office plants need water on Fridays.' });
    const exact = await search([kb.id], 'revenue growth north');
    const hnsw = await search([kb.id], 'revenue growth north', 0);
    expect(hnsw.plan).toBe('hnsw');
    expect(hnsw.hits[0]!.chunkId).toBe(exact.hits[0]!.chunkId);
  });

  it('when a large search bounds its full-text leg, then a passage holding the rare word still comes first, and candidates are scored on every word', async () => {
    const notes = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`Policy note ${i}`, `# Note ${i}\n\nThe travel policy covers case ${i} of booking trains and hotels.`]));
    const kb = await kbWith({ ...notes, Airships: '# Airships\n\nA zeppelin flight needs the travel policy approval of two directors.' });
    // Statistics are what the bound is computed from (autovacuum would gather them in time).
    await database.db.execute(sql`ANALYZE kb_chunks`);
    // What makes the bound bite: by the statistics "polici" is in most chunks, "zeppelin" in few.
    const freq = new Map(
      rowsOf<{ l: string; f: number }>(
        await database.db.execute(sql`SELECT e.l, f.f FROM pg_stats s, unnest(s.most_common_elems::text::text[]) WITH ORDINALITY e(l, i) JOIN unnest(s.most_common_elem_freqs) WITH ORDINALITY f(f, i) USING (i)
          WHERE s.tablename = 'kb_chunks' AND s.attname = 'tsv' AND e.l IN ('polici', 'zeppelin')`),
      ).map((r) => [r.l, Number(r.f)]),
    );
    expect(freq.get('polici') ?? 0).toBeGreaterThan(10 * (freq.get('zeppelin') ?? 0.001));
    const question = 'zeppelin travel policy';
    const bounded = await hybridSearch(database.db, { kbIds: [kb.id], dimensions: 384, languages: ['english'] }, { text: question, vector: embedder.embedOne(question) }, { k: 5, exactThreshold: 0, textBudget: 1 });
    expect(bounded.plan).toBe('hnsw');
    expect(bounded.hits[0]).toMatchObject({ entryTitle: 'Airships', textRank: 1 });
    // The notes match only the common words the bounded leg left out, yet they are ranked by them.
    expect(bounded.hits.slice(1).every((h) => h.entryTitle.startsWith('Policy note') && h.textRank !== null)).toBe(true);
    const full = await hybridSearch(database.db, { kbIds: [kb.id], dimensions: 384, languages: ['english'] }, { text: question, vector: embedder.embedOne(question) }, { k: 5, exactThreshold: 0, textBudget: Infinity });
    expect(full.hits[0]!.entryTitle).toBe('Airships');
  });

  it("when several knowledge bases exist, then only the searched ones' chunks can come back", async () => {
    const mine = await kbWith({ Mine: 'The launch code for the demo is blue falcon.' });
    const theirs = await kbWith({ Theirs: 'The launch code for production is red eagle.' });
    const { hits } = await search([mine.id], 'launch code');
    expect(hits.map((h) => h.kbId)).toEqual([mine.id]);
    expect((await search([mine.id, theirs.id], 'launch code')).hits.map((h) => h.kbId).sort()).toEqual([mine.id, theirs.id].sort());
    expect((await search([], 'launch code')).hits).toEqual([]);
  });

  it("when the query carries SQL or tsquery syntax, then it is only text", async () => {
    const kb = await kbWith({ Quotes: "O'Brien's report: the 'alpha' & 'beta' results | summary." });
    for (const q of ["O'Brien's report", "'; DROP TABLE kb_chunks; --", 'alpha & !beta | (', '"unterminated']) {
      await expect(search([kb.id], q)).resolves.toEqual(expect.objectContaining({ hits: expect.any(Array) }));
    }
    expect((await search([kb.id], "O'Brien's report")).hits[0]!.entryTitle).toBe('Quotes');
  });
});
