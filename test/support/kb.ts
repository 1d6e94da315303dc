import request from 'supertest';
import { sql } from 'drizzle-orm';
import { rowsOf } from '../../src/platform/db/migrate';
import { createUser } from './auth';
import type { TestApp } from './test-app';

export type Auth = { Authorization: string };

/** A signed-in person (bearer access token) for API tests. */
export async function person(t: TestApp, role: 'admin' | 'member' = 'member') {
  const u = await createUser(t, { role });
  const tok = (await request(t.app).post('/api/auth/token').send({ email: u.email, password: u.password })).body.access_token as string;
  return { u, auth: { Authorization: `Bearer ${tok}` } as Auth };
}

export async function newKb(t: TestApp, auth: Auth, body: Record<string, unknown> = {}) {
  const res = await request(t.app).post('/api/knowledge-bases').set(auth).send({ name: 'Docs', ...body });
  if (res.status !== 201) throw new Error(`knowledge base not created: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.knowledgeBase as { id: string };
}

/** Polls the job through the API until it ends (the worker runs in the test app). */
export async function jobEnd(t: TestApp, auth: Auth, jobId: string, timeoutMs = 25_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await request(t.app).get(`/api/jobs/${jobId}`).set(auth);
    if (res.status !== 200) throw new Error(`job ${jobId}: ${res.status} ${JSON.stringify(res.body)}`);
    const job = res.body.job as { status: string; done: number; total: number; error: string | null; attempts: number; stage: string };
    if (!['queued', 'running'].includes(job.status)) return job;
    if (Date.now() > until) throw new Error(`job ${jobId} still ${job.status} (${job.stage} ${job.done}/${job.total})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function addText(t: TestApp, auth: Auth, kbId: string, title: string, text: string) {
  const res = await request(t.app).post(`/api/knowledge-bases/${kbId}/entries`).set(auth).send({ title, text });
  if (res.status !== 202) throw new Error(`entry not created: ${res.status} ${JSON.stringify(res.body)}`);
  const job = await jobEnd(t, auth, res.body.job.id);
  if (job.status !== 'succeeded') throw new Error(`ingestion ${job.status}: ${job.error}`);
  return res.body as { entry: { id: string }; revision: { id: string; number: number }; job: { id: string } };
}

export async function searchKb(t: TestApp, auth: Auth, kbId: string, q: string, k = 5) {
  const res = await request(t.app).get(`/api/knowledge-bases/${kbId}/search`).query({ q, k }).set(auth);
  if (res.status !== 200) throw new Error(`search: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.hits as { entryId: string; entryTitle: string; revisionNumber: number; revisionId: string; content: string; headingPath: string[] }[];
}

export async function countRows(t: TestApp, table: 'kb_entries' | 'kb_revisions' | 'kb_chunks' | 'kb_jobs', kbId: string): Promise<number> {
  const where = table === 'kb_revisions' ? sql`entry_id IN (SELECT id FROM kb_entries WHERE kb_id = ${kbId})` : sql`kb_id = ${kbId}`;
  const res = await t.database.db.execute(sql`SELECT count(*)::int AS n FROM ${sql.raw(table)} WHERE ${where}`);
  return Number(rowsOf<{ n: number }>(res)[0]?.n ?? 0);
}
