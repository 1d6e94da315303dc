import { ApiError, messageOf } from '../../lib/api';

// Shapes of the knowledge-base API (src/modules/knowledge-base/kb.dto.ts), as the pages read them.
export type Visibility = 'private' | 'organization';

export interface KnowledgeBase {
  id: string;
  name: string;
  description: string;
  visibility: Visibility;
  ownerId: string | null;
  embedding: { provider: string; model: string; dimensions: number };
  language: string;
  entries: number;
  chunks: number;
  canWrite: boolean;
  createdAt: string;
  updatedAt: string;
}

export type RevisionStatus = 'pending' | 'processing' | 'ready' | 'failed' | 'retired';

export interface Entry {
  id: string;
  kbId: string;
  title: string;
  sourceType: 'upload' | 'text' | 'url';
  currentRevision: number | null;
  latestRevision: { number: number; status: RevisionStatus; error: string | null; format: string; sizeBytes: number; tokenCount: number } | null;
  createdAt: string;
  updatedAt: string;
}

export interface Revision {
  id: string;
  number: number;
  status: RevisionStatus;
  error: string | null;
  format: string;
  sizeBytes: number;
  tokenCount: number;
  contentHash: string;
  sourceUrl: string | null;
  originalName: string | null;
  mimeType: string | null;
  restoredFrom: number | null;
  reindex: boolean;
  authorId: string | null;
  current: boolean;
  createdAt: string;
}

export interface Job {
  id: string;
  kbId: string;
  entryId: string;
  revisionId: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  stage: 'queued' | 'chunking' | 'embedding' | 'indexing' | 'done';
  done: number;
  total: number;
  attempts: number;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
}

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
  score: number;
  vectorRank: number | null;
  textRank: number | null;
}

export interface CreatedEntry {
  entry: Entry;
  revision: Revision;
  job: Job;
}

export interface Revised {
  unchanged: boolean;
  revision: Revision;
  job: Job | null;
}

export const kbPath = (kbId: string) => `/api/knowledge-bases/${encodeURIComponent(kbId)}`;
export const entryPath = (kbId: string, entryId: string) => `${kbPath(kbId)}/entries/${encodeURIComponent(entryId)}`;

export const jobFinished = (job: Job) => job.status === 'succeeded' || job.status === 'failed' || job.status === 'cancelled';

/** What a finished job means for a person: "Ready", or why not. */
export function jobOutcome(job: Job): string {
  if (job.status === 'succeeded') return 'Ready';
  if (job.status === 'cancelled') return job.error ?? 'Cancelled.';
  return job.error ?? 'Indexing failed.';
}

export function jobProgressText(job: Job): string {
  if (jobFinished(job)) return jobOutcome(job);
  return job.total > 0 ? `Processing ${job.done}/${job.total} chunks` : 'Processing';
}

/** Owner as a person reads it: the API gives only an id. */
export const ownerLabel = (ownerId: string | null, meId: string | undefined) => (ownerId === null ? 'Nobody (owner removed)' : ownerId === meId ? 'You' : 'Another member');

/** A validation error lists its fields in `details`: said in words ("name is required"), not as JSON. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError && err.code === 'validation-failed' && Array.isArray(err.details)) {
    const parts = (err.details as { field?: unknown; message?: unknown }[])
      .map((d) => `${typeof d.field === 'string' ? d.field.replace(/^(body|query|params)\./, '') : ''} ${typeof d.message === 'string' ? d.message : ''}`.trim())
      .filter(Boolean);
    if (parts.length) return `Please check: ${parts.join('; ')}.`;
  }
  return messageOf(err);
}
