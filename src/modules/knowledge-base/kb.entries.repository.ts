import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../../platform/db/client';
import { rowsOf } from '../../platform/db/migrate';
import { kbChunks, kbEntries, kbJobs, kbRevisions, knowledgeBases } from './kb.schema';

export type EntryRow = typeof kbEntries.$inferSelect;
export type RevisionRow = typeof kbRevisions.$inferSelect;
export type JobRow = typeof kbJobs.$inferSelect;
/** A revision without its (possibly large) content and original; whether it holds the original's bytes itself. */
export type RevisionSummary = Omit<RevisionRow, 'content' | 'original'> & { hasOriginal: boolean };
/** A revision with its content, still without the original's bytes. */
export type RevisionWithContent = RevisionSummary & { content: string };

export interface EntryListRow extends EntryRow {
  currentNumber: number | null;
  latest: { number: number; status: RevisionRow['status']; error: string | null; format: string; sizeBytes: number; tokenCount: number } | null;
}

export interface NewRevision {
  content: string;
  contentHash: string;
  sizeBytes: number;
  tokenCount: number;
  format: string;
  authorId: string | null;
  original: Buffer | null;
  originalRevisionId?: string | null;
  originalName: string | null;
  mimeType: string | null;
  sourceUrl: string | null;
  restoredFrom?: number | null;
  reindex?: boolean;
}

export interface ChunkInsert {
  ordinal: number;
  content: string;
  tokenCount: number;
  metadata: { headingPath: string[]; start: number; end: number };
  embedding: number[];
}

const summaryColumns = {
  id: kbRevisions.id,
  entryId: kbRevisions.entryId,
  number: kbRevisions.number,
  contentHash: kbRevisions.contentHash,
  sizeBytes: kbRevisions.sizeBytes,
  tokenCount: kbRevisions.tokenCount,
  status: kbRevisions.status,
  error: kbRevisions.error,
  format: kbRevisions.format,
  sourceUrl: kbRevisions.sourceUrl,
  restoredFrom: kbRevisions.restoredFrom,
  reindex: kbRevisions.reindex,
  authorId: kbRevisions.authorId,
  originalName: kbRevisions.originalName,
  originalRevisionId: kbRevisions.originalRevisionId,
  hasOriginal: sql<boolean>`(${kbRevisions.original} IS NOT NULL)`.as('has_original'),
  mimeType: kbRevisions.mimeType,
  createdAt: kbRevisions.createdAt,
};
const withContent = { ...summaryColumns, content: kbRevisions.content };

/** Entries, revisions, chunks and jobs: the only place that touches those tables. */
export class KbEntriesRepository {
  constructor(readonly db: Db) {}

  transaction<T>(fn: (repo: KbEntriesRepository) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new KbEntriesRepository(tx as unknown as Db)));
  }

  async findEntry(kbId: string, entryId: string): Promise<EntryRow | undefined> {
    const [row] = await this.db.select().from(kbEntries).where(and(eq(kbEntries.id, entryId), eq(kbEntries.kbId, kbId))).limit(1);
    return row;
  }

  /** Locks the entry row: revision numbers and the current pointer change one writer at a time. */
  async findEntryByTitle(kbId: string, title: string): Promise<EntryRow | undefined> {
    const [row] = await this.db.select().from(kbEntries).where(and(eq(kbEntries.kbId, kbId), eq(kbEntries.title, title))).orderBy(asc(kbEntries.createdAt)).limit(1);
    return row;
  }

  async lockEntry(entryId: string): Promise<EntryRow | undefined> {
    const [row] = await this.db.select().from(kbEntries).where(eq(kbEntries.id, entryId)).for('update').limit(1);
    return row;
  }

  async insertEntry(values: { kbId: string; title: string; sourceType: 'upload' | 'text' | 'url'; createdBy: string | null }): Promise<EntryRow> {
    const [row] = await this.db.insert(kbEntries).values(values).returning();
    return row!;
  }

  async updateEntryTitle(entryId: string, title: string): Promise<EntryRow> {
    const [row] = await this.db.update(kbEntries).set({ title, updatedAt: new Date() }).where(eq(kbEntries.id, entryId)).returning();
    return row!;
  }

  async deleteEntry(entryId: string): Promise<void> {
    await this.db.delete(kbEntries).where(eq(kbEntries.id, entryId));
  }

  async listEntries(kbId: string, opts: { limit: number; offset: number }): Promise<{ rows: EntryListRow[]; total: number }> {
    const entries = await this.db.select().from(kbEntries).where(eq(kbEntries.kbId, kbId)).orderBy(desc(kbEntries.updatedAt), kbEntries.id).limit(opts.limit).offset(opts.offset);
    const [count] = await this.db.select({ n: sql<number>`count(*)::int` }).from(kbEntries).where(eq(kbEntries.kbId, kbId));
    const ids = entries.map((e) => e.id);
    const latest = ids.length
      ? rowsOf<{ entry_id: string; number: number; status: RevisionRow['status']; error: string | null; format: string; size_bytes: number; token_count: number; current_number: number | null }>(
          await this.db.execute(sql`SELECT DISTINCT ON (r.entry_id) r.entry_id, r.number, r.status, r.error, r.format, r.size_bytes, r.token_count,
              (SELECT c.number FROM kb_revisions c JOIN kb_entries e ON e.current_revision_id = c.id WHERE e.id = r.entry_id) AS current_number
            FROM kb_revisions r WHERE r.entry_id = ANY(${sql`ARRAY[${sql.join(ids.map((id) => sql`${id}::uuid`), sql`, `)}]`})
            ORDER BY r.entry_id, r.number DESC`),
        )
      : [];
    const byEntry = new Map(latest.map((l) => [l.entry_id, l]));
    return {
      rows: entries.map((e) => {
        const l = byEntry.get(e.id);
        return { ...e, currentNumber: l?.current_number ?? null, latest: l ? { number: l.number, status: l.status, error: l.error, format: l.format, sizeBytes: l.size_bytes, tokenCount: l.token_count } : null };
      }),
      total: Number(count?.n ?? 0),
    };
  }

  async latestRevision(entryId: string): Promise<RevisionSummary | undefined> {
    const [row] = await this.db.select(summaryColumns).from(kbRevisions).where(eq(kbRevisions.entryId, entryId)).orderBy(desc(kbRevisions.number)).limit(1);
    return row;
  }

  async revisionById(id: string): Promise<RevisionSummary | undefined> {
    const [row] = await this.db.select(summaryColumns).from(kbRevisions).where(eq(kbRevisions.id, id)).limit(1);
    return row;
  }

  async listRevisions(entryId: string): Promise<RevisionSummary[]> {
    return this.db.select(summaryColumns).from(kbRevisions).where(eq(kbRevisions.entryId, entryId)).orderBy(desc(kbRevisions.number));
  }

  async revisionByNumber(entryId: string, number: number): Promise<RevisionWithContent | undefined> {
    const [row] = await this.db.select(withContent).from(kbRevisions).where(and(eq(kbRevisions.entryId, entryId), eq(kbRevisions.number, number))).limit(1);
    return row;
  }

  /** The uploaded bytes a revision holds (see kb_revisions.original_revision_id for copies). */
  async originalBytes(revisionId: string): Promise<Buffer | null> {
    const [row] = await this.db.select({ original: kbRevisions.original }).from(kbRevisions).where(eq(kbRevisions.id, revisionId)).limit(1);
    return row?.original ?? null;
  }

  async revisionContent(id: string): Promise<{ content: string; entryId: string; number: number } | undefined> {
    const [row] = await this.db.select({ content: kbRevisions.content, entryId: kbRevisions.entryId, number: kbRevisions.number }).from(kbRevisions).where(eq(kbRevisions.id, id)).limit(1);
    return row;
  }

  /** Inside a transaction holding the entry lock: the next number is then safe to take. */
  async insertRevision(entryId: string, values: NewRevision): Promise<RevisionSummary> {
    const [next] = rowsOf<{ n: number }>(await this.db.execute(sql`SELECT coalesce(max(number), 0)::int + 1 AS n FROM kb_revisions WHERE entry_id = ${entryId}`));
    const [row] = await this.db
      .insert(kbRevisions)
      .values({ entryId, number: next!.n, status: 'pending', ...values })
      .returning(summaryColumns);
    await this.db.update(kbEntries).set({ updatedAt: new Date() }).where(eq(kbEntries.id, entryId));
    return row!;
  }

  async insertJob(values: { kbId: string; entryId: string; revisionId: string; userId: string | null }): Promise<JobRow> {
    const [row] = await this.db.insert(kbJobs).values(values).returning();
    return row!;
  }

  async findJob(id: string): Promise<JobRow | undefined> {
    const [row] = await this.db.select().from(kbJobs).where(eq(kbJobs.id, id)).limit(1);
    return row;
  }

  async jobsOfRevisions(revisionIds: string[]): Promise<JobRow[]> {
    if (revisionIds.length === 0) return [];
    return this.db.select().from(kbJobs).where(inArray(kbJobs.revisionId, revisionIds)).orderBy(desc(kbJobs.createdAt));
  }

  /** Jobs of these users changed after `since` (the progress stream), oldest change first. */
  async jobsChangedSince(userIds: string[], since: Date): Promise<JobRow[]> {
    if (userIds.length === 0) return [];
    return this.db
      .select()
      .from(kbJobs)
      .where(and(inArray(kbJobs.userId, userIds), sql`${kbJobs.updatedAt} > ${since.toISOString()}::timestamptz`))
      .orderBy(asc(kbJobs.updatedAt))
      .limit(500);
  }

  /**
   * Claims the job for `owner` (a token of this one run) unless a live lease holds it; counts the
   * attempt. A job whose lease lapsed (its worker died or stalled) can be claimed again.
   */
  async claimJob(id: string, owner: string, leaseSeconds: number): Promise<JobRow | undefined> {
    const [row] = rowsOf<Record<string, unknown>>(
      await this.db.execute(sql`UPDATE kb_jobs SET status = 'running', lease_owner = ${owner}, lease_until = now() + make_interval(secs => ${leaseSeconds}),
          attempts = attempts + 1, started_at = coalesce(started_at, now()), updated_at = clock_timestamp()
        WHERE id = ${id} AND status IN ('queued', 'running') AND (lease_until IS NULL OR lease_until < now())
        RETURNING id`),
    );
    return row ? this.findJob(id) : undefined;
  }

  /** In a worker's transaction: the job is still this run's (not cancelled or taken over), held until commit. */
  async holdsJob(id: string, owner: string): Promise<boolean> {
    const rows = await this.db.select({ id: kbJobs.id }).from(kbJobs).where(and(eq(kbJobs.id, id), eq(kbJobs.leaseOwner, owner), eq(kbJobs.status, 'running'))).for('share');
    return rows.length === 1;
  }

  /** Renews the lease and records progress; false when the job was cancelled or taken over. */
  async heartbeat(id: string, owner: string, leaseSeconds: number, progress: { stage?: JobRow['stage']; done?: number; total?: number }): Promise<boolean> {
    const rows = await this.db
      .update(kbJobs)
      .set({
        leaseUntil: sql`now() + make_interval(secs => ${leaseSeconds})`,
        updatedAt: sql`clock_timestamp()`,
        ...(progress.stage ? { stage: progress.stage } : {}),
        ...(progress.done !== undefined ? { done: progress.done } : {}),
        ...(progress.total !== undefined ? { total: progress.total } : {}),
      })
      .where(and(eq(kbJobs.id, id), eq(kbJobs.leaseOwner, owner), eq(kbJobs.status, 'running')))
      .returning({ id: kbJobs.id });
    return rows.length === 1;
  }

  /** Gives the job back (shutdown, retryable failure): another worker may take it at once. */
  async releaseJob(id: string, owner: string, error?: string): Promise<void> {
    await this.db
      .update(kbJobs)
      .set({ status: 'queued', leaseOwner: null, leaseUntil: null, error: error ?? null, updatedAt: sql`clock_timestamp()` })
      .where(and(eq(kbJobs.id, id), eq(kbJobs.leaseOwner, owner), eq(kbJobs.status, 'running')));
  }

  /**
   * Jobs to send to the queue again: running ones whose worker stopped renewing its lease (crashed,
   * killed), and queued ones nothing has touched for `staleSeconds` (their queue message was lost:
   * a failed send after commit, a shutdown mid-job). Each comes back once per `staleSeconds`; a
   * duplicate delivery is harmless, since claiming is.
   */
  async takeOverLapsedJobs(staleSeconds: number, limit = 50): Promise<string[]> {
    const rows = rowsOf<{ id: string }>(
      await this.db.execute(sql`UPDATE kb_jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL, updated_at = clock_timestamp()
        WHERE id IN (SELECT id FROM kb_jobs
          WHERE (status = 'running' AND lease_until < now()) OR (status = 'queued' AND updated_at < now() - make_interval(secs => ${staleSeconds}))
          ORDER BY updated_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
        RETURNING id`),
    );
    return rows.map((r) => r.id);
  }

  async finishJob(id: string, values: { status: 'succeeded' | 'failed' | 'cancelled'; error?: string | null; owner?: string }): Promise<boolean> {
    const rows = await this.db
      .update(kbJobs)
      .set({ status: values.status, stage: values.status === 'succeeded' ? 'done' : sql`${kbJobs.stage}`, error: values.error ?? null, leaseOwner: null, leaseUntil: null, finishedAt: new Date(), updatedAt: sql`clock_timestamp()` })
      .where(and(eq(kbJobs.id, id), values.owner ? and(eq(kbJobs.leaseOwner, values.owner), eq(kbJobs.status, 'running')) : inArray(kbJobs.status, ['queued', 'running'])))
      .returning({ id: kbJobs.id });
    return rows.length === 1;
  }

  async setRevisionStatus(id: string, status: RevisionRow['status'], error: string | null = null, tokenCount?: number): Promise<void> {
    await this.db
      .update(kbRevisions)
      .set({ status, error, ...(tokenCount !== undefined ? { tokenCount } : {}) })
      .where(eq(kbRevisions.id, id));
  }

  async chunkOrdinals(revisionId: string): Promise<Set<number>> {
    const rows = await this.db.select({ ordinal: kbChunks.ordinal }).from(kbChunks).where(eq(kbChunks.revisionId, revisionId));
    return new Set(rows.map((r) => r.ordinal));
  }

  async countChunks(revisionId: string): Promise<number> {
    const [row] = await this.db.select({ n: sql<number>`count(*)::int` }).from(kbChunks).where(eq(kbChunks.revisionId, revisionId));
    return Number(row?.n ?? 0);
  }

  /**
   * Idempotent: a batch inserted again after a crash adds nothing (unique revision + ordinal). Run in
   * a transaction: the knowledge base row is read FOR SHARE, so a move into the HNSW index
   * (promoteToVectorIndex) waits for batches in flight and every later batch sees it.
   */
  async insertChunks(kb: { id: string; dimensions: number; model: string; language: string }, entryId: string, revisionId: string, chunks: ChunkInsert[]): Promise<number> {
    if (chunks.length === 0) return 0;
    const [state] = await this.db.select({ vectorIndex: knowledgeBases.vectorIndex }).from(knowledgeBases).where(eq(knowledgeBases.id, kb.id)).for('share');
    const inVectorIndex = (state?.vectorIndex ?? 'none') !== 'none';
    const rows = await this.db
      .insert(kbChunks)
      .values(chunks.map((c) => ({ kbId: kb.id, entryId, revisionId, ordinal: c.ordinal, content: c.content, tokenCount: c.tokenCount, metadata: c.metadata, embedding: c.embedding, embeddingDimensions: kb.dimensions, embeddingModel: kb.model, inVectorIndex, language: kb.language })))
      .onConflictDoNothing({ target: [kbChunks.revisionId, kbChunks.ordinal] })
      .returning({ id: kbChunks.id });
    return rows.length;
  }

  /** Whether the knowledge base holds at least `threshold` chunks (counting stops there). */
  async hasAtLeastChunks(kbId: string, threshold: number): Promise<boolean> {
    const [row] = rowsOf<{ n: number }>(await this.db.execute(sql`SELECT count(*)::int AS n FROM (SELECT 1 FROM kb_chunks WHERE kb_id = ${kbId} LIMIT ${threshold}) c`));
    return Number(row?.n ?? 0) >= threshold;
  }

  /**
   * Moves a knowledge base's chunks into the HNSW index: 'building' first (new batches go in from
   * then on; the row lock waits for batches in flight), then the existing chunks in slices, then
   * 'ready' once none is left out, when search may use the index for it. Promotions of one
   * knowledge base run one at a time (each slice locks its row); safe to run again after a crash.
   */
  async promoteToVectorIndex(kbId: string, slice = 2000): Promise<boolean> {
    const [started] = await this.db
      .update(knowledgeBases)
      .set({ vectorIndex: 'building' })
      .where(and(eq(knowledgeBases.id, kbId), inArray(knowledgeBases.vectorIndex, ['none', 'building'])))
      .returning({ id: knowledgeBases.id });
    if (!started) return false;
    for (;;) {
      const done = await this.db.transaction(async (tx) => {
        await tx.select({ id: knowledgeBases.id }).from(knowledgeBases).where(eq(knowledgeBases.id, kbId)).for('update');
        const moved = rowsOf<{ id: number }>(
          await tx.execute(sql`UPDATE kb_chunks SET in_vector_index = true WHERE id IN (
              SELECT id FROM kb_chunks WHERE kb_id = ${kbId} AND NOT in_vector_index LIMIT ${slice}) RETURNING id`),
        );
        if (moved.length > 0) return false;
        await tx.update(knowledgeBases).set({ vectorIndex: 'ready' }).where(and(eq(knowledgeBases.id, kbId), eq(knowledgeBases.vectorIndex, 'building')));
        return true;
      });
      if (done) return true;
    }
  }

  /** Only a pending revision becomes 'processing' (a cancelled one stays failed). */
  async markProcessing(revisionId: string): Promise<void> {
    await this.db.update(kbRevisions).set({ status: 'processing' }).where(and(eq(kbRevisions.id, revisionId), eq(kbRevisions.status, 'pending')));
  }

  async deleteChunksOfRevision(revisionId: string): Promise<void> {
    await this.db.delete(kbChunks).where(eq(kbChunks.revisionId, revisionId));
  }

  async setCurrentRevision(entryId: string, revisionId: string): Promise<void> {
    await this.db.update(kbEntries).set({ currentRevisionId: revisionId, updatedAt: new Date() }).where(eq(kbEntries.id, entryId));
  }

  /** Every entry's current revision in full (a re-index copies them). */
  async currentRevisions(kbId: string): Promise<RevisionWithContent[]> {
    return this.db.select(withContent).from(kbEntries).innerJoin(kbRevisions, eq(kbRevisions.id, kbEntries.currentRevisionId)).where(eq(kbEntries.kbId, kbId));
  }

  async activeJobs(kbId: string): Promise<number> {
    const [row] = await this.db.select({ n: sql<number>`count(*)::int` }).from(kbJobs).where(and(eq(kbJobs.kbId, kbId), inArray(kbJobs.status, ['queued', 'running'])));
    return Number(row?.n ?? 0);
  }

  /** Locks the knowledge base row, so a re-index and new jobs do not interleave. */
  async lockKnowledgeBase(kbId: string) {
    const [row] = await this.db.select().from(knowledgeBases).where(eq(knowledgeBases.id, kbId)).for('update').limit(1);
    return row;
  }

  async setIndexing(kbId: string, values: { embeddingProvider: string; embeddingModel: string; embeddingDimensions: number; language: string }): Promise<void> {
    await this.db.update(knowledgeBases).set({ ...values, updatedAt: new Date() }).where(eq(knowledgeBases.id, kbId));
  }

  async knowledgeBaseOf(kbId: string) {
    const [row] = await this.db.select().from(knowledgeBases).where(eq(knowledgeBases.id, kbId)).limit(1);
    return row;
  }

  async ensureVectorIndex(dimensions: number): Promise<void> {
    await this.db.execute(sql.raw(createVectorIndexSql(dimensions)));
  }
}

/** The per-dimension partial HNSW index (DESIGN.md): halfvec above 2,000 dimensions. */
export function createVectorIndexSql(dimensions: number): string {
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > 4000) throw new Error(`unsupported dimensions ${dimensions}`);
  const type = dimensions > 2000 ? `halfvec(${dimensions})` : `vector(${dimensions})`;
  const ops = dimensions > 2000 ? 'halfvec_cosine_ops' : 'vector_cosine_ops';
  return `CREATE INDEX IF NOT EXISTS kb_chunks_embedding_${dimensions}_idx ON kb_chunks USING hnsw ((embedding::${type}) ${ops}) WHERE embedding_dimensions = ${dimensions} AND in_vector_index`;
}
