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
 *
 * questions.json is the set the search was developed against. questions.heldout.json checks that
 * what was built is not fitted to it: its first 44 questions were written before anything changed
 * (their misses were read once, midway); the other 34 were written then and first measured with
 * the final code. No question was reworded after it was measured.
 */
const DATA = path.join(__dirname, 'testdata', 'retrieval');
const documents = fs
  .readdirSync(path.join(DATA, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .sort()
  .map((file) => ({ file, content: fs.readFileSync(path.join(DATA, 'docs', file), 'utf8') }));
type Question = { question: string; entry: string };
const readQuestions = (file: string) => JSON.parse(fs.readFileSync(path.join(DATA, file), 'utf8')) as Question[];
const sets = { original: readQuestions('questions.json'), heldOut: readQuestions('questions.heldout.json') };
const K = 3;
/**
 * Measured (top 3, PGlite and PostgreSQL 15 alike), before → after fusing ranks over every candidate
 * of both legs (kb.search.ts):
 *   original  0.804 (37 of 46) → 0.870 (40 of 46)
 *   held-out  0.756 (59 of 78) → 0.782 (61 of 78)
 * Related words from WordNet were tried too and left out: on the held-out questions they were no
 * gain (0.744 alone, 0.782 with the fusion), for a 34 MB lexicon and a slower text leg. What is
 * still missed is mostly the local embedder: the full-text leg alone has the right entry in its top
 * 3 for 0.87 and 0.85 of the questions, and the vector leg, which ranks it low, outvotes it; the rest
 * name their subject by words no document uses ("access card" for badge). The bars sit just below
 * the measurements, so that they catch regressions, not noise; a real embedding model lifts them.
 */
const MIN_HIT_RATE = { original: 0.85, heldOut: 0.76 };

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

  type SetName = keyof typeof sets;
  const answers = new Map<SetName, Promise<SearchHit[][]>>();
  /** The top K of every question of a set, searched once and shared by the tests below. */
  const searchAll = (set: SetName) => {
    if (!answers.has(set)) {
      answers.set(
        set,
        (async () => {
          const out: SearchHit[][] = [];
          for (const q of sets[set]) {
            const { hits } = await hybridSearch(database.db, { kbIds: [kbId], dimensions: 384, languages: ['english'] }, { text: q.question, vector: embedder.embedOne(q.question) }, { k: K });
            out.push(hits);
          }
          return out;
        })(),
      );
    }
    return answers.get(set)!;
  };

  /** Share of a set's questions whose labelled entry is among their top K, and the questions that missed. */
  const score = (set: SetName, results: SearchHit[][], labels: string[]) => {
    const questions = sets[set];
    const misses = questions.flatMap((q, i) => (results[i]!.some((h) => h.entryId === entryIds.get(labels[i]!)) ? [] : [`"${q.question}" wanted ${labels[i]}, got ${results[i]!.map((h) => h.entryTitle).join(' | ') || 'nothing'}`]));
    return { rate: 1 - misses.length / questions.length, misses };
  };

  it('when the data is read, then it has at least 30 documents, 30 questions and 20 held-out ones, each labelled with one of the documents and none asked twice', () => {
    expect(documents.length).toBeGreaterThanOrEqual(30);
    expect(sets.original.length).toBeGreaterThanOrEqual(30);
    expect(sets.heldOut.length).toBeGreaterThanOrEqual(20);
    const all = [...sets.original, ...sets.heldOut];
    expect(all.filter((q) => !entryIds.has(q.entry))).toEqual([]);
    expect(new Set(all.map((q) => words(q.question).join(' '))).size).toBe(all.length);
  });

  it('when the questions, held-out ones included, are compared with their documents, then none copies a run of five words from it', () => {
    const copied = [...sets.original, ...sets.heldOut].flatMap((q) => {
      const doc = ` ${words(documents.find((d) => d.file === q.entry)!.content).join(' ')} `;
      const ws = words(q.question);
      const runs = ws.slice(0, -4).map((_, i) => ws.slice(i, i + 5).join(' '));
      return runs.filter((r) => doc.includes(` ${r} `)).map((r) => `${q.question}: "${r}"`);
    });
    expect(copied).toEqual([]);
  });

  it.each([
    ['original', MIN_HIT_RATE.original * 100],
    ['heldOut', MIN_HIT_RATE.heldOut * 100],
  ] as const)(`when each question of the %s set is asked, then the entry that answers it is in the top ${K} for at least %d %% of them`, async (set, _bar) => {
    const { rate, misses } = score(set, await searchAll(set), sets[set].map((q) => q.entry));
    // The misses are the evidence when this fails.
    expect({ rate: Math.round(rate * 1000) / 1000, misses: rate >= MIN_HIT_RATE[set] ? [] : misses }).toEqual({ rate: expect.any(Number), misses: [] });
    expect(rate).toBeGreaterThanOrEqual(MIN_HIT_RATE[set]);
  });

  it.each(['original', 'heldOut'] as const)('when the labels of the %s set are shifted onto other documents, then the same answers score far lower, so the measure can fail', async (set) => {
    // Every question labelled with another document (a rotation: no label stays in place).
    const files = documents.map((d) => d.file);
    const shifted = sets[set].map((q) => files[(files.indexOf(q.entry) + Math.floor(files.length / 2)) % files.length]!);
    expect(shifted.every((label, i) => label !== sets[set][i]!.entry)).toBe(true);
    expect(score(set, await searchAll(set), shifted).rate).toBeLessThan(0.3);
  });
});
