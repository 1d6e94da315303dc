import request from 'supertest';
import { createTestApp } from '../test/support/test-app';
import { jobEnd, newKb, person } from '../test/support/kb';
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

  const t = await createTestApp({ INGEST_WORKERS: process.env.INGEST_WORKERS ?? '2', CREDENTIAL_RATE_LIMIT_MAX: '10000', RATE_LIMIT_MAX: '100000' }, { logLevel: 'info' });
  try {
    const { auth } = await person(t);
    const kb = await newKb(t, auth, { name: 'bench ingest' });
    const started = performance.now();
    const jobs = await Promise.all(docs.map(async (text, i) => (await request(t.app).post(`/api/knowledge-bases/${kb.id}/entries`).set(auth).send({ title: `doc ${i}`, text })).body.job.id as string));
    const ended = await Promise.all(jobs.map((id) => jobEnd(t, auth, id, 600_000)));
    const seconds = (performance.now() - started) / 1000;
    const chunks = ended.reduce((n, j) => n + j.total, 0);
    const failed = ended.filter((j) => j.status !== 'succeeded').length;
    const rate = chunks / seconds;
    console.log(`database: ${t.database.kind}, workers: ${process.env.INGEST_WORKERS ?? '2'}, documents: ${docs.length}, chunks: ${chunks}, failed jobs: ${failed}`);
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
