// The shapes the UI reads from the public API (see /api/docs for the full OpenAPI document).
export interface User {
  id: string;
  email: string;
  name: string;
  role: 'admin' | 'member';
  status: 'active' | 'disabled';
  emailVerified: boolean;
  twoFactorEnabled: boolean;
  createdAt: string;
}
export interface Agent {
  id: string;
  slug: string;
  name: string;
  description: string;
  systemPrompt?: string;
  providerId: string | null;
  model: string | null;
  temperature: number | null;
  maxOutputTokens: number;
  retrievalK: number;
  visibility: 'everyone' | 'admins';
  knowledgeBaseIds: string[] | 'all';
  isDefault: boolean;
  archived: boolean;
  createdAt: string;
  updatedAt: string;
}
export interface Conversation {
  id: string;
  agentId: string;
  title: string;
  createdAt: string;
  updatedAt: string;
}
export interface Citation {
  n: number;
  kbId: string;
  entryId: string;
  entryTitle: string;
  revisionId: string;
  revisionNumber: number;
  chunkId: number;
  score: number;
  quote: string;
}
export interface Message {
  id: string;
  parentId: string | null;
  role: 'user' | 'assistant';
  content: string;
  status: 'complete' | 'aborted' | 'error';
  error: string | null;
  citations: Citation[];
  model: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  createdAt: string;
}
