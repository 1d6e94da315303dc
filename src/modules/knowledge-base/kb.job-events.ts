import type { Logger } from '../../platform/logger';
import type { KbEntriesRepository } from './kb.entries.repository';
import { presentJob, type PublicJob } from './kb.entries.service';

type Listener = (job: PublicJob) => void;

/**
 * One progress feed per process for every connected user's jobs: a single poll of kb_jobs (the
 * workers may be other processes, and PgBouncer rules out LISTEN/NOTIFY) fans out to each user's
 * one SSE stream. The poll runs only while someone listens.
 */
export class JobEvents {
  private readonly listeners = new Map<string, Set<Listener>>();
  private timer?: NodeJS.Timeout;
  private since = new Date(Date.now() - 60_000);
  private readonly sent = new Map<string, string>();

  constructor(
    private readonly repo: KbEntriesRepository,
    private readonly logger: Logger,
    private readonly intervalMs = 1000,
  ) {}

  subscribe(userId: string, listener: Listener): () => void {
    let set = this.listeners.get(userId);
    if (!set) this.listeners.set(userId, (set = new Set()));
    set.add(listener);
    this.timer ??= setInterval(() => void this.poll(), this.intervalMs);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(userId);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** The user's jobs that are still running or ended recently: what a fresh stream starts from. */
  async snapshot(userId: string): Promise<PublicJob[]> {
    return (await this.repo.jobsChangedSince([userId], new Date(Date.now() - 10 * 60_000))).map(presentJob);
  }

  private polling = false;
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      // Overlap the window generously: updated_at is stamped when a statement runs, and its
      // transaction may commit seconds later (the swap); `sent` drops what was already sent.
      const from = new Date(this.since.getTime() - 30_000);
      const jobs = await this.repo.jobsChangedSince([...this.listeners.keys()], from);
      for (const job of jobs) {
        const stamp = job.updatedAt.toISOString();
        if (job.updatedAt > this.since) this.since = job.updatedAt;
        if (this.sent.get(job.id) === stamp) continue;
        this.sent.set(job.id, stamp);
        for (const l of this.listeners.get(job.userId ?? '') ?? []) l(presentJob(job));
      }
      if (this.sent.size > 10_000) this.sent.clear();
    } catch (err) {
      this.logger.warn('kb.jobs.events.poll-failed', { error: (err as Error).message });
    } finally {
      this.polling = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }
}
