import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../platform/db/client';
import { rowsOf } from '../../platform/db/migrate';

export interface SearchHit {
  chunkId: number;
  kbId: string;
  entryId: string;
  entryTitle: string;
  revisionId: string;
  revisionNumber: number;
  ordinal: number;
  headingPath: string[];
  content: string;
  /** Reciprocal-rank fusion of the two legs (higher is better). */
  score: number;
  vectorRank: number | null;
  textRank: number | null;
}

export interface SearchScope {
  kbIds: string[];
  dimensions: number;
  languages: string[];
}

export interface SearchOptions {
  k: number;
  /** Below this many chunks in the searched knowledge bases the vector leg scans exactly (DESIGN.md, "Retrieval plans"). */
  exactThreshold?: number;
  /**
   * With the HNSW plan, about how many chunks the full-text leg may rank (see textLexemes); by
   * default TEXT_LEG_BUDGET. Infinity ranks every match.
   */
  textBudget?: number;
}

export type VectorPlan = 'exact' | 'hnsw';

export interface VectorSearchOptions {
  /** How many nearest chunks (of current revisions) to return. */
  limit: number;
  /** As in SearchOptions: 0 forces HNSW, Infinity forces the exact scan. */
  exactThreshold?: number;
  /** hnsw.ef_search for the HNSW plan; by default twice the limit, at least 40. */
  efSearch?: number;
  /**
   * hnsw.iterative_scan for the HNSW plan. `off` exists for measurements and tests only: with a
   * knowledge-base filter it returns fewer rows than asked for.
   */
  iterativeScan?: 'off' | 'relaxed_order' | 'strict_order';
}

export interface VectorSearchResult {
  rows: { id: number; distance: number }[];
  plan: VectorPlan;
}

/**
 * Any of the question's lexemes, in one language: its words stemmed and stop words dropped by that
 * text-search configuration, joined with OR. A question is rarely worded like the passage that
 * answers it, so requiring every word (websearch_to_tsquery's AND) finds nothing for most
 * questions; ts_rank then prefers the chunks that hold more of them, more often. Each lexeme is
 * quoted for tsquery input, so no operator in the question reaches the parser.
 */
function anyLexeme(lang: string, text: string): SQL {
  return sql`(SELECT coalesce(string_agg('''' || replace(replace(l, ${'\\'}, ${'\\\\'}), '''', '''''') || '''', ' | '), '')::tsquery
    FROM unnest(tsvector_to_array(to_tsvector(${lang}::regconfig, ${text}))) AS l)`;
}

/** Any of these lexemes (already stemmed: cast, never parsed again). */
function anyOf(lexemes: string[]): SQL {
  if (lexemes.length === 0) return sql`''::tsquery`;
  return sql`(SELECT string_agg('''' || replace(replace(l, ${'\\'}, ${'\\\\'}), '''', '''''') || '''', ' | ')::tsquery
    FROM unnest(${sql`ARRAY[${sql.join(lexemes.map((l) => sql`${l}::text`), sql`, `)}]`}) AS l)`;
}

/**
 * About how many chunks the full-text leg ranks over a large knowledge base (the HNSW plan).
 * Matching any word of a question finds most of a big table (~15k of 100k chunks for a typical
 * one, bench/README.md), and ranking them all was most of the search time.
 */
export const TEXT_LEG_BUDGET = 2_000;

/** How often each lexeme occurs in kb_chunks.tsv, from PostgreSQL's statistics (ANALYZE); refreshed every few minutes. */
interface LexemeStats {
  at: number;
  rows: number;
  freq: Map<string, number>;
  /** Lexemes not among the most common occur at most this often. */
  rare: number;
}
const STATS_TTL_MS = 5 * 60_000;
const statsCache = new WeakMap<object, LexemeStats>();

/** Cached per database handle; read inside the caller's transaction (PGlite has a single connection). */
async function lexemeStats(db: Db, tx: Executor): Promise<LexemeStats> {
  const cached = statsCache.get(db);
  if (cached && Date.now() - cached.at < STATS_TTL_MS) return cached;
  const [row] = rowsOf<{ elems: string[] | null; freqs: number[] | null; rows: number | null }>(
    await tx.execute(sql`SELECT s.most_common_elems::text::text[] AS elems, s.most_common_elem_freqs AS freqs,
        (SELECT reltuples FROM pg_class WHERE oid = 'kb_chunks'::regclass) AS rows
      FROM (SELECT 1) one LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = 'kb_chunks' AND s.attname = 'tsv'`),
  );
  const elems = row?.elems ?? [];
  const freqs = (row?.freqs ?? []).map(Number);
  const freq = new Map(elems.map((e, i) => [e, freqs[i] ?? 0]));
  // The array ends with the minimum and maximum frequency and the share of nulls.
  const stats = { at: Date.now(), rows: Math.max(Number(row?.rows ?? 0), 0), freq, rare: freqs.length > elems.length ? freqs[elems.length]! : 0 };
  // Until ANALYZE has run there is nothing to keep; the next large search looks again.
  if (freq.size > 0) statsCache.set(db, stats);
  return stats;
}

/**
 * The question's lexemes the text leg of a large search matches: the rarest first, as many as fit
 * the budget by their estimated matches (frequency × rows), always at least one. The commonest
 * words of the collection then stop deciding which chunks are candidates; chunks the vector leg
 * found are still scored on every lexeme in the fusion. Without statistics (no ANALYZE yet, or a
 * table smaller than the budget) every lexeme is kept (undefined).
 */
export function chooseLexemes(lexemes: string[], stats: Pick<LexemeStats, 'rows' | 'freq' | 'rare'>, budget: number): string[] | undefined {
  if (!Number.isFinite(budget) || stats.freq.size === 0 || stats.rows <= budget) return undefined;
  const ranked = [...new Set(lexemes)].map((l) => ({ l, rows: (stats.freq.get(l) ?? stats.rare) * stats.rows })).sort((a, b) => a.rows - b.rows || (a.l < b.l ? -1 : 1));
  const kept: string[] = [];
  let total = 0;
  for (const { l, rows } of ranked) {
    if (kept.length > 0 && total + rows > budget) break;
    kept.push(l);
    total += rows;
  }
  return kept;
}

async function textLexemes(tx: Executor, db: Db, lang: string, text: string, budget: number): Promise<string[] | undefined> {
  if (!Number.isFinite(budget)) return undefined;
  const stats = await lexemeStats(db, tx);
  if (stats.freq.size === 0 || stats.rows <= budget) return undefined;
  const lexemes = rowsOf<{ l: string }>(await tx.execute(sql`SELECT unnest(tsvector_to_array(to_tsvector(${lang}::regconfig, ${text}))) AS l`)).map((r) => r.l);
  return chooseLexemes(lexemes, stats, budget);
}

/** What the legs need of a transaction (drizzle's transaction and database types differ). */
type Executor = Pick<Db, 'execute'>;

const RRF_K = 60;
/**
 * Measured by bench/retrieval.ts (bench/README.md): an exact scan costs ~3 µs a row here, so it is
 * faster than HNSW up to about 5–10k chunks; above that HNSW is faster.
 */
export const DEFAULT_EXACT_THRESHOLD = 10_000;

/** pgvector's text form; only numbers reach SQL. */
const vectorLiteral = (v: number[]) => `[${v.map((x) => (Number.isFinite(x) ? x : 0)).join(',')}]`;

const kbIdArray = (kbIds: string[]) => sql`ARRAY[${sql.join(kbIds.map((id) => sql`${id}::uuid`), sql`, `)}]`;

/**
 * The plan for the vector leg. Counting stops at the threshold: only "fewer or not" matters, and a
 * full count of a large knowledge base would cost as much as the search itself.
 */
async function choosePlan(tx: Executor, ids: SQL, d: number, threshold: number): Promise<VectorPlan> {
  if (!(threshold > 0)) return 'hnsw';
  if (!Number.isFinite(threshold)) return 'exact';
  const [count] = rowsOf<{ n: number }>(
    await tx.execute(sql`SELECT count(*)::int AS n FROM (
        SELECT 1 FROM kb_chunks WHERE kb_id = ANY(${ids}) AND embedding_dimensions = ${d} LIMIT ${Math.ceil(threshold)}) searched`),
  );
  return Number(count?.n ?? 0) < threshold ? 'exact' : 'hnsw';
}

/** Exact cosine distances over the current revisions of these knowledge bases (a MATERIALIZED CTE keeps any index out). */
async function exactRows(tx: Executor, kbIds: string[], d: number, q: string, type: SQL, limit: number): Promise<{ id: number; distance: number }[]> {
  return rowsOf<{ id: number; distance: number }>(
    await tx.execute(sql`WITH candidates AS MATERIALIZED (
        SELECT c.id, c.embedding FROM kb_chunks c
        JOIN kb_entries e ON e.id = c.entry_id AND e.current_revision_id = c.revision_id
        JOIN knowledge_bases k ON k.id = c.kb_id AND k.embedding_model = c.embedding_model
        WHERE c.kb_id = ANY(${kbIdArray(kbIds)}) AND c.embedding_dimensions = ${d})
      SELECT id, (embedding::${type}) <=> ${q}::${type} AS distance FROM candidates ORDER BY 2, id LIMIT ${limit}`),
  );
}

/**
 * The vector leg inside the caller's transaction (its SET LOCALs end with it). Only knowledge
 * bases whose chunks are all in the HNSW index ('ready', see knowledge_bases.vector_index) can take
 * the HNSW plan, and only when they are large enough; any others searched with them are scanned
 * exactly, and the two lists merged by distance.
 */
async function vectorLeg(tx: Executor, kbIds: string[], d: number, vector: number[], opts: VectorSearchOptions): Promise<VectorSearchResult> {
  if (!Number.isInteger(d) || d < 1 || d > 4000) throw new Error(`unsupported dimensions ${d}`);
  const limit = Math.min(Math.max(Math.floor(opts.limit), 1), 1000);
  const q = vectorLiteral(vector);
  const type = sql.raw(d > 2000 ? `halfvec(${d})` : `vector(${d})`);
  const ready = rowsOf<{ id: string }>(await tx.execute(sql`SELECT id FROM knowledge_bases WHERE id = ANY(${kbIdArray(kbIds)}) AND vector_index = 'ready'`)).map((r) => r.id);
  const plan = ready.length > 0 ? await choosePlan(tx, kbIdArray(ready), d, opts.exactThreshold ?? DEFAULT_EXACT_THRESHOLD) : 'exact';
  if (plan === 'exact') {
    const rows = await exactRows(tx, kbIds, d, q, type, limit);
    return { rows: rows.map((r) => ({ id: Number(r.id), distance: Number(r.distance) })), plan };
  }
  const ef = Math.min(Math.max(Math.floor(opts.efSearch ?? Math.max(40, limit * 2)), 1), 1000);
  const iterative = opts.iterativeScan ?? 'relaxed_order';
  if (!['off', 'relaxed_order', 'strict_order'].includes(iterative)) throw new Error(`unsupported iterative scan ${iterative}`);
  await tx.execute(sql.raw(`SET LOCAL hnsw.ef_search = ${ef}`));
  await tx.execute(sql.raw(`SET LOCAL hnsw.iterative_scan = ${iterative}`));
  // Steer the planner to the HNSW index rather than scanning the knowledge bases' rows.
  await tx.execute(sql`SET LOCAL enable_seqscan = off`);
  await tx.execute(sql`SET LOCAL enable_bitmapscan = off`);
  // Over-fetch through the index, then re-rank exactly: relaxed order is only approximately sorted,
  // and some of what the index finds belongs to retired revisions. The knowledge-base filter is
  // compared as text so that it cannot use kb_chunks_kb_idx: with that btree available the planner
  // quietly turns this into an exact scan of small knowledge bases, and the plan would not be the
  // one chosen here. `in_vector_index` is the partial index's predicate. Only vectors of the knowledge
  // base's current model count (a re-index to another model of the same size is under way).
  const indexed = rowsOf<{ id: number; distance: number }>(
    await tx.execute(sql`SELECT hits.id, hits.distance FROM (
        SELECT c.id, (c.embedding::${type}) <=> ${q}::${type} AS distance FROM kb_chunks c
        WHERE c.embedding_dimensions = ${d} AND c.in_vector_index AND c.kb_id::text = ANY(${sql`ARRAY[${sql.join(ready.map((id) => sql`${id}::uuid::text`), sql`, `)}]`})
        ORDER BY (c.embedding::${type}) <=> ${q}::${type} LIMIT ${limit * 4}) hits
      JOIN kb_chunks c2 ON c2.id = hits.id
      JOIN kb_entries e ON e.id = c2.entry_id AND e.current_revision_id = c2.revision_id
      JOIN knowledge_bases k ON k.id = c2.kb_id AND k.embedding_model = c2.embedding_model
      ORDER BY hits.distance, hits.id LIMIT ${limit}`),
  );
  // The steering is for this statement only: the exact scan and the full-text leg need their own plans.
  await tx.execute(sql`SET LOCAL enable_seqscan = DEFAULT`);
  await tx.execute(sql`SET LOCAL enable_bitmapscan = DEFAULT`);
  const others = kbIds.filter((id) => !ready.includes(id));
  const rows = others.length > 0 ? [...indexed, ...(await exactRows(tx, others, d, q, type, limit))] : indexed;
  const merged = rows.map((r) => ({ id: Number(r.id), distance: Number(r.distance) })).sort((a, b) => a.distance - b.distance || a.id - b.id);
  return { rows: merged.slice(0, limit), plan };
}

/**
 * The vector leg of hybridSearch on its own, in a transaction of its own: the nearest chunks of the
 * knowledge bases' current revisions by cosine distance, with the same plan choice. For
 * measurements (recall against an exact scan, bench/retrieval.ts) and callers that want only it.
 */
export async function vectorSearch(db: Db, scope: Pick<SearchScope, 'kbIds' | 'dimensions'>, vector: number[], opts: VectorSearchOptions): Promise<VectorSearchResult> {
  if (scope.kbIds.length === 0) return { rows: [], plan: 'exact' };
  return db.transaction((tx) => vectorLeg(tx, scope.kbIds, scope.dimensions, vector, opts));
}

/**
 * Hybrid search over the current revisions of some knowledge bases: a vector leg (cosine distance on
 * `embedding::vector(N)`, the indexed expression) and a full-text leg (any of the question's
 * lexemes in each knowledge base's language, see anyLexeme), fused by reciprocal rank over the
 * candidates of both. The vector plan is chosen by size and
 * forced, never left to the planner: an exact scan of the searched rows when they are few (a
 * MATERIALIZED CTE keeps HNSW out), HNSW with an iterative scan, over-fetch and exact re-rank above
 * that. Settings are SET LOCAL inside the transaction, so nothing leaks through PgBouncer.
 */
export async function hybridSearch(db: Db, scope: SearchScope, query: { text: string; vector: number[] }, opts: SearchOptions): Promise<{ hits: SearchHit[]; plan: VectorPlan }> {
  const { kbIds, dimensions: d } = scope;
  if (kbIds.length === 0 || !query.text.trim()) return { hits: [], plan: 'exact' };
  if (!Number.isInteger(d) || d < 1 || d > 4000) throw new Error(`unsupported dimensions ${d}`);
  const k = Math.min(Math.max(opts.k, 1), 100);
  const fetch = k * 4;
  const ids = kbIdArray(kbIds);

  return db.transaction(async (tx) => {
    const { rows: vectorRows, plan } = await vectorLeg(tx, kbIds, d, query.vector, { limit: fetch, exactThreshold: opts.exactThreshold });
    const languages = [...new Set(scope.languages)];
    // Over a large search (the HNSW plan) the text leg's candidates come from the rarer lexemes
    // only; the scoring below still uses every lexeme.
    const bounded = new Map<string, string[] | undefined>();
    if (plan === 'hnsw') for (const lang of languages) bounded.set(lang, await textLexemes(tx, db, lang, query.text, opts.textBudget ?? TEXT_LEG_BUDGET));
    const legQuery = (lang: string) => {
      const kept = bounded.get(lang);
      return kept ? anyOf(kept) : anyLexeme(lang, query.text);
    };
    const legMatch = sql.join(
      languages.map((lang) => sql`(c.language = ${lang}::regconfig AND c.tsv @@ ${legQuery(lang)})`),
      sql` OR `,
    );
    const legRank = sql`ts_rank(c.tsv, CASE ${sql.join(
      languages.map((lang) => sql`WHEN c.language = ${lang}::regconfig THEN ${legQuery(lang)}`),
      sql` `,
    )} END, 1)`;
    const match = sql.join(
      languages.map((lang) => sql`(c.language = ${lang}::regconfig AND c.tsv @@ ${anyLexeme(lang, query.text)})`),
      sql` OR `,
    );
    const rank = sql`ts_rank(c.tsv, CASE ${sql.join(
      languages.map((lang) => sql`WHEN c.language = ${lang}::regconfig THEN ${anyLexeme(lang, query.text)}`),
      sql` `,
    )} END, 1)`;
    // Any-word matching finds a large share of a big table; when the searched knowledge bases are
    // small (the exact vector plan), testing their own rows is cheaper than visiting every match
    // the GIN index finds in all the others, so the text leg follows the same size decision.
    const textRows = rowsOf<{ id: number }>(
      await tx.execute(
        plan === 'exact'
          ? sql`WITH c AS MATERIALIZED (SELECT c.id, c.entry_id, c.revision_id, c.language, c.tsv FROM kb_chunks c WHERE c.kb_id = ANY(${ids}))
              SELECT c.id FROM c JOIN kb_entries e ON e.id = c.entry_id AND e.current_revision_id = c.revision_id
              WHERE ${match} ORDER BY ${rank} DESC, c.id LIMIT ${fetch}`
          : sql`SELECT c.id FROM kb_chunks c
              JOIN kb_entries e ON e.id = c.entry_id AND e.current_revision_id = c.revision_id
              WHERE c.kb_id = ANY(${ids}) AND (${legMatch})
              ORDER BY ${legRank} DESC, c.id LIMIT ${fetch}`,
      ),
    );

    // Each leg returns only its first `fetch` chunks, and a chunk missing from one list would count as
    // ranked last there: a passage first in full text but 13th by distance would lose to any chunk
    // both lists hold, however low. So every candidate either leg found is scored in both (its
    // exact distance, its text rank, by primary key: as many rows as the two lists), ranked among
    // the candidates, and those ranks are fused. A chunk the text query does not match has no text
    // rank; one whose vector is not of the knowledge base's current model has no vector rank, as in the vector leg.
    const pool = [...new Set([...vectorRows.map((r) => r.id), ...textRows.map((r) => Number(r.id))])];
    const type = sql.raw(d > 2000 ? `halfvec(${d})` : `vector(${d})`);
    const scored =
      pool.length === 0
        ? []
        : rowsOf<{ id: number; distance: number | null; rank: number | null }>(
            await tx.execute(sql`SELECT c.id,
                CASE WHEN c.embedding_dimensions = ${d} AND c.embedding_model = k.embedding_model THEN (c.embedding::${type}) <=> ${vectorLiteral(query.vector)}::${type} END AS distance,
                CASE WHEN ${match} THEN ${rank} END AS rank
              FROM kb_chunks c JOIN knowledge_bases k ON k.id = c.kb_id WHERE c.id = ANY(${sql`ARRAY[${sql.join(pool.map((id) => sql`${id}::bigint`), sql`, `)}]`})`),
          ).map((r) => ({ id: Number(r.id), distance: r.distance === null ? null : Number(r.distance), rank: r.rank === null ? null : Number(r.rank) }));
    const fused = new Map<number, { score: number; vectorRank: number | null; textRank: number | null }>(pool.map((id) => [id, { score: 0, vectorRank: null, textRank: null }]));
    scored
      .filter((r) => r.distance !== null)
      .sort((a, b) => a.distance! - b.distance! || a.id - b.id)
      .forEach((r, i) => {
        const f = fused.get(r.id)!;
        f.score += 1 / (RRF_K + i + 1);
        f.vectorRank = i + 1;
      });
    scored
      .filter((r) => r.rank !== null)
      .sort((a, b) => b.rank! - a.rank! || a.id - b.id)
      .forEach((r, i) => {
        const f = fused.get(r.id)!;
        f.score += 1 / (RRF_K + i + 1);
        f.textRank = i + 1;
      });
    const top = [...fused.entries()].filter(([, f]) => f.score > 0).sort((a, b) => b[1].score - a[1].score || a[0] - b[0]).slice(0, k);
    if (top.length === 0) return { hits: [], plan };
    const details = rowsOf<{ id: number; kb_id: string; entry_id: string; title: string; revision_id: string; number: number; ordinal: number; metadata: { headingPath?: string[] }; content: string }>(
      await tx.execute(sql`SELECT c.id, c.kb_id, c.entry_id, e.title, c.revision_id, r.number, c.ordinal, c.metadata, c.content
        FROM kb_chunks c JOIN kb_entries e ON e.id = c.entry_id JOIN kb_revisions r ON r.id = c.revision_id
        WHERE c.id = ANY(${sql`ARRAY[${sql.join(top.map(([id]) => sql`${id}::bigint`), sql`, `)}]`})`),
    );
    const byId = new Map(details.map((r) => [Number(r.id), r]));
    const hits = top.flatMap(([id, f]) => {
      const r = byId.get(id);
      if (!r) return [];
      return [{ chunkId: id, kbId: r.kb_id, entryId: r.entry_id, entryTitle: r.title, revisionId: r.revision_id, revisionNumber: r.number, ordinal: r.ordinal, headingPath: r.metadata?.headingPath ?? [], content: r.content, ...f }];
    });
    return { hits, plan };
  });
}
