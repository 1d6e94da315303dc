import { z } from '../../platform/zod';

const slug = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'must be lower-case letters, digits and dashes (at most 63), starting with a letter or digit' });
const name = z.string().trim().min(1, { message: 'is required' }).max(200, { message: 'must be at most 200 characters' });

const agentFields = {
  slug,
  name,
  description: z.string().trim().max(2000).optional(),
  systemPrompt: z.string().max(20_000, { message: 'must be at most 20000 characters' }).optional(),
  providerId: z.uuid({ message: 'must be a provider id' }).nullable().optional(),
  model: z.string().trim().min(1).max(200).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  maxOutputTokens: z.number().int().min(1).max(200_000).optional(),
  retrievalK: z.number().int().min(0).max(50).optional(),
  visibility: z.enum(['everyone', 'admins']).optional(),
  knowledgeBaseIds: z.array(z.uuid({ message: 'must be knowledge base ids' })).max(100).optional(),
};
export const CreateAgentBody = z.object(agentFields).strict().openapi('CreateAgentRequest');
export const UpdateAgentBody = z
  .object(agentFields)
  .partial()
  .strict()
  .refine((v) => Object.keys(v).length > 0, { message: 'change at least one field' })
  .openapi('UpdateAgentRequest');
export const AgentParams = z.object({ id: z.string().trim().min(1).max(100) });
export const ListAgentsQuery = z.object({ archived: z.enum(['true', 'false']).default('false') });

export const AgentSchema = z
  .object({
    id: z.uuid(),
    slug: z.string(),
    name: z.string(),
    description: z.string(),
    systemPrompt: z.string().optional(),
    providerId: z.uuid().nullable(),
    model: z.string().nullable(),
    temperature: z.number().nullable(),
    maxOutputTokens: z.number(),
    retrievalK: z.number(),
    visibility: z.enum(['everyone', 'admins']),
    knowledgeBaseIds: z.union([z.array(z.uuid()), z.literal('all')]),
    isDefault: z.boolean(),
    archived: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Agent');
export const AgentResponse = z.object({ agent: AgentSchema });
export const AgentListResponse = z.object({ agents: z.array(AgentSchema) });

export const ConversationParams = z.object({ id: z.uuid({ message: 'must be a conversation id' }) });
export const CreateConversationBody = z.object({ agent: z.string().trim().min(1).max(100).optional(), title: name.optional() }).strict().openapi('CreateConversationRequest');
export const RenameConversationBody = z.object({ title: name }).strict();
export const ListConversationsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(30),
  offset: z.coerce.number().int().min(0).default(0),
  q: z.string().trim().min(1).max(200).optional(),
});
export const PostMessageBody = z
  .object({
    content: z.string().trim().min(1, { message: 'is required' }).max(32_000, { message: 'must be at most 32000 characters' }),
    parentId: z.uuid().nullable().optional(),
  })
  .strict()
  .openapi('PostMessageRequest');

const CitationSchema = z.object({ n: z.number(), kbId: z.uuid(), entryId: z.uuid(), entryTitle: z.string(), revisionId: z.uuid(), revisionNumber: z.number(), chunkId: z.number(), score: z.number(), quote: z.string() }).openapi('Citation');
export const ConversationSchema = z.object({ id: z.uuid(), agentId: z.uuid(), title: z.string(), createdAt: z.string(), updatedAt: z.string() }).openapi('Conversation');
export const MessageSchema = z
  .object({
    id: z.uuid(),
    parentId: z.uuid().nullable(),
    role: z.enum(['user', 'assistant']),
    content: z.string(),
    status: z.enum(['complete', 'aborted', 'error']),
    error: z.string().nullable(),
    citations: z.array(CitationSchema),
    model: z.string().nullable(),
    promptTokens: z.number().nullable(),
    completionTokens: z.number().nullable(),
    createdAt: z.string(),
  })
  .openapi('Message');
export const ConversationResponse = z.object({ conversation: ConversationSchema });
export const ConversationDetailResponse = z.object({ conversation: ConversationSchema, messages: z.array(MessageSchema) });
export const ConversationListResponse = z.object({ conversations: z.array(ConversationSchema), total: z.number() });

export const ExportQuery = z.object({ format: z.enum(['md', 'json']).default('md') });
export const RegenerateBody = z.object({ messageId: z.uuid().optional() }).strict().openapi('RegenerateRequest');

const modelName = z.string().trim().min(1).max(200);
const providerFields = {
  name: z.string().trim().min(1).max(100),
  type: z.enum(['openai', 'anthropic']),
  baseUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).nullable().optional(),
  apiKey: z.string().min(1).max(1000).nullable().optional(),
  models: z.array(modelName).max(200).optional(),
  defaultModel: modelName,
};
export const CreateProviderBody = z.object(providerFields).strict().openapi('CreateProviderRequest');
export const UpdateProviderBody = z
  .object(providerFields)
  .partial()
  .strict()
  .refine((v) => Object.keys(v).length > 0, { message: 'change at least one field' })
  .openapi('UpdateProviderRequest');
export const ProviderParams = z.object({ id: z.uuid({ message: 'must be a provider id' }) });
export const ProviderSchema = z
  .object({ id: z.uuid(), name: z.string(), type: z.enum(['openai', 'anthropic']), baseUrl: z.string().nullable(), hasApiKey: z.boolean(), models: z.array(z.string()), defaultModel: z.string(), createdAt: z.string(), updatedAt: z.string() })
  .openapi('Provider');
export const ProviderResponse = z.object({ provider: ProviderSchema });
export const ProviderListResponse = z.object({ providers: z.array(ProviderSchema) });
