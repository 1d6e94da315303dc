import crypto from 'node:crypto';
import path from 'node:path';
import { countTokens } from 'gpt-tokenizer';
import { createTwoFilesPatch } from 'diff';
import { AppError, BadRequestError, ForbiddenError, NotFoundError } from '../../platform/errors';
import type { AuditService } from '../../platform/audit/audit.service';
import { safeFetch } from '../../platform/net/safe-fetch';
import type { Principal } from '../auth';
import type { KnowledgeBaseService } from './kb.service';
import type { KbEntriesRepository, EntryListRow, EntryRow, JobRow, NewRevision, RevisionSummary, RevisionWithContent } from './kb.entries.repository';
import { parseDocument, type ParsedDocument } from './kb.parsers';
import type { Ingestor } from './kb.ingest';

type Origin = { ip: string | null; userAgent: string | null };

export interface Upload {
  bytes: Buffer;
  originalName: string;
  mimeType: string;
}

/** What a new revision is made from: JSON text, an uploaded file, or a URL. */
export type RevisionSource = { text: string } | { upload: Upload } | { url: string };

export interface EntrySettings {
  uploadMaxBytes: number;
  urlImport: { enabled: boolean; allowCidrs: string[]; timeoutMs: number };
}

export interface PublicJob {
  id: string;
  kbId: string;
  entryId: string;
  revisionId: string;
  status: JobRow['status'];
  stage: JobRow['stage'];
  done: number;
  total: number;
  attempts: number;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
}

export interface PublicRevision {
  id: string;
  number: number;
  status: RevisionSummary['status'];
  error: string | null;
  format: string;
  sizeBytes: number;
  tokenCount: number;
  contentHash: string;
  sourceUrl: string | null;
  originalName: string | null;
  mimeType: string | null;
  restoredFrom: number | null;
  /** A copy made to index the content again (new embedding model or language). */
  reindex: boolean;
  authorId: string | null;
  current: boolean;
  createdAt: string;
}

export interface PublicEntry {
  id: string;
  kbId: string;
  title: string;
  sourceType: EntryRow['sourceType'];
  currentRevision: number | null;
  latestRevision: { number: number; status: RevisionSummary['status']; error: string | null; format: string; sizeBytes: number; tokenCount: number } | null;
  createdAt: string;
  updatedAt: string;
}

export const presentJob = (j: JobRow): PublicJob => ({
  id: j.id,
  kbId: j.kbId,
  entryId: j.entryId,
  revisionId: j.revisionId,
  status: j.status,
  stage: j.stage,
  done: j.done,
  total: j.total,
  attempts: j.attempts,
  error: j.error,
  createdAt: j.createdAt.toISOString(),
  startedAt: j.startedAt?.toISOString() ?? null,
  finishedAt: j.finishedAt?.toISOString() ?? null,
  updatedAt: j.updatedAt.toISOString(),
});

const presentRevision = (r: RevisionSummary, currentId: string | null): PublicRevision => ({
  id: r.id,
  number: r.number,
  status: r.status,
  error: r.error,
  format: r.format,
  sizeBytes: r.sizeBytes,
  tokenCount: r.tokenCount,
  contentHash: r.contentHash,
  sourceUrl: r.sourceUrl,
  originalName: r.originalName,
  mimeType: r.mimeType,
  restoredFrom: r.restoredFrom,
  reindex: r.reindex,
  authorId: r.authorId,
  current: r.id === currentId,
  createdAt: r.createdAt.toISOString(),
});

const presentEntry = (e: EntryListRow): PublicEntry => ({
  id: e.id,
  kbId: e.kbId,
  title: e.title,
  sourceType: e.sourceType,
  currentRevision: e.currentNumber,
  latestRevision: e.latest,
  createdAt: e.createdAt.toISOString(),
  updatedAt: e.updatedAt.toISOString(),
});

const DIFF_TIMEOUT_MS = 1500;

const hashOf = (text: string) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * A file name is a label, never a path: anything that could address a file (separators, `..`,
 * control characters) is refused rather than quietly rewritten, so what is stored is what was sent.
 */
function checkFileName(name: string): string {
  const trimmed = name.normalize('NFC').trim();
  // eslint-disable-next-line no-control-regex
  if (!trimmed || trimmed.length > 255 || /[/\\\u0000-\u001f\u007f-\u009f]/.test(trimmed) || trimmed === '.' || trimmed === '..') {
    throw new BadRequestError('invalid-file-name', 'The file name must be a plain name (no folders or control characters), at most 255 characters.');
  }
  return trimmed;
}

/** Entries (documents), their immutable revisions, and the jobs that index them. */
export class KbEntriesService {
  constructor(
    private readonly repo: KbEntriesRepository,
    private readonly kbs: KnowledgeBaseService,
    private readonly ingestor: Ingestor,
    private readonly audit: AuditService,
    private readonly settings: EntrySettings,
  ) {}

  private async entryIn(kbId: string, entryId: string): Promise<EntryRow> {
    const entry = await this.repo.findEntry(kbId, entryId);
    if (!entry) throw new NotFoundError('entry-not-found', 'No such entry in this knowledge base.');
    return entry;
  }

  /** Turns what was sent into text, refusing anything unsafe before a single row is written. */
  private async material(source: RevisionSource): Promise<{ parsed: ParsedDocument; original: Buffer | null; originalName: string | null; sourceUrl: string | null; sizeBytes: number }> {
    const limits = { maxBytes: this.settings.uploadMaxBytes };
    if ('text' in source) {
      const bytes = Buffer.from(source.text, 'utf8');
      // Typed text is markdown by convention (headings structure the chunks); it has no original file.
      const parsed = await parseDocument(bytes, limits, { fileName: 'text.md', mimeType: 'text/markdown' });
      return { parsed, original: null, originalName: null, sourceUrl: null, sizeBytes: bytes.length };
    }
    if ('upload' in source) {
      const name = checkFileName(source.upload.originalName);
      const parsed = await parseDocument(source.upload.bytes, limits, { fileName: name, mimeType: source.upload.mimeType });
      return { parsed, original: source.upload.bytes, originalName: name, sourceUrl: null, sizeBytes: source.upload.bytes.length };
    }
    if (!this.settings.urlImport.enabled) throw new ForbiddenError('url-import-disabled', 'Importing from a URL is turned off on this instance (URL_IMPORT=false).');
    const fetched = await safeFetch(source.url, { maxBytes: this.settings.uploadMaxBytes, timeoutMs: this.settings.urlImport.timeoutMs, allowCidrs: this.settings.urlImport.allowCidrs, userAgent: 'Hearth knowledge-base import' });
    const name = fetched.fileName ? safeLabel(fetched.fileName) : undefined;
    const parsed = await parseDocument(fetched.bytes, limits, { fileName: name, mimeType: fetched.contentType?.split(';')[0]?.trim() });
    return { parsed, original: fetched.bytes, originalName: name ?? null, sourceUrl: fetched.finalUrl, sizeBytes: fetched.bytes.length };
  }

  async create(p: Principal, kbId: string, input: { title?: string } & RevisionSource, origin: Origin): Promise<{ entry: PublicEntry; revision: PublicRevision; job: PublicJob }> {
    const kb = await this.kbs.writable(p, kbId);
    const m = await this.material(input);
    const fallbackTitle = m.originalName ? path.parse(m.originalName).name || m.originalName : m.sourceUrl ?? 'Untitled';
    const title = (input.title?.trim() || m.parsed.title?.trim() || fallbackTitle).slice(0, 300);
    const sourceType = 'text' in input ? 'text' : 'upload' in input ? 'upload' : 'url';
    const { entry, revision, job } = await this.repo.transaction(async (tx) => {
      const entry = await tx.insertEntry({ kbId: kb.id, title, sourceType, createdBy: p.user.id });
      const revision = await tx.insertRevision(entry.id, this.newRevision(p, m));
      const job = await tx.insertJob({ kbId: kb.id, entryId: entry.id, revisionId: revision.id, userId: p.user.id });
      return { entry, revision, job };
    });
    await this.ingestor.enqueue(job.id);
    await this.audit.record({ action: 'kb.entry.create', actorUserId: p.user.id, targetType: 'kb_entry', targetId: entry.id, metadata: { kbId: kb.id, sourceType, format: m.parsed.format, sizeBytes: m.sizeBytes, ...('url' in input ? { url: input.url, finalUrl: m.sourceUrl } : {}) }, ...origin });
    return { entry: this.present(entry, null, revision), revision: presentRevision(revision, null), job: presentJob(job) };
  }

  private newRevision(p: Principal, m: Awaited<ReturnType<KbEntriesService['material']>>, restoredFrom?: number): NewRevision {
    return {
      content: m.parsed.text,
      contentHash: hashOf(m.parsed.text),
      sizeBytes: m.sizeBytes,
      tokenCount: countTokens(m.parsed.text),
      format: m.parsed.format,
      authorId: p.user.id,
      original: m.original,
      originalName: m.originalName,
      mimeType: m.original ? m.parsed.mimeType : null,
      sourceUrl: m.sourceUrl,
      restoredFrom: restoredFrom ?? null,
    };
  }

  private present(entry: EntryRow, currentNumber: number | null, latest: RevisionSummary | undefined): PublicEntry {
    return presentEntry({ ...entry, currentNumber, latest: latest ? { number: latest.number, status: latest.status, error: latest.error, format: latest.format, sizeBytes: latest.sizeBytes, tokenCount: latest.tokenCount } : null });
  }

  /**
   * A new revision of an entry's content. Content identical to the latest revision creates none
   * (`unchanged: true`), so re-uploading the same file or saving without edits costs nothing.
   */
  async revise(p: Principal, kbId: string, entryId: string, source: RevisionSource, origin: Origin, restoredFrom?: number): Promise<{ unchanged: boolean; revision: PublicRevision; job: PublicJob | null }> {
    await this.kbs.writable(p, kbId);
    await this.entryIn(kbId, entryId);
    const m = await this.material(source);
    const result = await this.repo.transaction(async (tx) => {
      const entry = (await tx.lockEntry(entryId))!;
      const latest = await tx.latestRevision(entryId);
      if (latest && latest.contentHash === hashOf(m.parsed.text) && latest.status !== 'failed' && restoredFrom === undefined) {
        return { unchanged: true as const, revision: latest, job: null, currentId: entry.currentRevisionId };
      }
      const revision = await tx.insertRevision(entryId, this.newRevision(p, m, restoredFrom));
      const job = await tx.insertJob({ kbId, entryId, revisionId: revision.id, userId: p.user.id });
      return { unchanged: false as const, revision, job, currentId: entry.currentRevisionId };
    });
    if (result.job) {
      await this.ingestor.enqueue(result.job.id);
      await this.audit.record({ action: restoredFrom ? 'kb.entry.restore' : 'kb.entry.revise', actorUserId: p.user.id, targetType: 'kb_entry', targetId: entryId, metadata: { kbId, revision: result.revision.number, ...(restoredFrom ? { restoredFrom } : {}) }, ...origin });
    }
    return { unchanged: result.unchanged, revision: presentRevision(result.revision, result.currentId), job: result.job ? presentJob(result.job) : null };
  }

  /** Restoring makes the old content the newest revision, exactly as it was stored; history is never rewritten. */
  async restore(p: Principal, kbId: string, entryId: string, number: number, origin: Origin): Promise<{ unchanged: boolean; revision: PublicRevision; job: PublicJob | null }> {
    await this.kbs.writable(p, kbId);
    await this.entryIn(kbId, entryId);
    const result = await this.repo.transaction(async (tx) => {
      const entry = (await tx.lockEntry(entryId))!;
      const old = await tx.revisionByNumber(entryId, number);
      if (!old) throw new NotFoundError('revision-not-found', `This entry has no revision ${number}.`);
      const revision = await tx.insertRevision(entryId, { ...copyOf(old), authorId: p.user.id, restoredFrom: number });
      const job = await tx.insertJob({ kbId, entryId, revisionId: revision.id, userId: p.user.id });
      return { revision, job, currentId: entry.currentRevisionId };
    });
    await this.ingestor.enqueue(result.job.id);
    await this.audit.record({ action: 'kb.entry.restore', actorUserId: p.user.id, targetType: 'kb_entry', targetId: entryId, metadata: { kbId, revision: result.revision.number, restoredFrom: number }, ...origin });
    return { unchanged: false, revision: presentRevision(result.revision, result.currentId), job: presentJob(result.job) };
  }

  /** The entry a folder import keeps for a file, found by its title (the file's path in the folder). */
  async entryIdByTitle(p: Principal, kbId: string, title: string): Promise<string | undefined> {
    await this.kbs.readable(p, kbId);
    return (await this.repo.findEntryByTitle(kbId, title))?.id;
  }

  /**
   * Re-indexes a knowledge base with the instance's current embedding settings and, optionally, a
   * new full-text language: every entry's current content becomes a new revision (marked `reindex`)
   * with its own job, so each entry keeps being served from its old chunks until its new ones are
   * complete. Refused while the knowledge base has jobs running, which would mix two models in one
   * revision. During a change of model or language, the vector and text legs only match entries whose
   * job has finished.
   */
  async reindex(p: Principal, kbId: string, input: { language?: string }, origin: Origin): Promise<{ jobs: PublicJob[] }> {
    const before = await this.kbs.writable(p, kbId);
    const target = { ...this.kbs.indexingDefaults, language: input.language ?? before.language };
    await this.kbs.prepareVectorIndex(target.embeddingDimensions);
    const jobs = await this.repo.transaction(async (tx) => {
      await tx.lockKnowledgeBase(kbId);
      if ((await tx.activeJobs(kbId)) > 0) throw new AppError(409, 'reindex-busy', 'This knowledge base is still indexing; re-index it when its jobs have finished (or cancel them).');
      await tx.setIndexing(kbId, target);
      const created: JobRow[] = [];
      for (const r of await tx.currentRevisions(kbId)) {
        await tx.lockEntry(r.entryId);
        const copy = await tx.insertRevision(r.entryId, { ...copyOf(r), authorId: p.user.id, reindex: true });
        created.push(await tx.insertJob({ kbId, entryId: r.entryId, revisionId: copy.id, userId: p.user.id }));
      }
      return created;
    });
    for (const job of jobs) await this.ingestor.enqueue(job.id);
    await this.audit.record({
      action: 'kb.reindex',
      actorUserId: p.user.id,
      targetType: 'knowledge_base',
      targetId: kbId,
      metadata: { entries: jobs.length, from: { model: before.embeddingModel, dimensions: before.embeddingDimensions, language: before.language }, to: { model: target.embeddingModel, dimensions: target.embeddingDimensions, language: target.language } },
      ...origin,
    });
    return { jobs: jobs.map(presentJob) };
  }

  async list(p: Principal, kbId: string, opts: { limit: number; offset: number }): Promise<{ entries: PublicEntry[]; total: number }> {
    await this.kbs.readable(p, kbId);
    const { rows, total } = await this.repo.listEntries(kbId, opts);
    return { entries: rows.map(presentEntry), total };
  }

  async get(p: Principal, kbId: string, entryId: string): Promise<{ entry: PublicEntry; revisions: PublicRevision[]; jobs: PublicJob[] }> {
    await this.kbs.readable(p, kbId);
    const entry = await this.entryIn(kbId, entryId);
    const revisions = await this.repo.listRevisions(entryId);
    const current = revisions.find((r) => r.id === entry.currentRevisionId);
    const jobs = await this.repo.jobsOfRevisions(revisions.slice(0, 5).map((r) => r.id));
    return { entry: this.present(entry, current?.number ?? null, revisions[0]), revisions: revisions.map((r) => presentRevision(r, entry.currentRevisionId)), jobs: jobs.map(presentJob) };
  }

  async revisions(p: Principal, kbId: string, entryId: string): Promise<PublicRevision[]> {
    return (await this.get(p, kbId, entryId)).revisions;
  }

  async revision(p: Principal, kbId: string, entryId: string, number: number): Promise<PublicRevision & { content: string }> {
    await this.kbs.readable(p, kbId);
    const entry = await this.entryIn(kbId, entryId);
    const r = await this.repo.revisionByNumber(entryId, number);
    if (!r) throw new NotFoundError('revision-not-found', `This entry has no revision ${number}.`);
    return { ...presentRevision(r, entry.currentRevisionId), content: r.content };
  }

  /** The uploaded original as it came (or the text, for typed entries), for whoever may read the entry. */
  async original(p: Principal, kbId: string, entryId: string, number: number): Promise<{ bytes: Buffer; fileName: string; mimeType: string }> {
    await this.kbs.readable(p, kbId);
    const entry = await this.entryIn(kbId, entryId);
    const r = await this.repo.revisionByNumber(entryId, number);
    if (!r) throw new NotFoundError('revision-not-found', `This entry has no revision ${number}.`);
    const holder = r.hasOriginal ? r.id : r.originalRevisionId;
    const bytes = holder ? await this.repo.originalBytes(holder) : null;
    if (bytes) return { bytes, fileName: r.originalName ?? `${safeLabel(entry.title)}`, mimeType: r.mimeType ?? 'application/octet-stream' };
    return { bytes: Buffer.from(r.content, 'utf8'), fileName: `${safeLabel(entry.title)}.md`, mimeType: 'text/markdown; charset=utf-8' };
  }

  async diff(p: Principal, kbId: string, entryId: string, from: number, to: number): Promise<{ from: number; to: number; diff: string; changed: boolean }> {
    await this.kbs.readable(p, kbId);
    const entry = await this.entryIn(kbId, entryId);
    const [a, b] = await Promise.all([this.repo.revisionByNumber(entryId, from), this.repo.revisionByNumber(entryId, to)]);
    if (!a || !b) throw new NotFoundError('revision-not-found', `This entry has no revision ${!a ? from : to}.`);
    // Diffing is quadratic in the worst case and runs on the event loop: bounded in time, so two very
    // different large revisions get a clear answer instead of stalling every request.
    const diff = createTwoFilesPatch(`${entry.title} (revision ${from})`, `${entry.title} (revision ${to})`, a.content, b.content, undefined, undefined, { context: 3, timeout: DIFF_TIMEOUT_MS });
    if (diff === undefined) throw new AppError(422, 'diff-too-large', `Revisions ${from} and ${to} differ too much to show as a diff; download each revision instead.`);
    return { from, to, diff, changed: a.contentHash !== b.contentHash };
  }

  async rename(p: Principal, kbId: string, entryId: string, title: string): Promise<PublicEntry> {
    await this.kbs.writable(p, kbId);
    await this.entryIn(kbId, entryId);
    await this.repo.updateEntryTitle(entryId, title);
    return (await this.get(p, kbId, entryId)).entry;
  }

  /** Deleting an entry takes its chunks out of search in the same statement (cascade). */
  async delete(p: Principal, kbId: string, entryId: string, origin: Origin): Promise<void> {
    await this.kbs.writable(p, kbId);
    const entry = await this.entryIn(kbId, entryId);
    await this.repo.deleteEntry(entryId);
    await this.audit.record({ action: 'kb.entry.delete', actorUserId: p.user.id, targetType: 'kb_entry', targetId: entryId, metadata: { kbId, title: entry.title }, ...origin });
  }

  /** A job its owner (or an admin) may see; anyone else gets a 404. */
  async job(p: Principal, id: string): Promise<PublicJob> {
    const job = await this.repo.findJob(id);
    if (!job || (job.userId !== p.user.id && p.user.role !== 'admin')) throw new NotFoundError('job-not-found', 'No such job.');
    return presentJob(job);
  }

  async cancelJob(p: Principal, id: string, origin: Origin): Promise<PublicJob> {
    await this.job(p, id);
    const cancelled = await this.repo.transaction(async (tx) => {
      const job = (await tx.findJob(id))!;
      if (!(await tx.finishJob(id, { status: 'cancelled', error: 'Cancelled.' }))) return false;
      await tx.setRevisionStatus(job.revisionId, 'failed', 'Cancelled before indexing finished.');
      await tx.deleteChunksOfRevision(job.revisionId);
      return true;
    });
    if (!cancelled) throw new AppError(409, 'job-finished', 'This job has already finished.');
    await this.audit.record({ action: 'kb.job.cancel', actorUserId: p.user.id, targetType: 'kb_job', targetId: id, ...origin });
    return this.job(p, id);
  }
}

/** A stored revision's content and origin, for a new revision that repeats it (restore, re-index). */
function copyOf(r: RevisionWithContent): Omit<NewRevision, 'authorId'> {
  // The bytes stay where they are; the copy points at the revision holding them.
  const originalRevisionId = r.hasOriginal ? r.id : r.originalRevisionId;
  return { content: r.content, contentHash: r.contentHash, sizeBytes: r.sizeBytes, tokenCount: r.tokenCount, format: r.format, original: null, originalRevisionId, originalName: r.originalName, mimeType: r.mimeType, sourceUrl: r.sourceUrl };
}

/** A download or display name without path parts or quotes. */
function safeLabel(name: string): string {
  // eslint-disable-next-line no-control-regex
  const base = name.split(/[/\\]/).pop()!.replace(/[\u0000-\u001f\u007f"]/g, '').trim();
  return base && base !== '.' && base !== '..' ? base.slice(0, 200) : 'document';
}
