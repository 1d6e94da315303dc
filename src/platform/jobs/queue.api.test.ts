import { captureLogger, openTestDatabase } from '../../../test/support/test-app';
import type { Database } from '../db/client';
import { createJobQueue, type JobQueue } from './queue';

describe('job queue (pg-boss)', () => {
  let database: Database;
  let queue: JobQueue;
  beforeAll(async () => {
    database = await openTestDatabase(captureLogger().logger);
    queue = createJobQueue(database, captureLogger().logger);
    await queue.start();
  });
  afterAll(async () => {
    await queue.stop();
    await database.close();
  });

  it('when a job is sent, then a worker receives its data, and a failing job is retried', async () => {
    const seen: { data: Record<string, unknown>; retryCount: number }[] = [];
    const marker = `m-${Date.now()}-${Math.random()}`;
    const done = new Promise<void>((resolve) => {
      void queue.work('kb-ingest', { workers: 1, pollingIntervalSeconds: 0.5 }, async (data, job) => {
        if (data.marker !== marker) return;
        seen.push({ data, retryCount: job.retryCount });
        if (job.retryCount === 0) throw new Error('first attempt fails on purpose');
        resolve();
      });
    });
    await queue.send('kb-ingest', { marker }, { retryLimit: 2, retryDelaySeconds: 1 });
    await done;
    expect(seen.map((s) => s.retryCount)).toEqual([0, 1]);
    expect(seen[0]!.data).toEqual({ marker });
  });
});
