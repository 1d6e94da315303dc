import { z } from '../../platform/zod';
import { FULL_TEXT_LANGUAGES } from '../../config';

const name = z.string().trim().min(1, { message: 'is required' }).max(200, { message: 'must be at most 200 characters' });
const description = z.string().trim().max(2000, { message: 'must be at most 2000 characters' });
const visibility = z.enum(['private', 'organization']);

export const KbParams = z.object({ id: z.uuid({ message: 'must be a knowledge base id' }) });
export const CreateKbBody = z
  .object({ name, description: description.optional(), visibility: visibility.default('private'), language: z.enum(FULL_TEXT_LANGUAGES).optional() })
  .openapi('CreateKnowledgeBaseRequest');
export const UpdateKbBody = z
  .object({ name: name.optional(), description: description.optional(), visibility: visibility.optional() })
  .strict()
  .refine((v) => Object.keys(v).length > 0, { message: 'name at least one of name, description, visibility' })
  .openapi('UpdateKnowledgeBaseRequest');
export const ListKbQuery = z.object({ limit: z.coerce.number().int().min(1).max(200).default(50), offset: z.coerce.number().int().min(0).default(0) });

export const KnowledgeBaseSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string(),
    visibility,
    ownerId: z.uuid().nullable(),
    embedding: z.object({ provider: z.string(), model: z.string(), dimensions: z.number() }),
    language: z.string(),
    entries: z.number(),
    chunks: z.number(),
    canWrite: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('KnowledgeBase');
export const KbResponse = z.object({ knowledgeBase: KnowledgeBaseSchema });
export const KbListResponse = z.object({ knowledgeBases: z.array(KnowledgeBaseSchema), total: z.number() });
export const SearchQuery = z.object({
  q: z.string().trim().min(1, { message: 'is required' }).max(1000, { message: 'must be at most 1000 characters' }),
  k: z.coerce.number().int().min(1).max(50).default(8),
});
export const SearchHitSchema = z
  .object({
    chunkId: z.number(),
    kbId: z.uuid(),
    entryId: z.uuid(),
    entryTitle: z.string(),
    revisionId: z.uuid(),
    revisionNumber: z.number(),
    ordinal: z.number(),
    headingPath: z.array(z.string()),
    content: z.string(),
    score: z.number(),
    vectorRank: z.number().nullable(),
    textRank: z.number().nullable(),
  })
  .openapi('SearchHit');
export const SearchResponse = z.object({ hits: z.array(SearchHitSchema), plan: z.enum(['exact', 'hnsw']) });

// Entries, revisions and jobs.
export const EntryParams = z.object({ id: z.uuid({ message: 'must be a knowledge base id' }), entryId: z.uuid({ message: 'must be an entry id' }) });
export const RevisionParams = EntryParams.extend({ number: z.coerce.number().int().min(1, { message: 'must be a revision number' }).max(2_147_483_647, { message: 'must be a revision number' }) });
export const JobParams = z.object({ id: z.uuid({ message: 'must be a job id' }) });
const title = z.string().trim().min(1, { message: 'must not be empty' }).max(300, { message: 'must be at most 300 characters' });
const text = z.string().min(1, { message: 'must not be empty' });
const url = z.string().trim().max(2048, { message: 'must be at most 2048 characters' }).pipe(z.url({ message: 'must be an http(s) URL' }));
/**
 * JSON `{ title?, text }` or `{ title?, url }`; or multipart/form-data with the document in `file`
 * (and an optional `title` field).
 */
export const CreateEntryBody = z
  .object({ title: title.optional(), text: text.optional(), url: url.optional() })
  .strict()
  .openapi('CreateEntryRequest');
export const ReviseEntryBody = z.object({ text: text.optional() }).strict().openapi('ReviseEntryRequest');
export const UpdateEntryBody = z.object({ title }).strict().openapi('UpdateEntryRequest');
export const DiffQuery = z.object({ from: z.coerce.number().int().min(1).max(2_147_483_647), to: z.coerce.number().int().min(1).max(2_147_483_647) });

export const JobSchema = z
  .object({
    id: z.uuid(),
    kbId: z.uuid(),
    entryId: z.uuid(),
    revisionId: z.uuid(),
    status: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']),
    stage: z.enum(['queued', 'chunking', 'embedding', 'indexing', 'done']),
    done: z.number(),
    total: z.number(),
    attempts: z.number(),
    error: z.string().nullable(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    updatedAt: z.string(),
  })
  .openapi('Job');
export const RevisionSchema = z
  .object({
    id: z.uuid(),
    number: z.number(),
    status: z.enum(['pending', 'processing', 'ready', 'failed', 'retired']),
    error: z.string().nullable(),
    format: z.string(),
    sizeBytes: z.number(),
    tokenCount: z.number(),
    contentHash: z.string(),
    sourceUrl: z.string().nullable(),
    originalName: z.string().nullable(),
    mimeType: z.string().nullable(),
    restoredFrom: z.number().nullable(),
    reindex: z.boolean(),
    authorId: z.uuid().nullable(),
    current: z.boolean(),
    createdAt: z.string(),
  })
  .openapi('Revision');
export const EntrySchema = z
  .object({
    id: z.uuid(),
    kbId: z.uuid(),
    title: z.string(),
    sourceType: z.enum(['upload', 'text', 'url']),
    currentRevision: z.number().nullable(),
    latestRevision: z.object({ number: z.number(), status: z.string(), error: z.string().nullable(), format: z.string(), sizeBytes: z.number(), tokenCount: z.number() }).nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Entry');
export const CreatedEntryResponse = z.object({ entry: EntrySchema, revision: RevisionSchema, job: JobSchema });
export const EntryListResponse = z.object({ entries: z.array(EntrySchema), total: z.number() });
export const EntryResponse = z.object({ entry: EntrySchema, revisions: z.array(RevisionSchema), jobs: z.array(JobSchema) });
export const RevisionListResponse = z.object({ revisions: z.array(RevisionSchema) });
export const RevisionResponse = z.object({ revision: RevisionSchema.extend({ content: z.string() }) });
export const RevisedResponse = z.object({ unchanged: z.boolean(), revision: RevisionSchema, job: JobSchema.nullable() });
export const DiffResponse = z.object({ from: z.number(), to: z.number(), changed: z.boolean(), diff: z.string() });
export const JobResponse = z.object({ job: JobSchema });
export const ReindexBody = z.object({ language: z.enum(FULL_TEXT_LANGUAGES).optional() }).strict().openapi('ReindexRequest');
export const ReindexResponse = z.object({ knowledgeBase: KnowledgeBaseSchema, jobs: z.number(), jobIds: z.array(z.uuid()) });
