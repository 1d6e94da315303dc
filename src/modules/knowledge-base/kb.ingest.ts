import os from 'node:os';
import crypto from 'node:crypto';
import type { JobQueue } from '../../platform/jobs/queue';
import type { Logger } from '../../platform/logger';
import { AppError } from '../../platform/errors';
import type { UsageRecorder } from '../usage';
import { countTokens } from 'gpt-tokenizer';
import { chunkWith, type CpuPool } from './kb.cpu';
import type { Embedder } from './kb.embedder';
import type { KbEntriesRepository, JobRow } from './kb.entries.repository';
import type { KnowledgeBaseRow } from './kb.repository';

export interface IngestSettings {
  workers: number;
  maxAttempts: number;
  leaseSeconds: number;
  /** At this many chunks a knowledge base moves into the HNSW index (KB_EXACT_SCAN_MAX_CHUNKS). */
  exactScanMaxChunks: number;
}

/** Thrown inside a job when it must stop without failing: cancelled, taken over, or shutting down. */
class JobStopped extends Error {}

/**
 * Ingestion of one revision: chunk → embed in batches → insert chunks in bulk → in one transaction
 * mark the revision ready, point the entry at it and retire the previous revision's chunks.
 *
 * pg-boss delivers the job durably and retries it; the kb_jobs row is the lease (one worker per job,
 * renewed with every batch) and the progress. Every step is idempotent, so a worker killed anywhere
 * leaves a job that another worker resumes where the chunks stop: batches already stored are kept
 * (unique revision + ordinal), and their embedding usage was recorded in the same transaction
 * (an idempotency key per batch), so nothing is embedded, stored or counted twice.
 */
export class Ingestor {
  /** Identifies this process in leases (and logs): host, pid and a random start id; each run adds its own token. */
  readonly owner = `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
  private reaper?: NodeJS.Timeout;
  private stopping = new AbortController();

  constructor(
    private readonly deps: {
      repo: KbEntriesRepository;
      queue: JobQueue;
      usage: UsageRecorder;
      embedderFor: (kb: KnowledgeBaseRow) => Embedder;
      /** Worker threads for chunking (and the local embedder); none: this thread. */
      cpu?: CpuPool;
      logger: Logger;
      settings: IngestSettings;
    },
  ) {}

  async enqueue(jobId: string): Promise<void> {
    // pg-boss retries past our own attempt count: the job row decides when to give up, with a clear error.
    await this.deps.queue.send('kb-ingest', { jobId }, { retryLimit: this.deps.settings.maxAttempts + 2, retryDelaySeconds: 2 });
  }

  /** Starts this process's workers and the watcher that takes over jobs of dead workers. */
  async start(): Promise<void> {
    const { settings, queue, logger } = this.deps;
    if (settings.workers === 0) return;
    await queue.work('kb-ingest', { workers: settings.workers, pollingIntervalSeconds: 1 }, async (data) => {
      if (typeof data.jobId === 'string') await this.run(data.jobId);
    });
    const every = Math.max(1, Math.floor(settings.leaseSeconds / 2)) * 1000;
    this.reaper = setInterval(() => {
      this.takeOverLapsed().catch((err: Error) => logger.warn('kb.ingest.reaper.failed', { error: err.message }));
    }, every);
    this.reaper.unref();
    await this.takeOverLapsed().catch((err: Error) => logger.warn('kb.ingest.reaper.failed', { error: err.message }));
  }

  /** In-flight jobs give their lease back so another process picks them up at once. */
  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.reaper) clearInterval(this.reaper);
  }

  private async takeOverLapsed(): Promise<void> {
    for (const id of await this.deps.repo.takeOverLapsedJobs(this.deps.settings.leaseSeconds * 2)) {
      this.deps.logger.warn('kb.ingest.job.taken-over', { jobId: id, note: 'its worker stopped renewing the lease (crash or kill), or its queue message was lost; resuming' });
      await this.enqueue(id);
    }
  }

  /** Runs one job to its end or to a clean stop; throws only for a retryable failure. */
  async run(jobId: string): Promise<void> {
    const { repo, settings, logger } = this.deps;
    // A token per run: two workers of this process never share a lease.
    const owner = `${this.owner}:${crypto.randomBytes(3).toString('hex')}`;
    const job = await repo.claimJob(jobId, owner, settings.leaseSeconds);
    if (!job) return; // finished, cancelled, or another worker holds it
    const log = { jobId, revisionId: job.revisionId, attempt: job.attempts };
    logger.info('kb.ingest.job.start', log);
    // The lease is renewed on a clock, not only between batches: one slow provider call (timeouts,
    // retries, Retry-After) must not let another worker take over a job that is still running.
    const lease = { lost: false };
    const renew = setInterval(() => {
      repo.heartbeat(jobId, owner, settings.leaseSeconds, {}).then(
        (held) => {
          if (!held) lease.lost = true;
        },
        (err: Error) => logger.warn('kb.ingest.lease.renew-failed', { jobId, error: err.message }),
      );
    }, Math.max(500, (settings.leaseSeconds * 1000) / 3));
    try {
      const timings = await this.process(job, owner, lease);
      logger.info('kb.ingest.job.done', { ...log, ...timings });
    } catch (err) {
      // A shutdown aborts the provider call too: that is a stop, not a failed attempt.
      const stopped = err instanceof JobStopped ? err.message : this.stopping.signal.aborted ? 'shutdown' : undefined;
      if (stopped) {
        logger.info('kb.ingest.job.stopped', { ...log, reason: stopped });
        if (stopped === 'shutdown') {
          await repo.releaseJob(jobId, owner).catch(() => undefined);
          // Let pg-boss deliver it again (to another process, or this one after its restart).
          throw new Error('stopped by shutdown');
        }
        return;
      }
      const message = err instanceof AppError ? err.message : `Indexing failed: ${(err as Error).message}`;
      if (job.attempts < settings.maxAttempts && retryable(err)) {
        logger.warn('kb.ingest.job.retry', { ...log, error: message });
        await repo.releaseJob(jobId, owner, message);
        throw err;
      }
      logger.warn('kb.ingest.job.failed', { ...log, error: message });
      await this.fail(job, owner, message);
    } finally {
      clearInterval(renew);
    }
  }

  private async fail(job: JobRow, owner: string, message: string): Promise<void> {
    const { repo } = this.deps;
    await repo.transaction(async (tx) => {
      if (!(await tx.finishJob(job.id, { status: 'failed', error: message, owner }))) return;
      await tx.setRevisionStatus(job.revisionId, 'failed', message);
      // A failed revision never serves search: its partial chunks go.
      await tx.deleteChunksOfRevision(job.revisionId);
    });
  }

  /** Returns where the time went (ms), for the log line and the ingestion benchmark. */
  private async process(job: JobRow, owner: string, lease: { lost: boolean }): Promise<{ chunks: number; chunkMs: number; embedMs: number; storeMs: number; swapMs: number }> {
    const { repo, settings } = this.deps;
    const timings = { chunks: 0, chunkMs: 0, embedMs: 0, storeMs: 0, swapMs: 0 };
    let mark = performance.now();
    const lap = (key: 'chunkMs' | 'embedMs' | 'storeMs' | 'swapMs') => {
      const now = performance.now();
      timings[key] += Math.round(now - mark);
      mark = now;
    };
    const beat = async (progress: Parameters<KbEntriesRepository['heartbeat']>[3]) => {
      if (this.stopping.signal.aborted) throw new JobStopped('shutdown');
      if (lease.lost || !(await repo.heartbeat(job.id, owner, settings.leaseSeconds, progress))) throw new JobStopped('cancelled or taken over');
    };
    const kb = await repo.knowledgeBaseOf(job.kbId);
    const revision = await repo.revisionContent(job.revisionId);
    if (!kb || !revision) throw new JobStopped('deleted');
    await repo.markProcessing(job.revisionId);

    await beat({ stage: 'chunking' });
    const chunks = await chunkWith(this.deps.cpu, revision.content);
    const tokenCount = chunks.reduce((n, c) => n + c.tokenCount, 0);
    const stored = await repo.chunkOrdinals(job.revisionId);
    const missing = chunks.filter((c) => !stored.has(c.ordinal));
    await beat({ stage: 'embedding', total: chunks.length, done: chunks.length - missing.length });
    timings.chunks = chunks.length;
    lap('chunkMs');

    const embedder = this.deps.embedderFor(kb);
    const scope = { id: kb.id, dimensions: kb.embeddingDimensions, model: kb.embeddingModel, language: kb.language };
    for (let i = 0; i < missing.length; i += embedder.batchSize) {
      const batch = missing.slice(i, i + embedder.batchSize);
      // The heading path goes into what is embedded, so a passage is found by its section's name too.
      const texts = batch.map((c) => (c.headingPath.length ? `${c.headingPath.join(' › ')}\n\n${c.content}` : c.content));
      const result = await embedder.embed(texts, { signal: this.stopping.signal, tokenCounts: batch.map((c, j) => c.tokenCount + (texts[j]!.length > c.content.length ? countTokens(texts[j]!.slice(0, texts[j]!.length - c.content.length)) : 0)) });
      lap('embedMs');
      await repo.transaction(async (tx) => {
        // Held until commit: a cancel (or a takeover) either waits for this batch or prevents it.
        if (!(await tx.holdsJob(job.id, owner))) throw new JobStopped('cancelled or taken over');
        await tx.insertChunks(
          scope,
          job.entryId,
          job.revisionId,
          batch.map((c, j) => ({ ordinal: c.ordinal, content: c.content, tokenCount: c.tokenCount, metadata: { headingPath: c.headingPath, start: c.start, end: c.end }, embedding: result.vectors[j]! })),
        );
        await this.deps.usage.record(
          {
            userId: job.userId,
            kbId: kb.id,
            kind: 'embedding',
            provider: embedder.provider,
            model: embedder.model,
            promptTokens: result.promptTokens,
            source: result.source,
            latencyMs: result.latencyMs,
            idempotencyKey: `kb-embed:${job.revisionId}:${batch[0]!.ordinal}:${batch.length}`,
          },
          tx.db,
        );
      });
      await beat({ done: chunks.length - missing.length + i + batch.length });
      lap('storeMs');
    }

    await beat({ stage: 'indexing' });
    await repo.transaction(async (tx) => {
      const entry = await tx.lockEntry(job.entryId);
      if (!entry) throw new JobStopped('deleted');
      if ((await tx.countChunks(job.revisionId)) !== chunks.length) throw new Error('chunk count does not match after embedding');
      if (!(await tx.finishJob(job.id, { status: 'succeeded', owner }))) throw new JobStopped('cancelled or taken over');
      const current = entry.currentRevisionId ? await tx.revisionById(entry.currentRevisionId) : undefined;
      // A newer revision that finished first stays current; this one is history straight away.
      if (current && current.number > revision.number) {
        await tx.setRevisionStatus(job.revisionId, 'retired', null, tokenCount);
        await tx.deleteChunksOfRevision(job.revisionId);
        return;
      }
      await tx.setRevisionStatus(job.revisionId, 'ready', null, tokenCount);
      await tx.setCurrentRevision(job.entryId, job.revisionId);
      if (current) {
        await tx.setRevisionStatus(current.id, 'retired');
        await tx.deleteChunksOfRevision(current.id);
      }
    });
    lap('swapMs');
    // A knowledge base that has grown past the exact-scan threshold moves into the HNSW index.
    const grown = await repo.knowledgeBaseOf(kb.id);
    if (grown && grown.vectorIndex !== 'ready' && (await repo.hasAtLeastChunks(kb.id, settings.exactScanMaxChunks))) {
      this.deps.logger.info('kb.vector-index.promote.start', { kbId: kb.id });
      if (await repo.promoteToVectorIndex(kb.id)) this.deps.logger.info('kb.vector-index.promote.done', { kbId: kb.id });
    }
    return timings;
  }
}

/** Provider and database hiccups are worth another attempt; a document that cannot be indexed is not. */
function retryable(err: unknown): boolean {
  if (err instanceof AppError) return err.status >= 500;
  return true;
}
