import fs from 'node:fs';
import path from 'node:path';
import { eq, inArray } from 'drizzle-orm';
import { captureLogger, openTestDatabase, unique } from '../../../test/support/test-app';
import type { Database } from '../../platform/db/client';
import { users } from '../auth';
import { chunkText } from './kb.chunker';
import { LocalEmbedder, words } from './kb.embedder.local';
import { kbChunks, kbEntries, kbRevisions, knowledgeBases } from './kb.schema';
import { hybridSearch, type SearchHit } from './kb.search';

/**
 * Retrieval quality on labelled data: company documents (testdata/retrieval/docs, one entry each)
 * and questions worded the way people ask them, each labelled with the document that answers it.
 * The built-in local embedder and full text, as an instance with nothing configured searches.
 */
const DATA = path.join(__dirname, 'testdata', 'retrieval');
const documents = fs
  .readdirSync(path.join(DATA, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .sort()
  .map((file) => ({ file, content: fs.readFileSync(path.join(DATA, 'docs', file), 'utf8') }));
const questions = JSON.parse(fs.readFileSync(path.join(DATA, 'questions.json'), 'utf8')) as { question: string; entry: string }[];
const K = 3;
/**
 * Measured 0.80 (37 of 46). The misses name their subject only by synonyms the documents do not use
 * ("access card" for badge, "smartphone" for phone, "abroad" for another country): the local
 * embedder hashes words and n-grams and full text matches stems, so neither can bridge them. The bar
 * sits below the measurement so that it catches regressions, not noise; a real embedding model is
 * what lifts it.
 */
const MIN_HIT_RATE = 0.75;

describe('retrieval over labelled company documents', () => {
  let database: Database;
  let kbId: string;
  const entryIds = new Map<string, string>();
  const embedder = new LocalEmbedder(384);

  beforeAll(async () => {
    database = await openTestDatabase(captureLogger().logger);
    const db = database.db;
    const [owner] = await db.insert(users).values({ email: `${unique('retrieval')}@example.com`, name: 'Retrieval', passwordHash: 'x' }).returning();
    const [kb] = await db.insert(knowledgeBases).values({ ownerId: owner!.id, name: unique('company-docs'), embeddingProvider: 'local', embeddingModel: 'hashing-v1', embeddingDimensions: 384, language: 'english' }).returning();
    kbId = kb!.id;
    for (const { file, content } of documents) {
      const title = /^# (.+)$/m.exec(content)?.[1] ?? file;
      const [entry] = await db.insert(kbEntries).values({ kbId, title, sourceType: 'text' }).returning();
      const [rev] = await db.insert(kbRevisions).values({ entryId: entry!.id, number: 1, content, contentHash: file, sizeBytes: content.length, status: 'ready' }).returning();
      const chunks = chunkText(content);
      await db.insert(kbChunks).values(
        chunks.map((c) => ({ kbId, entryId: entry!.id, revisionId: rev!.id, ordinal: c.ordinal, content: c.content, tokenCount: c.tokenCount, metadata: { headingPath: c.headingPath }, embedding: embedder.embedOne(c.content), embeddingDimensions: 384, embeddingModel: 'hashing-v1', language: 'english' })),
      );
      await db.update(kbEntries).set({ currentRevisionId: rev!.id }).where(eq(kbEntries.id, entry!.id));
      entryIds.set(file, entry!.id);
    }
  });
  afterAll(async () => {
    const [kb] = await database.db.select({ ownerId: knowledgeBases.ownerId }).from(knowledgeBases).where(eq(knowledgeBases.id, kbId));
    await database.db.delete(knowledgeBases).where(eq(knowledgeBases.id, kbId));
    if (kb?.ownerId) await database.db.delete(users).where(inArray(users.id, [kb.ownerId]));
    await database.close();
  });

  let answers: Promise<SearchHit[][]> | undefined;
  /** The top K of every question, searched once and shared by the tests below. */
  const searchAll = () =>
    (answers ??= (async () => {
      const out: SearchHit[][] = [];
      for (const q of questions) {
        const { hits } = await hybridSearch(database.db, { kbIds: [kbId], dimensions: 384, languages: ['english'] }, { text: q.question, vector: embedder.embedOne(q.question) }, { k: K });
        out.push(hits);
      }
      return out;
    })());

  /** Share of questions whose labelled entry is among their top K, and the questions that missed. */
  const score = (results: SearchHit[][], labels: string[]) => {
    const misses = questions.flatMap((q, i) => (results[i]!.some((h) => h.entryId === entryIds.get(labels[i]!)) ? [] : [`"${q.question}" wanted ${labels[i]}, got ${results[i]!.map((h) => h.entryTitle).join(' | ') || 'nothing'}`]));
    return { rate: 1 - misses.length / questions.length, misses };
  };

  it('when the data is read, then it has at least 30 documents and 30 questions, each labelled with one of the documents', () => {
    expect(documents.length).toBeGreaterThanOrEqual(30);
    expect(questions.length).toBeGreaterThanOrEqual(30);
    expect(questions.filter((q) => !entryIds.has(q.entry))).toEqual([]);
  });

  it('when the questions are compared with their documents, then none copies a run of five words from it', () => {
    const copied = questions.flatMap((q) => {
      const doc = ` ${words(documents.find((d) => d.file === q.entry)!.content).join(' ')} `;
      const ws = words(q.question);
      const runs = ws.slice(0, -4).map((_, i) => ws.slice(i, i + 5).join(' '));
      return runs.filter((r) => doc.includes(` ${r} `)).map((r) => `${q.question}: "${r}"`);
    });
    expect(copied).toEqual([]);
  });

  it(`when each question is asked, then the entry that answers it is in the top ${K} for at least ${MIN_HIT_RATE * 100} % of them`, async () => {
    const { rate, misses } = score(await searchAll(), questions.map((q) => q.entry));
    // The misses are the evidence when this fails.
    expect({ rate: Math.round(rate * 1000) / 1000, misses: rate >= MIN_HIT_RATE ? [] : misses }).toEqual({ rate: expect.any(Number), misses: [] });
    expect(rate).toBeGreaterThanOrEqual(MIN_HIT_RATE);
  });

  it('when the labels are shifted onto other documents, then the same answers score far lower, so the measure can fail', async () => {
    // Every question labelled with another document (a rotation: no label stays in place).
    const files = documents.map((d) => d.file);
    const shifted = questions.map((q) => files[(files.indexOf(q.entry) + Math.floor(files.length / 2)) % files.length]!);
    expect(shifted.every((label, i) => label !== questions[i]!.entry)).toBe(true);
    expect(score(await searchAll(), shifted).rate).toBeLessThan(0.3);
  });
});
