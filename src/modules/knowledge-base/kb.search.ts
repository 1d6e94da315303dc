import { sql } from 'drizzle-orm';
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
}

const RRF_K = 60;
const DEFAULT_EXACT_THRESHOLD = 20_000;

/** pgvector's text form; only numbers reach SQL. */
const vectorLiteral = (v: number[]) => `[${v.map((x) => (Number.isFinite(x) ? x : 0)).join(',')}]`;

/**
 * Hybrid search over the current revisions of some knowledge bases: a vector leg (cosine distance on
 * `embedding::vector(N)`, the indexed expression) and a full-text leg (websearch syntax in each
 * knowledge base's language), fused by reciprocal rank. The vector plan is chosen by size and
 * forced, never left to the planner: an exact scan of the searched rows when they are few (a
 * MATERIALIZED CTE keeps HNSW out), HNSW with an iterative scan, over-fetch and exact re-rank above
 * that. Settings are SET LOCAL inside the transaction, so nothing leaks through PgBouncer.
 */
export async function hybridSearch(db: Db, scope: SearchScope, query: { text: string; vector: number[] }, opts: SearchOptions): Promise<{ hits: SearchHit[]; plan: 'exact' | 'hnsw' }> {
  const { kbIds, dimensions: d } = scope;
  if (kbIds.length === 0 || !query.text.trim()) return { hits: [], plan: 'exact' };
  if (!Number.isInteger(d) || d < 1 || d > 4000) throw new Error(`unsupported dimensions ${d}`);
  const k = Math.min(Math.max(opts.k, 1), 100);
  const fetch = k * 4;
  const q = vectorLiteral(query.vector);
  const type = sql.raw(d > 2000 ? `halfvec(${d})` : `vector(${d})`);
  const ids = sql`ARRAY[${sql.join(kbIds.map((id) => sql`${id}::uuid`), sql`, `)}]`;

  return db.transaction(async (tx) => {
    const [count] = rowsOf<{ n: number }>(await tx.execute(sql`SELECT count(*)::int AS n FROM kb_chunks WHERE kb_id = ANY(${ids}) AND embedding_dimensions = ${d}`));
    const plan = Number(count?.n ?? 0) < (opts.exactThreshold ?? DEFAULT_EXACT_THRESHOLD) ? 'exact' : 'hnsw';
    let vectorRows: { id: number }[];
    if (plan === 'exact') {
      vectorRows = rowsOf<{ id: number }>(
        await tx.execute(sql`WITH candidates AS MATERIALIZED (
            SELECT c.id, c.embedding FROM kb_chunks c
            JOIN kb_entries e ON e.id = c.entry_id AND e.current_revision_id = c.revision_id
            WHERE c.kb_id = ANY(${ids}) AND c.embedding_dimensions = ${d})
          SELECT id FROM candidates ORDER BY (embedding::${type}) <=> ${q}::${type} LIMIT ${fetch}`),
      );
    } else {
      await tx.execute(sql.raw(`SET LOCAL hnsw.ef_search = ${Math.max(40, fetch * 2)}`));
      await tx.execute(sql`SET LOCAL hnsw.iterative_scan = relaxed_order`);
      // Steer the planner to the HNSW index rather than scanning the knowledge bases' rows.
      await tx.execute(sql`SET LOCAL enable_seqscan = off`);
      await tx.execute(sql`SET LOCAL enable_bitmapscan = off`);
      // Over-fetch through the index, then re-rank exactly: relaxed order is only approximately sorted.
      vectorRows = rowsOf<{ id: number }>(
        await tx.execute(sql`SELECT hits.id FROM (
            SELECT c.id, (c.embedding::${type}) <=> ${q}::${type} AS distance FROM kb_chunks c
            WHERE c.embedding_dimensions = ${d} AND c.kb_id = ANY(${ids})
            ORDER BY (c.embedding::${type}) <=> ${q}::${type} LIMIT ${fetch * 4}) hits
          JOIN kb_chunks c2 ON c2.id = hits.id
          JOIN kb_entries e ON e.id = c2.entry_id AND e.current_revision_id = c2.revision_id
          ORDER BY hits.distance LIMIT ${fetch}`),
      );
    }
    const languages = [...new Set(scope.languages)];
    const match = sql.join(
      languages.map((lang) => sql`(c.language = ${lang}::regconfig AND c.tsv @@ websearch_to_tsquery(${lang}::regconfig, ${query.text}))`),
      sql` OR `,
    );
    const textRows = rowsOf<{ id: number }>(
      await tx.execute(sql`SELECT c.id FROM kb_chunks c
        JOIN kb_entries e ON e.id = c.entry_id AND e.current_revision_id = c.revision_id
        WHERE c.kb_id = ANY(${ids}) AND (${match})
        ORDER BY ts_rank_cd(c.tsv, websearch_to_tsquery(c.language, ${query.text})) DESC, c.id LIMIT ${fetch}`),
    );

    const fused = new Map<number, { score: number; vectorRank: number | null; textRank: number | null }>();
    vectorRows.forEach((r, i) => fused.set(Number(r.id), { score: 1 / (RRF_K + i + 1), vectorRank: i + 1, textRank: null }));
    textRows.forEach((r, i) => {
      const f = fused.get(Number(r.id)) ?? { score: 0, vectorRank: null, textRank: null };
      f.score += 1 / (RRF_K + i + 1);
      f.textRank = i + 1;
      fused.set(Number(r.id), f);
    });
    const top = [...fused.entries()].sort((a, b) => b[1].score - a[1].score || a[0] - b[0]).slice(0, k);
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
