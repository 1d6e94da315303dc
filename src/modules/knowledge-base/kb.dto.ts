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
