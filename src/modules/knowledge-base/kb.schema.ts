import { sql } from 'drizzle-orm';
import { type AnyPgColumn, bigint, boolean, check, customType, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import pgvector from 'pgvector';
import { users } from '../auth';

/**
 * `vector` without a dimension: knowledge bases may use models of different sizes, so the column is
 * untyped and `embedding_dimensions` says which; indexes are per dimension (DESIGN.md).
 */
const anyVector = customType<{ data: number[]; driverData: string }>({
  dataType: () => 'vector',
  toDriver: (v) => pgvector.toSql(v) as string,
  fromDriver: (v) => pgvector.fromSql(v) as number[],
});
const regconfig = customType<{ data: string }>({ dataType: () => 'regconfig' });
const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' });
const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' });

export const knowledgeBases = pgTable(
  'knowledge_bases',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    // A departed owner's organization-wide knowledge base stays; admins manage it.
    ownerId: uuid('owner_id').references(() => users.id, { onDelete: 'set null' }),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    visibility: text('visibility', { enum: ['private', 'organization'] }).notNull().default('private'),
    embeddingProvider: text('embedding_provider').notNull(),
    embeddingModel: text('embedding_model').notNull(),
    embeddingDimensions: integer('embedding_dimensions').notNull(),
    language: regconfig('language').notNull(),
    /**
     * Whether its chunks are in the HNSW index. Knowledge bases below the exact-scan threshold are
     * searched exactly, so their chunks stay out of the graph (inserting into it is what bounds
     * ingestion); one that grows past the threshold is moved in ('building'), then searched by HNSW
     * once all of its chunks are there ('ready').
     */
    vectorIndex: text('vector_index', { enum: ['none', 'building', 'ready'] }).notNull().default('none'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('knowledge_bases_visibility_check', sql`${t.visibility} IN ('private', 'organization')`),
    check('knowledge_bases_vector_index_check', sql`${t.vectorIndex} IN ('none', 'building', 'ready')`),
    index('knowledge_bases_owner_idx').on(t.ownerId),
  ],
);

export const kbEntries = pgTable(
  'kb_entries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    kbId: uuid('kb_id')
      .notNull()
      .references(() => knowledgeBases.id, { onDelete: 'cascade' }),
    title: text('title').notNull(),
    sourceType: text('source_type', { enum: ['upload', 'text', 'url'] }).notNull(),
    /** The revision search serves; set only once that revision is fully indexed. */
    currentRevisionId: uuid('current_revision_id').references((): AnyPgColumn => kbRevisions.id, { onDelete: 'set null' }),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('kb_entries_kb_idx').on(t.kbId, t.createdAt), check('kb_entries_source_check', sql`${t.sourceType} IN ('upload', 'text', 'url')`)],
);

export const kbRevisions = pgTable(
  'kb_revisions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    entryId: uuid('entry_id')
      .notNull()
      .references(() => kbEntries.id, { onDelete: 'cascade' }),
    number: integer('number').notNull(),
    content: text('content').notNull(),
    contentHash: text('content_hash').notNull(),
    sizeBytes: integer('size_bytes').notNull(),
    tokenCount: integer('token_count').notNull().default(0),
    status: text('status', { enum: ['pending', 'processing', 'ready', 'failed', 'retired'] }).notNull().default('pending'),
    error: text('error'),
    /** The format the content was parsed from (txt, md, html, pdf, docx, csv, json). */
    format: text('format').notNull().default('txt'),
    sourceUrl: text('source_url'),
    /** Set when this revision restored an older one's content. */
    restoredFrom: integer('restored_from'),
    /** A copy of the previous revision made to index it again (new embedding model or language). */
    reindex: boolean('reindex').notNull().default(false),
    authorId: uuid('author_id').references(() => users.id, { onDelete: 'set null' }),
    /** The uploaded original, kept in Postgres so backups hold it. */
    original: bytea('original'),
    /**
     * A copy (restore, re-index) holds no bytes of its own: this is the revision that does, so
     * re-indexing a knowledge base of large PDFs does not store every file again.
     */
    originalRevisionId: uuid('original_revision_id').references((): AnyPgColumn => kbRevisions.id, { onDelete: 'set null' }),
    originalName: text('original_name'),
    mimeType: text('mime_type'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('kb_revisions_entry_number_idx').on(t.entryId, t.number),
    check('kb_revisions_status_check', sql`${t.status} IN ('pending', 'processing', 'ready', 'failed', 'retired')`),
  ],
);

export const kbChunks = pgTable(
  'kb_chunks',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    kbId: uuid('kb_id')
      .notNull()
      .references(() => knowledgeBases.id, { onDelete: 'cascade' }),
    entryId: uuid('entry_id')
      .notNull()
      .references(() => kbEntries.id, { onDelete: 'cascade' }),
    revisionId: uuid('revision_id')
      .notNull()
      .references(() => kbRevisions.id, { onDelete: 'cascade' }),
    ordinal: integer('ordinal').notNull(),
    content: text('content').notNull(),
    tokenCount: integer('token_count').notNull(),
    metadata: jsonb('metadata').$type<{ headingPath?: string[]; [k: string]: unknown }>().notNull().default({}),
    embedding: anyVector('embedding').notNull(),
    embeddingDimensions: integer('embedding_dimensions').notNull(),
    /**
     * The model that made the vector: after a re-index to another model of the same size, old and new
     * vectors share `embedding_dimensions` but not a space, and search must compare only like with like.
     */
    embeddingModel: text('embedding_model').notNull().default(''),
    /** In the HNSW index (the partial indexes' predicate); see knowledge_bases.vector_index. */
    inVectorIndex: boolean('in_vector_index').notNull().default(false),
    language: regconfig('language').notNull(),
    // Full-text index data in the knowledge base's language (to_tsvector(regconfig, text) is immutable).
    tsv: tsvector('tsv')
      .notNull()
      .generatedAlwaysAs(sql`to_tsvector(language, content)`),
  },
  (t) => [
    check('kb_chunks_dimensions_check', sql`vector_dims(${t.embedding}) = ${t.embeddingDimensions}`),
    index('kb_chunks_kb_idx').on(t.kbId),
    // Unique: a resumed ingestion re-inserts a batch without duplicating a chunk.
    uniqueIndex('kb_chunks_revision_idx').on(t.revisionId, t.ordinal),
    index('kb_chunks_tsv_idx').using('gin', t.tsv),
    // pgvector's expression + partial pattern: one HNSW index per dimension; this one for 384, over
    // the chunks of knowledge bases large enough to be searched by HNSW.
    index('kb_chunks_embedding_idx')
      .using('hnsw', sql`(${t.embedding}::vector(384)) vector_cosine_ops`)
      .where(sql`${t.embeddingDimensions} = 384 AND ${t.inVectorIndex}`),
  ],
);

/**
 * The user-facing state of a background job (progress bars, GET /api/jobs/:id). pg-boss delivers and
 * retries the work; this row is what the work reads and writes, so it is also the lease that keeps
 * two workers off one job and lets a crashed worker's job be taken over.
 */
export const kbJobs = pgTable(
  'kb_jobs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    kind: text('kind', { enum: ['ingest'] }).notNull().default('ingest'),
    kbId: uuid('kb_id')
      .notNull()
      .references(() => knowledgeBases.id, { onDelete: 'cascade' }),
    entryId: uuid('entry_id')
      .notNull()
      .references(() => kbEntries.id, { onDelete: 'cascade' }),
    revisionId: uuid('revision_id')
      .notNull()
      .references(() => kbRevisions.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    status: text('status', { enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] }).notNull().default('queued'),
    stage: text('stage', { enum: ['queued', 'chunking', 'embedding', 'indexing', 'done'] }).notNull().default('queued'),
    done: integer('done').notNull().default(0),
    total: integer('total').notNull().default(0),
    attempts: integer('attempts').notNull().default(0),
    error: text('error'),
    /** The worker holding the job and until when; an expired lease may be taken over. */
    leaseOwner: text('lease_owner'),
    leaseUntil: timestamp('lease_until', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('kb_jobs_status_check', sql`${t.status} IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')`),
    check('kb_jobs_stage_check', sql`${t.stage} IN ('queued', 'chunking', 'embedding', 'indexing', 'done')`),
    index('kb_jobs_user_idx').on(t.userId, t.updatedAt),
    index('kb_jobs_active_idx').on(t.status, t.leaseUntil).where(sql`${t.status} IN ('queued', 'running')`),
    index('kb_jobs_revision_idx').on(t.revisionId),
  ],
);
