import request from 'supertest';
import { createTestApp } from '../test/support/test-app';
import { sql } from 'drizzle-orm';
import { jobEnd, newKb, person } from '../test/support/kb';
import { rowsOf } from '../src/platform/db/migrate';
import { chunkText } from '../src/modules/knowledge-base';
import { DEFAULT_LOCAL_MODEL, LocalEmbedder } from '../src/modules/knowledge-base/kb.embedder.local';

/** Varied prose: enough distinct words that chunks, vectors and the full-text index are realistic. */
function document(seed: number, paragraphs: number): string {
  const words = ['backup', 'restore', 'invoice', 'policy', 'customer', 'latency', 'deploy', 'rollback', 'budget', 'quarter', 'incident', 'review', 'contract', 'vendor', 'schema', 'index', 'cluster', 'replica', 'holiday', 'payroll', 'security', 'audit', 'release', 'support'];
  let x = seed * 7919 + 1;
  const next = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
  const out: string[] = [`# Document ${seed}`];
  for (let p = 0; p < paragraphs; p++) {
    if (p % 6 === 0) out.push(`## Section ${p / 6 + 1}`);
    const sentence = () => Array.from({ length: 12 + Math.floor(next() * 10) }, () => words[Math.floor(next() * words.length)]).join(' ') + '.';
    out.push(Array.from({ length: 5 }, sentence).join(' '));
  }
  return out.join('\n\n');
}

/**
 * End-to-end ingestion: text uploads through the API → job → chunk → local embedder → bulk insert →
 * swap, measured as chunks per second until every job has finished. The baseline is chunking and
 * embedding the same text in this process without the database (the upper bound).
 */
export async function ingest(): Promise<void> {
  const docs = Array.from({ length: 24 }, (_, i) => document(i, 120));
  const t0 = performance.now();
  let baselineChunks = 0;
  const embedder = LocalEmbedder.forModel(DEFAULT_LOCAL_MODEL, 384, 'english');
  for (const d of docs) for (const c of chunkText(d)) {
    // What ingestion embeds: the heading path and the chunk.
    embedder.embedOne(`${c.headingPath.join(' › ')}\n\n${c.content}`);
    baselineChunks += 1;
  }
  const baseline = baselineChunks / ((performance.now() - t0) / 1000);

  const t = await createTestApp({ INGEST_WORKERS: process.env.INGEST_WORKERS ?? '2', INGEST_THREADS: process.env.INGEST_THREADS ?? '1', CREDENTIAL_RATE_LIMIT_MAX: '10000', RATE_LIMIT_MAX: '100000' }, { logLevel: 'info' });
  try {
    const { auth } = await person(t);
    const kb = await newKb(t, auth, { name: 'bench ingest' });
    // One small document first, so that the run measures a warm process (worker threads started,
    // queries prepared), as a server is after its first minute.
    const warm = await request(t.app).post(`/api/knowledge-bases/${kb.id}/entries`).set(auth).send({ title: 'warm-up', text: document(999, 12) });
    await jobEnd(t, auth, warm.body.job.id as string, 60_000);
    const started = performance.now();
    const jobs = await Promise.all(docs.map(async (text, i) => (await request(t.app).post(`/api/knowledge-bases/${kb.id}/entries`).set(auth).send({ title: `doc ${i}`, text })).body.job.id as string));
    // Watched in the database, one cheap query every 20 ms: polling 24 jobs through the API (as
    // tests do) costs this process more CPU than the ingestion it measures, and the UI's progress
    // stream ticks once a second, too coarse for a run of a few seconds. The end is when the last
    // job finished, by the database's clock.
    const startedAt = Date.now() - (performance.now() - started);
    const ids = sql`ARRAY[${sql.join(jobs.map((id) => sql`${id}::uuid`), sql`, `)}]`;
    let state: { open: number; failed: number; chunks: number; last: Date | string | null };
    for (;;) {
      [state] = rowsOf<typeof state>(
        await t.database.db.execute(sql`SELECT count(*) FILTER (WHERE status IN ('queued', 'running'))::int AS open, count(*) FILTER (WHERE status <> 'succeeded')::int AS failed,
          coalesce(sum(total), 0)::int AS chunks, max(finished_at) AS last FROM kb_jobs WHERE id = ANY(${ids})`),
      ) as [typeof state];
      if (Number(state.open) === 0) break;
      if (performance.now() - started > 600_000) throw new Error('ingestion did not finish in 10 minutes');
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (new Date(state.last!).getTime() - startedAt) / 1000;
    const chunks = Number(state.chunks);
    const failed = Number(state.failed);
    const rate = chunks / seconds;
    console.log(`database: ${t.database.kind}, workers: ${process.env.INGEST_WORKERS ?? '2'}, threads: ${process.env.INGEST_THREADS ?? '1'}, documents: ${docs.length}, chunks: ${chunks}, failed jobs: ${failed}`);
    console.log(`${'chunk + embed only (baseline)'.padEnd(36)} ${baseline.toFixed(0).padStart(7)} chunks/s  ratio 1.00×`);
    console.log(`${'end to end (API → job → index)'.padEnd(36)} ${rate.toFixed(0).padStart(7)} chunks/s  ratio ${(rate / baseline).toFixed(2)}×  (${seconds.toFixed(1)} s)`);
    // Where the workers spent their time, summed over jobs (from the kb.ingest.job.done log lines).
    const done = t.logs.filter((l) => l.message === 'kb.ingest.job.done');
    const sum = (k: string) => done.reduce((n, l) => n + Number(l[k] ?? 0), 0);
    console.log(`worker time per chunk: chunking ${(sum('chunkMs') / chunks).toFixed(2)} ms, embedding ${(sum('embedMs') / chunks).toFixed(2)} ms, storing ${(sum('storeMs') / chunks).toFixed(2)} ms, swap ${(sum('swapMs') / chunks).toFixed(2)} ms`);
  } finally {
    await t.close();
  }
}
