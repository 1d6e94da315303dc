import { Client } from 'pg';
import { requireStack, startApp, waitFor, type AppProcess } from '../support/stack';
import { createDatabase } from '../../src/platform/db/client';
import { AuthRepository } from '../../src/modules/auth/auth.repository';
import { PasswordHasher } from '../../src/modules/auth/auth.passwords';
import { captureLogger } from '../support/test-app';
import { fakeEmbeddings } from '../support/embeddings';

/**
 * A slow embedding provider, so a worker can be killed while a document is half embedded. Vectors
 * are derived from the text, so a re-embedded batch is identical to the first attempt; it reports
 * 1001 tokens a text, a figure no tokenizer would produce.
 */
const slowEmbeddings = (delayMs: number) =>
  fakeEmbeddings(
    ({ input }) =>
      new Promise((resolve) =>
        setTimeout(() => resolve({ vectors: input.map((text) => Array.from({ length: 384 }, (_, i) => Math.sin(i + text.length + (text.charCodeAt(i % text.length) || 0)))), promptTokens: 1001 * input.length }), delayMs),
      ),
  );

describe('ingestion survives a killed worker', () => {
  const stack = requireStack();

  it('when the worker process is SIGKILLed mid-embedding, then after a restart the job resumes and finishes once, with exactly the expected chunks and no duplicates', async () => {
    const embed = await slowEmbeddings(250);
    const email = `kill-${Date.now()}@example.com`;
    const password = 'correct horse battery staple 42';
    // Its own account (ADMIN_EMAIL only seeds an instance that has no admin yet).
    const seed = await createDatabase({ url: stack.databaseUrl, poolMax: 1, statementTimeoutMs: 30_000, pgliteDataDir: 'memory://', logger: captureLogger().logger });
    await new AuthRepository(seed.db).insertUser({ email, name: 'Importer', role: 'member', passwordHash: await new PasswordHasher(10).hash(password), emailVerified: true });
    await seed.close();
    const env = {
      EMBEDDING_PROVIDER: 'openai',
      EMBEDDING_BASE_URL: embed.baseUrl,
      EMBEDDING_MODEL: 'fake-embed',
      EMBEDDING_DIMENSIONS: '384',
      EMBEDDING_BATCH_SIZE: '8',
      INGEST_LEASE_SECONDS: '3',
      CREDENTIAL_RATE_LIMIT_MAX: '1000',
    };
    const db = new Client({ connectionString: stack.migrationDatabaseUrl });
    await db.connect();
    let app: AppProcess | undefined;
    try {
      app = await startApp(stack, stack.appPort + 41, env);
      const tok = (await (await fetch(`${app.baseUrl}/api/auth/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email, password }) })).json()) as { access_token: string };
      const auth = { Authorization: `Bearer ${tok.access_token}`, 'Content-Type': 'application/json' };
      const kb = (await (await fetch(`${app.baseUrl}/api/knowledge-bases`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'Killed mid-way' }) })).json()) as { knowledgeBase: { id: string; embedding: { provider: string } } };
      expect(kb.knowledgeBase.embedding.provider).toBe('openai');
      const sections = Array.from({ length: 40 }, (_, i) => `# Section ${i}\n\nSection ${i} explains procedure ${i} in detail: ${'steps and checks '.repeat(20)}`);
      const created = (await (await fetch(`${app.baseUrl}/api/knowledge-bases/${kb.knowledgeBase.id}/entries`, { method: 'POST', headers: auth, body: JSON.stringify({ title: 'Procedures', text: sections.join('\n\n') }) })).json()) as { job: { id: string }; revision: { id: string } };
      const revisionId = created.revision.id;
      const chunkCount = async () => Number((await db.query('SELECT count(*)::int AS n FROM kb_chunks WHERE revision_id = $1', [revisionId])).rows[0].n);

      // Some batches stored, not all: then the worker dies without any chance to clean up.
      await waitFor('a few embedded batches', async () => (await chunkCount()) >= 16);
      app.proc.kill('SIGKILL');
      expect((await app.exited).signal).toBe('SIGKILL');
      const before = await chunkCount();
      const jobAtKill = (await db.query('SELECT status, total FROM kb_jobs WHERE id = $1', [created.job.id])).rows[0];
      expect(jobAtKill.status).toBe('running');
      expect(before).toBeLessThan(jobAtKill.total);

      app = await startApp(stack, stack.appPort + 42, env);
      const job = await waitFor(
        'the resumed job to finish',
        async () => {
          const j = (await db.query('SELECT status, done, total, attempts, error FROM kb_jobs WHERE id = $1', [created.job.id])).rows[0];
          return ['succeeded', 'failed', 'cancelled'].includes(j.status) ? j : undefined;
        },
        60_000,
      );
      expect(job).toMatchObject({ status: 'succeeded', attempts: 2, error: null });
      expect(job.done).toBe(job.total);
      const chunks = (await db.query('SELECT count(*)::int AS n, count(DISTINCT ordinal)::int AS d, min(ordinal) AS lo, max(ordinal) AS hi FROM kb_chunks WHERE revision_id = $1', [revisionId])).rows[0];
      expect(chunks).toEqual({ n: job.total, d: job.total, lo: 0, hi: job.total - 1 });
      const revision = (await db.query('SELECT status FROM kb_revisions WHERE id = $1', [revisionId])).rows[0];
      expect(revision.status).toBe('ready');
      // Every stored batch was counted exactly once, with the provider's own figure (1001 a text).
      const usage = (await db.query("SELECT count(*)::int AS n, sum(prompt_tokens)::int AS tokens, count(DISTINCT idempotency_key)::int AS keys FROM ai_usage WHERE kb_id = $1 AND kind = 'embedding'", [kb.knowledgeBase.id])).rows[0];
      expect(usage.tokens).toBe(1001 * job.total);
      // One row per batch of 8 (batches are stored whole, so the resumed ones line up with the first).
      expect(usage.n).toBe(Math.ceil(job.total / 8));
      // The resumed worker embedded only what was missing (plus at most the batch in flight at the kill).
      const embedded = embed.calls.reduce((a, c) => a + c.input.length, 0);
      expect(embedded).toBeGreaterThanOrEqual(job.total);
      expect(embedded).toBeLessThanOrEqual(job.total + 8);
      expect(app.logs.some((l) => l.message === 'kb.ingest.job.taken-over')).toBe(true);
    } finally {
      await app?.stop('SIGTERM');
      await db.end();
      await embed.close();
    }
  });
});
