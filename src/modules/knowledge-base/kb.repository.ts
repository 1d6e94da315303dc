import { and, desc, eq, inArray, or, sql } from 'drizzle-orm';
import type { Db } from '../../platform/db/client';
import { kbChunks, kbEntries, knowledgeBases } from './kb.schema';

export type KnowledgeBaseRow = typeof knowledgeBases.$inferSelect;

export interface KbStats {
  entries: number;
  chunks: number;
}

/** Who may read a knowledge base, as SQL: its owner, everyone for organization-wide ones, admins always (kb.service canRead is the same rule for a row in hand). */
const readRights = (userId: string, isAdmin: boolean) => (isAdmin ? undefined : or(eq(knowledgeBases.ownerId, userId), eq(knowledgeBases.visibility, 'organization')));

/** The only place that touches the knowledge-base tables. */
export class KbRepository {
  constructor(readonly db: Db) {}

  async insert(values: typeof knowledgeBases.$inferInsert): Promise<KnowledgeBaseRow> {
    const [row] = await this.db.insert(knowledgeBases).values(values).returning();
    return row!;
  }

  async findById(id: string): Promise<KnowledgeBaseRow | undefined> {
    const [row] = await this.db.select().from(knowledgeBases).where(eq(knowledgeBases.id, id)).limit(1);
    return row;
  }

  /** Knowledge bases a user may read: their own and organization-wide ones (all, for admins). */
  async listReadable(userId: string, isAdmin: boolean, opts: { limit: number; offset: number }): Promise<{ rows: KnowledgeBaseRow[]; total: number }> {
    const where = readRights(userId, isAdmin);
    const rows = await this.db.select().from(knowledgeBases).where(where).orderBy(desc(knowledgeBases.updatedAt), knowledgeBases.id).limit(opts.limit).offset(opts.offset);
    const [count] = await this.db.select({ n: sql<number>`count(*)::int` }).from(knowledgeBases).where(where);
    return { rows, total: Number(count?.n ?? 0) };
  }

  /** Every knowledge base the user may read (of `among`, when given). */
  async readable(userId: string, isAdmin: boolean, among?: string[]): Promise<KnowledgeBaseRow[]> {
    if (among && among.length === 0) return [];
    const rights = readRights(userId, isAdmin);
    const where = among ? and(inArray(knowledgeBases.id, among), rights) : rights;
    return this.db.select().from(knowledgeBases).where(where).orderBy(knowledgeBases.id);
  }

  async update(id: string, values: Partial<Pick<KnowledgeBaseRow, 'name' | 'description' | 'visibility'>>): Promise<KnowledgeBaseRow> {
    const [row] = await this.db
      .update(knowledgeBases)
      .set({ ...values, updatedAt: new Date() })
      .where(eq(knowledgeBases.id, id))
      .returning();
    return row!;
  }

  async delete(id: string): Promise<void> {
    await this.db.delete(knowledgeBases).where(eq(knowledgeBases.id, id));
  }

  async stats(ids: string[]): Promise<Map<string, KbStats>> {
    const out = new Map<string, KbStats>(ids.map((id) => [id, { entries: 0, chunks: 0 }]));
    if (ids.length === 0) return out;
    const entries = await this.db
      .select({ kbId: kbEntries.kbId, n: sql<number>`count(*)::int` })
      .from(kbEntries)
      .where(sql`${kbEntries.kbId} IN ${ids}`)
      .groupBy(kbEntries.kbId);
    const chunks = await this.db
      .select({ kbId: kbChunks.kbId, n: sql<number>`count(*)::int` })
      .from(kbChunks)
      .innerJoin(kbEntries, and(eq(kbEntries.id, kbChunks.entryId), eq(kbEntries.currentRevisionId, kbChunks.revisionId)))
      .where(sql`${kbChunks.kbId} IN ${ids}`)
      .groupBy(kbChunks.kbId);
    for (const r of entries) out.get(r.kbId)!.entries = Number(r.n);
    for (const r of chunks) out.get(r.kbId)!.chunks = Number(r.n);
    return out;
  }
}
