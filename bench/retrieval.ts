import { sql } from 'drizzle-orm';
import { Client } from 'pg';
import { DEFAULT_EXACT_THRESHOLD, hybridSearch, TEXT_LEG_BUDGET, vectorSearch, type VectorSearchOptions } from '../src/modules/knowledge-base/kb.search';
import { bulkLoad, SYNTHETIC_MODEL, syntheticCorpus, syntheticEmbedder } from '../src/modules/knowledge-base/testdata/retrieval/synthetic';
import { createDatabase, type Database } from '../src/platform/db/client';
import { rowsOf, runMigrations } from '../src/platform/db/migrate';
import { captureLogger } from '../test/support/test-app';

/**
 * Retrieval at 100k chunks × 384 dimensions (the local embedder over synthetic text), on the real
 * stack: recall@10 of the vector leg against an exact scan, latency of the full hybrid search, and
 * exact scan against HNSW at several knowledge-base sizes, which is what DEFAULT_EXACT_THRESHOLD in
 * kb.search.ts is chosen from. Data lives in a database of its own (hearth_bench), so test runs
 * never see it, and is kept between runs: the layout's name says which data it holds.
 */
const BENCH_DB = 'hearth_bench';
const LAYOUT_NAME = 'retrieval-bench-v2';
/** Sizes compared for the threshold, plus the rest of the 100k in one more knowledge base. */
const SIZES = [1_000, 5_000, 10_000, 20_000, 40_000];
const TOTAL = 100_000;
const QUERIES = 100;
const K = 10;

const at = (url: string, database: string) => {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
};

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};
const ms = (x: number) => `${x < 10 ? x.toFixed(1) : x.toFixed(0)} ms`;

interface Layout {
  /** `firstSeed`: chunk i of a knowledge base is corpus.chunk(firstSeed + i). */
  kbs: { name: string; id: string; chunks: number; firstSeed: number }[];
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url, application_name: 'hearth-bench' });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** The bench database as this layout wants it: reused when complete, rebuilt from scratch otherwise. */
async function prepare(direct: string): Promise<Layout> {
  const logger = captureLogger('error').logger;
  const sizes = [...SIZES.map((n) => ({ name: `${LAYOUT_NAME}/${n}`, chunks: n })), { name: `${LAYOUT_NAME}/rest`, chunks: TOTAL - SIZES.reduce((a, b) => a + b, 0) }];
  const wanted = sizes.map((w, i) => ({ ...w, firstSeed: sizes.slice(0, i).reduce((a, b) => a + b.chunks, 0) }));
  const exists = await withClient(at(direct, 'postgres'), async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [BENCH_DB])).rowCount === 1);
  if (exists) {
    await runMigrations({ url: at(direct, BENCH_DB) }, logger);
    const found = await withClient(at(direct, BENCH_DB), async (c) =>
      (await c.query(`SELECT k.id, k.name, k.embedding_model, (SELECT count(*)::int FROM kb_chunks WHERE kb_id = k.id) AS n FROM knowledge_bases k WHERE k.name LIKE $1`, [`${LAYOUT_NAME}/%`])).rows,
    );
    const indexed = await withClient(at(direct, BENCH_DB), async (c) => (await c.query(`SELECT 1 FROM pg_indexes WHERE indexname = 'kb_chunks_embedding_idx'`)).rowCount === 1);
    const complete = indexed && wanted.every((w) => found.some((f) => f.name === w.name && f.embedding_model === SYNTHETIC_MODEL && Number(f.n) === w.chunks)) && found.length === wanted.length;
    if (complete) {
      console.log(`data: reusing ${TOTAL.toLocaleString('en')} chunks in ${BENCH_DB}`);
      return { kbs: wanted.map((w) => ({ ...w, id: String(found.find((f) => f.name === w.name)!.id) })) };
    }
    await withClient(at(direct, 'postgres'), (c) => c.query(`DROP DATABASE ${BENCH_DB} WITH (FORCE)`));
  }
  await withClient(at(direct, 'postgres'), (c) => c.query(`CREATE DATABASE ${BENCH_DB}`));
  await runMigrations({ url: at(direct, BENCH_DB) }, logger);
  return withClient(at(direct, BENCH_DB), async (c) => {
    const embedder = syntheticEmbedder();
    const t = performance.now();
    const ids = await bulkLoad(c, wanted, (s) => embedder.embedOne(s));
    console.log(`data: ${TOTAL.toLocaleString('en')} chunks embedded, inserted and indexed (HNSW m=16, ef_construction=64) in ${((performance.now() - t) / 1000).toFixed(0)} s`);
    return { kbs: wanted.map((w, i) => ({ ...w, id: ids[i]! })) };
  });
}

/** Ground truth: the k nearest by brute force, the HNSW index kept out of the plan. */
async function exactTopK(database: Database, kbIds: string[], vector: number[], k: number): Promise<number[]> {
  const q = `[${vector.join(',')}]`;
  return database.db.transaction(async (tx) => {
    await tx.execute(sql`SET LOCAL enable_indexscan = off`);
    const rows = rowsOf<{ id: number }>(
      await tx.execute(sql`SELECT c.id FROM kb_chunks c JOIN kb_entries e ON e.id = c.entry_id AND e.current_revision_id = c.revision_id
        WHERE c.kb_id = ANY(${sql`ARRAY[${sql.join(kbIds.map((id) => sql`${id}::uuid`), sql`, `)}]`}) AND c.embedding_dimensions = 384
        ORDER BY (c.embedding::vector(384)) <=> ${q}::vector(384), c.id LIMIT ${k}`),
    );
    return rows.map((r) => Number(r.id));
  });
}

interface Measured {
  p50: number;
  p95: number;
  recall?: number;
  rows?: number;
  plan?: string;
}

async function timed<T>(n: number, run: (i: number) => Promise<T>): Promise<{ times: number[]; results: T[] }> {
  for (let i = 0; i < Math.min(10, n); i++) await run(i); // warm the caches and the pool
  const times: number[] = [];
  const results: T[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    results.push(await run(i));
    times.push(performance.now() - t);
  }
  return { times, results };
}

export async function retrieval(): Promise<void> {
  const pooled = process.env.TEST_DATABASE_URL;
  const direct = process.env.TEST_MIGRATION_DATABASE_URL;
  if (!pooled || !direct) {
    throw new Error('bench retrieval needs the real stack: TEST_DATABASE_URL (PgBouncer) and TEST_MIGRATION_DATABASE_URL (direct Postgres). Run: bash scripts/test-stack.sh up && eval "$(bash scripts/test-stack.sh env)"');
  }
  const layout = await prepare(direct);
  const database = await createDatabase({ url: at(pooled, BENCH_DB), poolMax: 2, statementTimeoutMs: 30_000, pgliteDataDir: 'memory://', logger: captureLogger('error').logger });
  try {
    const corpus = syntheticCorpus();
    const embedder = syntheticEmbedder();
    /** Questions about chunks of what is searched: seeds spread evenly over its knowledge bases' chunks. */
    type Asked = { kbIds: string[]; seeds: number[]; questions: string[]; vectors: number[][]; truth: number[][] };
    const ask = async (kbs: Layout['kbs']): Promise<Asked> => {
      const seeds = kbs.flatMap((kb) => Array.from({ length: kb.chunks }, (_, i) => kb.firstSeed + i));
      const asked = Array.from({ length: QUERIES }, (_, i) => seeds[Math.floor(((i + 0.5) * seeds.length) / QUERIES)]!);
      const questions = asked.map((seed) => corpus.question(seed));
      const vectors = questions.map((q) => embedder.embedOne(q));
      const kbIds = kbs.map((kb) => kb.id);
      const truth: number[][] = [];
      for (const v of vectors) truth.push(await exactTopK(database, kbIds, v, K));
      return { kbIds, seeds: asked, questions, vectors, truth };
    };
    const leg = async (a: Asked, opts: VectorSearchOptions): Promise<Measured> => {
      const { times, results } = await timed(QUERIES, (i) => vectorSearch(database.db, { kbIds: a.kbIds, dimensions: 384 }, a.vectors[i]!, opts));
      const recall = results.reduce((sum, r, i) => sum + r.rows.slice(0, K).filter((x) => a.truth[i]!.includes(x.id)).length / K, 0) / QUERIES;
      return { p50: quantile(times, 0.5), p95: quantile(times, 0.95), recall, rows: results.reduce((sum, r) => sum + r.rows.length, 0) / QUERIES, plan: [...new Set(results.map((r) => r.plan))].join('/') };
    };

    const everything = await ask(layout.kbs);
    const baseline = await leg(everything, { limit: K, exactThreshold: Infinity });
    const row = (name: string, m: Measured) =>
      console.log(
        `${name.padEnd(42)} recall@10 ${m.recall === undefined ? '    -' : m.recall.toFixed(3)}  rows ${(m.rows ?? K).toFixed(1).padStart(4)}  p50 ${ms(m.p50).padStart(7)}  p95 ${ms(m.p95).padStart(7)}  ratio ${(m.p50 / baseline.p50).toFixed(2)}×`,
      );
    console.log(`\nvector leg over all ${TOTAL.toLocaleString('en')} chunks, ${QUERIES} questions, top ${K}; ratio = p50 / p50 of the exact full scan`);
    row('exact full scan (baseline)', baseline);
    for (const ef of [40, 80, 160]) row(`HNSW, ef_search ${ef}`, await leg(everything, { limit: K, exactThreshold: 0, efSearch: ef }));

    console.log(`\nhybridSearch, k = ${K}, default threshold (${DEFAULT_EXACT_THRESHOLD.toLocaleString('en')}); found = share of questions whose own chunk is in the top ${K}`);
    const small = layout.kbs.find((kb) => kb.chunks === SIZES[0])!;
    const cases: [string, Asked, { textBudget?: number }][] = [
      [`all ${TOTAL.toLocaleString('en')} chunks, every text match ranked`, everything, { textBudget: Infinity }],
      ...[500, 1000].map((budget): [string, Asked, { textBudget?: number }] => [`all ${TOTAL.toLocaleString('en')} chunks, text leg ~${budget.toLocaleString('en')} rows`, everything, { textBudget: budget }]),
      [`all ${TOTAL.toLocaleString('en')} chunks (default: text leg ~${TEXT_LEG_BUDGET.toLocaleString('en')} rows)`, everything, {}],
      [`1 % knowledge base (${small.chunks.toLocaleString('en')} chunks)`, await ask([small]), {}],
    ];
    for (const [name, a, extra] of cases) {
      const { times, results } = await timed(QUERIES, (i) => hybridSearch(database.db, { kbIds: a.kbIds, dimensions: 384, languages: ['english'] }, { text: a.questions[i]!, vector: a.vectors[i]! }, { k: K, ...extra }));
      const plan = [...new Set(results.map((r) => r.plan))].join('/');
      const found = results.filter((r, i) => r.hits.some((h) => h.content === corpus.chunk(a.seeds[i]!))).length / QUERIES;
      console.log(`${name.padEnd(52)} plan ${plan.padEnd(5)}  found ${found.toFixed(2)}  p50 ${ms(quantile(times, 0.5)).padStart(7)}  p95 ${ms(quantile(times, 0.95)).padStart(7)}  ratio ${(quantile(times, 0.5) / baseline.p50).toFixed(2)}×`);
    }

    console.log(`\nvector leg by knowledge-base size (of ${TOTAL.toLocaleString('en')} chunks): exact scan vs HNSW (relaxed order, default ef_search)`);
    for (const n of SIZES) {
      const a = await ask([layout.kbs.find((x) => x.chunks === n)!]);
      row(`${n.toLocaleString('en')} chunks, exact`, await leg(a, { limit: K, exactThreshold: Infinity }));
      row(`${n.toLocaleString('en')} chunks, HNSW`, await leg(a, { limit: K, exactThreshold: 0 }));
      if (n === SIZES[0]) row(`${n.toLocaleString('en')} chunks, HNSW, iterative scan off`, await leg(a, { limit: K, exactThreshold: 0, iterativeScan: 'off' }));
    }
  } finally {
    await database.close();
  }
}
