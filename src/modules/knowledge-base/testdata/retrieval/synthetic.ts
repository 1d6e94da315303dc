/**
 * Synthetic chunk text for scale tests and benchmarks: deterministic (seeded), varied, and shaped
 * like real knowledge-base text so that vectors and full-text behave as they would on real data.
 * Each chunk is about one of many topics (a topic has its own favourite words, as a runbook or a
 * policy does), mixed with words from a large shared Zipf-distributed vocabulary, which gives every
 * chunk words of its own, and ordinary English function words. A question is about one chunk: some
 * of that chunk's content words, reordered, with function words of its own, as a person asks about
 * a passage. Uniformly random text would put every vector at the same distance from every other,
 * and questions about nothing in particular have no meaningful nearest neighbours.
 */

import { DEFAULT_LOCAL_MODEL, LocalEmbedder } from '../../kb.embedder.local';

/** The synthetic knowledge bases are embedded as a new knowledge base is by default. */
export const SYNTHETIC_MODEL = DEFAULT_LOCAL_MODEL;
export const syntheticEmbedder = (): LocalEmbedder => LocalEmbedder.forModel(SYNTHETIC_MODEL, 384, 'english');

const STOPWORDS = 'the a an of to and in is for on that with as by be at or from this it are was will can you your we our if not all when must before after each any more than per within about into how what do does should who'.split(' ');
const STOP = new Set(STOPWORDS);

const ROOTS = [
  'account', 'access', 'approval', 'audit', 'backup', 'badge', 'balance', 'billing', 'budget', 'build', 'calendar', 'card', 'certificate',
  'change', 'channel', 'claim', 'client', 'cluster', 'code', 'commit', 'compliance', 'contract', 'cost', 'credential', 'customer',
  'dashboard', 'data', 'database', 'deadline', 'deploy', 'device', 'disk', 'document', 'domain', 'employee', 'encryption', 'engineer',
  'error', 'escalation', 'event', 'expense', 'export', 'failover', 'feature', 'feedback', 'finance', 'firewall', 'flag', 'holiday',
  'hotel', 'identity', 'incident', 'index', 'invoice', 'key', 'laptop', 'latency', 'leave', 'license', 'limit', 'log', 'manager',
  'meeting', 'metric', 'migration', 'monitor', 'network', 'notice', 'office', 'onboarding', 'order', 'outage', 'owner', 'packet',
  'page', 'partner', 'password', 'payment', 'payroll', 'permission', 'phone', 'pipeline', 'plan', 'policy', 'portal', 'price',
  'privacy', 'probation', 'process', 'product', 'project', 'promotion', 'quota', 'receipt', 'refund', 'region', 'release', 'replica',
  'report', 'request', 'restore', 'review', 'risk', 'role', 'rollback', 'salary', 'schedule', 'secret', 'security', 'server',
  'service', 'session', 'shift', 'signature', 'storage', 'subscription', 'supplier', 'support', 'system', 'team', 'ticket', 'token',
  'training', 'transfer', 'travel', 'upgrade', 'user', 'vendor', 'visitor', 'volume', 'vault', 'warehouse', 'workspace',
];
const SUFFIXES = ['', 's', 'ing', 'ed', 'er', 'al', 'ly', 'tion', 'ment', 'able'];
const SYLLABLES = 'ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga ge go ka ke ki ko la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi po ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo za ze zo'.split(' ');

/** mulberry32: small, fast, good enough for test data, and the same on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyntheticCorpus {
  /** A chunk-sized text (60–140 words) about a topic chosen from `seed`. */
  chunk(seed: number): string;
  /** A question (7–14 words) about the chunk `chunk(seed)`. */
  question(seed: number): string;
}

export function syntheticCorpus(opts: { topics?: number; vocabulary?: number } = {}): SyntheticCorpus {
  const topicCount = opts.topics ?? 1_000;
  const size = opts.vocabulary ?? 30_000;
  const rnd = prng(0x5eed);
  const vocab = new Set<string>();
  for (const r of ROOTS) for (const s of SUFFIXES) vocab.add(r + s);
  while (vocab.size < size) {
    const n = 2 + Math.floor(rnd() * 3);
    let w = '';
    for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(rnd() * SYLLABLES.length)];
    if (!STOP.has(w)) vocab.add(w);
  }
  const words = [...vocab];
  // Zipf (s = 1): word i is drawn with probability ∝ 1 / (i + 1).
  const cumulative: number[] = [];
  let total = 0;
  for (let i = 0; i < words.length; i++) cumulative.push((total += 1 / (i + 1)));
  const zipf = (r: () => number) => {
    const x = r() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return words[lo]!;
  };
  const topics = Array.from({ length: topicCount }, () => Array.from({ length: 60 }, () => words[Math.floor(rnd() * words.length)]!));
  const sentence = (ws: string[]) => {
    const s = ws.map((w, i) => (i % 12 === 11 && i < ws.length - 1 ? `${w}.` : w)).join(' ');
    return `${s.charAt(0).toUpperCase()}${s.slice(1)}.`;
  };
  const chunkWords = (seed: number) => {
    const r = prng((Math.imul(seed + 1, 0x9e3779b1) ^ 0x0c4a2b) >>> 0);
    const topic = topics[Math.floor(r() * topics.length)]!;
    const n = 60 + Math.floor(r() * 81);
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const x = r();
      if (x < 0.35) out.push(STOPWORDS[Math.floor(r() * STOPWORDS.length)]!);
      else if (x < 0.65) out.push(topic[Math.floor(Math.pow(r(), 2) * topic.length)]!);
      else out.push(zipf(r));
    }
    return out;
  };
  const question = (seed: number) => {
    const r = prng((Math.imul(seed + 1, 0x85ebca6b) ^ 0x9a3e57) >>> 0);
    const content = [...new Set(chunkWords(seed).filter((w) => !STOP.has(w)))];
    const n = 7 + Math.floor(r() * 8);
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      // A third function words, the rest words of the passage (a few from elsewhere: nobody quotes exactly).
      const x = r();
      if (x < 0.33) out.push(STOPWORDS[Math.floor(r() * STOPWORDS.length)]!);
      else if (x < 0.9) out.push(content[Math.floor(r() * content.length)]!);
      else out.push(zipf(r));
    }
    return `${sentence(out).slice(0, -1)}?`;
  };
  return { chunk: (seed) => sentence(chunkWords(seed)), question };
}

/** What the loader needs of a connection: node-postgres's Client and Pool both fit. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

export interface SyntheticKbOptions {
  ownerId: string;
  name: string;
  chunks: number;
  /** Chunk i of this knowledge base is `corpus.chunk(firstSeed + i)`: distinct knowledge bases get distinct text. */
  firstSeed: number;
  corpus: SyntheticCorpus;
  embed: (text: string) => number[];
  chunksPerEntry?: number;
  batchSize?: number;
}

/**
 * A knowledge base of `chunks` synthetic chunks, as ingestion would leave it: entries with one ready
 * revision each, their chunks embedded in 384 dimensions, and current_revision_id set. Multi-row
 * INSERTs, and the next batch is embedded while the previous one is being written.
 */
export async function loadSyntheticKb(db: Queryable, o: SyntheticKbOptions): Promise<string> {
  const perEntry = o.chunksPerEntry ?? 50;
  const batchSize = o.batchSize ?? 1000;
  const [kb] = (
    await db.query(
      // In the HNSW index from the start ('ready'), as a large knowledge base ends up: the bench and
      // the recall test measure the index, and its filtered use on a small one.
      `INSERT INTO knowledge_bases (owner_id, name, embedding_provider, embedding_model, embedding_dimensions, language, vector_index)
       VALUES ($1, $2, 'local', '${SYNTHETIC_MODEL}', 384, 'english', 'ready') RETURNING id`,
      [o.ownerId, o.name],
    )
  ).rows;
  const kbId = String(kb!.id);
  const entries: { entryId: string; revisionId: string }[] = [];
  const entryCount = Math.ceil(o.chunks / perEntry);
  for (let first = 0; first < entryCount; first += 500) {
    const n = Math.min(500, entryCount - first);
    const titles = Array.from({ length: n }, (_, i) => `${o.name} document ${first + i + 1}`);
    const made = (
      await db.query(
        `WITH e AS (INSERT INTO kb_entries (kb_id, title, source_type) SELECT $1, t, 'text' FROM unnest($2::text[]) WITH ORDINALITY AS x(t, i) ORDER BY i RETURNING id, title),
              r AS (INSERT INTO kb_revisions (entry_id, number, content, content_hash, size_bytes, status) SELECT id, 1, title, 'synthetic', length(title), 'ready' FROM e RETURNING id, entry_id)
         SELECT e.id AS entry_id, r.id AS revision_id, e.title FROM e JOIN r ON r.entry_id = e.id`,
        [kbId, titles],
      )
    ).rows;
    // A separate statement: within one, an UPDATE does not see the rows its sibling CTEs insert.
    await db.query(
      'UPDATE kb_entries e SET current_revision_id = x.revision_id FROM unnest($1::uuid[], $2::uuid[]) AS x(entry_id, revision_id) WHERE e.id = x.entry_id',
      [made.map((r) => r.entry_id), made.map((r) => r.revision_id)],
    );
    const byTitle = new Map(made.map((r) => [String(r.title), { entryId: String(r.entry_id), revisionId: String(r.revision_id) }]));
    for (const t of titles) entries.push(byTitle.get(t)!);
  }
  let writing: Promise<unknown> = Promise.resolve();
  for (let start = 0; start < o.chunks; start += batchSize) {
    const values: unknown[] = [kbId];
    const rows: string[] = [];
    for (let i = start; i < Math.min(o.chunks, start + batchSize); i++) {
      const { entryId, revisionId } = entries[Math.floor(i / perEntry)]!;
      const content = o.corpus.chunk(o.firstSeed + i);
      const p = values.length;
      rows.push(`($1, $${p + 1}::uuid, $${p + 2}::uuid, $${p + 3}::int, $${p + 4}, $${p + 5}::int, $${p + 6}::vector, 384, '${SYNTHETIC_MODEL}', true, 'english')`);
      values.push(entryId, revisionId, i % perEntry, content, Math.ceil(content.length / 4), `[${o.embed(content).map((x) => x.toFixed(6)).join(',')}]`);
    }
    await writing;
    writing = db.query(
      `INSERT INTO kb_chunks (kb_id, entry_id, revision_id, ordinal, content, token_count, embedding, embedding_dimensions, embedding_model, in_vector_index, language) VALUES ${rows.join(', ')}`,
      values,
    );
  }
  await writing;
  return kbId;
}

/**
 * Several synthetic knowledge bases loaded at once over a direct connection: the HNSW index is
 * dropped, the rows inserted, then the index rebuilt from its own definition (so it is exactly the
 * migration's), as pgvector advises for bulk loads: inserting 50k rows into a live graph takes
 * minutes, building it seconds. Only for a database nothing else is using.
 */
export async function bulkLoad(c: Queryable, kbs: { name: string; chunks: number; firstSeed: number }[], embed: (text: string) => number[]): Promise<string[]> {
  const [{ indexdef }] = (await c.query(`SELECT indexdef FROM pg_indexes WHERE indexname = 'kb_chunks_embedding_idx'`)).rows as [{ indexdef: string }];
  await c.query('DROP INDEX kb_chunks_embedding_idx');
  const [owner] = (await c.query(`INSERT INTO users (email, name, password_hash) VALUES ($1, 'Synthetic', 'x') RETURNING id`, [`synthetic-${Date.now()}@example.com`])).rows;
  const corpus = syntheticCorpus();
  const ids: string[] = [];
  for (const kb of kbs) ids.push(await loadSyntheticKb(c, { ownerId: String(owner!.id), ...kb, corpus, embed }));
  // A 100k × 384 graph is ~200 MB: built in memory it takes seconds, spilled to disk minutes.
  await c.query(`SET maintenance_work_mem = '1GB'`);
  await c.query(indexdef);
  await c.query('ANALYZE kb_chunks');
  return ids;
}
