import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { createTestApp, type TestApp } from '../../../test/support/test-app';
import { jobEnd, newKb, person, searchKb, type Auth } from '../../../test/support/kb';
import { words } from './kb.embedder.local';

/**
 * Retrieval quality on labelled data: company documents (testdata/retrieval/docs, one entry each)
 * and questions worded the way people ask them, each labelled with the document that answers it.
 * Everything goes through the API as an instance with nothing configured runs it: the entries are
 * indexed by the ingestion jobs (chunker, the built-in local embedder, hashing-v2) and the questions
 * asked at the search endpoint.
 *
 * questions.json is the set the search was developed against. questions.heldout.json checks that
 * what was built is not fitted to it: its first 44 questions were written before anything changed
 * (their misses were read once, midway); the other 34 were written then and first measured with
 * the fusion over complete scores. questions.fresh.json (two per document) was written after
 * hashing-v2 was chosen, by someone who had seen neither the other sets nor the search code, and
 * measured once (two of its questions had been asked word for word in the older sets and were
 * replaced before that). No question was reworded after it was measured.
 */
const DATA = path.join(__dirname, 'testdata', 'retrieval');
const documents = fs
  .readdirSync(path.join(DATA, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .sort()
  .map((file) => ({ file, content: fs.readFileSync(path.join(DATA, 'docs', file), 'utf8') }));
type Question = { question: string; entry: string };
const readQuestions = (file: string) => JSON.parse(fs.readFileSync(path.join(DATA, file), 'utf8')) as Question[];
const sets = { original: readQuestions('questions.json'), heldOut: readQuestions('questions.heldout.json'), fresh: readQuestions('questions.fresh.json') };
const K = 3;
type Hit = Awaited<ReturnType<typeof searchKb>>[number];
/**
 * Measured (top 3, PGlite and PostgreSQL 15 alike):
 *                                            original        held-out        fresh
 *   first fusion (ranks of each leg's list)  0.804 (37/46)   0.756 (59/78)
 *   fusion over complete scores              0.870 (40/46)   0.782 (61/78)
 *   hashing-v2 (stop words left out)         0.913 (42/46)   0.910 (71/78)   0.956 (65/68)
 * The first two rows were measured with vectors of the chunk text alone; since then the test goes
 * through ingestion, which embeds the heading path with the chunk (as it already did in the
 * product), and that alone was worth 0.87 → 0.89 / 0.78 → 0.82. Related words from WordNet were
 * tried and left out (no gain on the held-out set, for a 34 MB lexicon and a slower text leg); so
 * were stemming the hashed words (Snowball) and the heading path in the full-text leg, which moved
 * single questions either way. What is still missed names its subject by words no document uses
 * ("access card" for badge). The bars sit just below the measurements, so that they catch
 * regressions, not noise; a real embedding model lifts them.
 */
const MIN_HIT_RATE = { original: 0.9, heldOut: 0.89, fresh: 0.94 };

describe('retrieval over labelled company documents', () => {
  let t: TestApp;
  let auth: Auth;
  let kbId: string;
  let unrelatedKbId: string;
  const entryIds = new Map<string, string>();

  beforeAll(async () => {
    t = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000', RATE_LIMIT_MAX: '100000' });
    ({ auth } = await person(t));
    kbId = (await newKb(t, auth, { name: 'Company documents' })).id;
    // A knowledge base of someone else's, holding one of the same documents: it must never answer.
    const other = await person(t);
    unrelatedKbId = (await newKb(t, other.auth, { name: 'Elsewhere' })).id;
    const copy = await request(t.app).post(`/api/knowledge-bases/${unrelatedKbId}/entries`).set(other.auth).send({ title: 'Copy', text: documents[0]!.content });
    const jobs: { file: string; job: string }[] = [];
    for (const { file, content } of documents) {
      const title = /^# (.+)$/m.exec(content)?.[1] ?? file;
      const res = await request(t.app).post(`/api/knowledge-bases/${kbId}/entries`).set(auth).send({ title, text: content });
      if (res.status !== 202) throw new Error(`entry not created: ${res.status} ${JSON.stringify(res.body)}`);
      entryIds.set(file, res.body.entry.id);
      jobs.push({ file, job: res.body.job.id });
    }
    for (const { file, job, as } of [...jobs.map((j) => ({ ...j, as: auth })), { file: 'copy', job: copy.body.job.id as string, as: other.auth }]) {
      const end = await jobEnd(t, as, job, 120_000);
      if (end.status !== 'succeeded') throw new Error(`${file}: ingestion ${end.status}: ${end.error}`);
    }
  }, 240_000);
  afterAll(() => t.close());

  type SetName = keyof typeof sets;
  const answers = new Map<SetName, Promise<Hit[][]>>();
  /** The top K of every question of a set, searched once and shared by the tests below. */
  const searchAll = (set: SetName) => {
    if (!answers.has(set)) {
      answers.set(
        set,
        (async () => {
          const out: Hit[][] = [];
          for (const q of sets[set]) out.push(await searchKb(t, auth, kbId, q.question, K));
          return out;
        })(),
      );
    }
    return answers.get(set)!;
  };

  /** Share of a set's questions whose labelled entry is among their top K, and the questions that missed. */
  const score = (set: SetName, results: Hit[][], labels: string[]) => {
    const questions = sets[set];
    const misses = questions.flatMap((q, i) => (results[i]!.some((h) => h.entryId === entryIds.get(labels[i]!)) ? [] : [`"${q.question}" wanted ${labels[i]}, got ${results[i]!.map((h) => h.entryTitle).join(' | ') || 'nothing'}`]));
    return { rate: 1 - misses.length / questions.length, misses };
  };

  it('when the data is read, then it has at least 30 documents, 30 questions, 20 held-out ones and two fresh ones per document, each labelled with one of the documents and none asked twice', () => {
    expect(documents.length).toBeGreaterThanOrEqual(30);
    expect(sets.original.length).toBeGreaterThanOrEqual(30);
    expect(sets.heldOut.length).toBeGreaterThanOrEqual(20);
    expect(sets.fresh.length).toBeGreaterThanOrEqual(2 * documents.length);
    const all = [...sets.original, ...sets.heldOut, ...sets.fresh];
    expect(all.filter((q) => !entryIds.has(q.entry))).toEqual([]);
    expect(new Set(all.map((q) => words(q.question).join(' '))).size).toBe(all.length);
  });

  it('when the questions, held-out ones included, are compared with their documents, then none copies a run of five words from it', () => {
    const copied = [...sets.original, ...sets.heldOut, ...sets.fresh].flatMap((q) => {
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
    ['fresh', MIN_HIT_RATE.fresh * 100],
  ] as const)(`when each question of the %s set is asked, then the entry that answers it is in the top ${K} for at least %d %% of them`, async (set, _bar) => {
    const results = await searchAll(set);
    const { rate, misses } = score(set, results, sets[set].map((q) => q.entry));
    const ours = new Set(entryIds.values());
    expect(results.flat().filter((h) => !ours.has(h.entryId))).toEqual([]);
    if (process.env.HEARTH_PRINT_RETRIEVAL) console.log(`${set}: ${rate.toFixed(3)} (${Math.round(rate * sets[set].length)} of ${sets[set].length})\n${misses.join('\n')}`);
    // The misses are the evidence when this fails.
    expect({ rate: Math.round(rate * 1000) / 1000, misses: rate >= MIN_HIT_RATE[set] ? [] : misses }).toEqual({ rate: expect.any(Number), misses: [] });
    expect(rate).toBeGreaterThanOrEqual(MIN_HIT_RATE[set]);
  });

  it.each(['original', 'heldOut', 'fresh'] as const)('when the labels of the %s set are shifted onto other documents, then the same answers score far lower, so the measure can fail', async (set) => {
    // Every question labelled with another document (a rotation: no label stays in place).
    const files = documents.map((d) => d.file);
    const shifted = sets[set].map((q) => files[(files.indexOf(q.entry) + Math.floor(files.length / 2)) % files.length]!);
    expect(shifted.every((label, i) => label !== sets[set][i]!.entry)).toBe(true);
    expect(score(set, await searchAll(set), shifted).rate).toBeLessThan(0.3);
  });
});
