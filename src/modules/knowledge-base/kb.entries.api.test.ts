import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { sql } from 'drizzle-orm';
import { captureLogger, createTestApp, type TestApp } from '../../../test/support/test-app';
import { auditRows, isolatedDatabase } from '../../../test/support/auth';
import { addText, countRows, jobEnd, newKb, person, searchKb } from '../../../test/support/kb';
import { CONTENT_TYPES, deflatedEntry, deflatedZeros, elf, onboardingDocx, pdfWithAction, pdfWithTwoPages, zip } from '../../../test/support/documents';
import { rowsOf } from '../../platform/db/migrate';
import { PDFString } from 'pdf-lib';
import { fakeEmbeddings } from '../../../test/support/embeddings';

const RUNBOOK = '# Runbook\n\n## Restarts\n\nTo restart the payment service run systemctl restart payments on the primary node.\n\n## Backups\n\nBackups run nightly at 02:00 and are kept for 30 days.';

describe('knowledge-base entries, revisions and ingestion', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000', UPLOAD_MAX_MB: '1', URL_IMPORT_ALLOW_CIDRS: '127.0.0.1/32' });
  });
  afterAll(() => t.close());

  it('when text is added, then a job indexes it and search cites the entry, its revision and heading path; embedding tokens are recorded once', async () => {
    const { u, auth } = await person(t);
    const kb = await newKb(t, auth);
    const created = await request(t.app).post(`/api/knowledge-bases/${kb.id}/entries`).set(auth).send({ title: 'On-call runbook', text: RUNBOOK });
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ entry: { title: 'On-call runbook', sourceType: 'text', currentRevision: null }, revision: { number: 1, status: 'pending', format: 'md' }, job: { status: 'queued' } });
    const job = await jobEnd(t, auth, created.body.job.id);
    expect(job).toMatchObject({ status: 'succeeded', stage: 'done', attempts: 1 });
    expect(job.done).toBe(job.total);
    expect(job.total).toBeGreaterThan(0);

    const hits = await searchKb(t, auth, kb.id, 'how do I restart payments?');
    expect(hits[0]).toMatchObject({ entryId: created.body.entry.id, entryTitle: 'On-call runbook', revisionNumber: 1, headingPath: ['Runbook', 'Restarts'] });
    const entry = await request(t.app).get(`/api/knowledge-bases/${kb.id}/entries/${created.body.entry.id}`).set(auth);
    expect(entry.body.entry).toMatchObject({ currentRevision: 1, latestRevision: { number: 1, status: 'ready' } });
    expect(entry.body.revisions[0].tokenCount).toBeGreaterThan(10);

    const usage = rowsOf<{ kind: string; provider: string; prompt_tokens: number; kb_id: string; status: string }>(
      await t.database.db.execute(sql`SELECT kind, provider, prompt_tokens, kb_id, status FROM ai_usage WHERE user_id = ${u.id}`),
    );
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({ kind: 'embedding', provider: 'local', kb_id: kb.id, status: 'complete' });
    const daily = rowsOf<{ requests: number; prompt_tokens: string }>(await t.database.db.execute(sql`SELECT requests, prompt_tokens FROM ai_usage_daily WHERE user_id = ${u.id}`));
    expect(daily).toEqual([{ requests: 1, prompt_tokens: expect.anything() }]);
    expect(Number(daily[0]!.prompt_tokens)).toBe(usage[0]!.prompt_tokens);
    expect(await auditRows(t, { action: 'kb.entry.create', targetId: created.body.entry.id })).toHaveLength(1);
  });

  it('when an entry is edited, then identical content makes no revision, new content replaces the old in search, the diff shows the change and a restore brings it back as a new revision', async () => {
    const { auth } = await person(t);
    const kb = await newKb(t, auth);
    const v1 = await addText(t, auth, kb.id, 'Holiday policy', '# Holidays\n\nEmployees get 20 vacation days per year.');
    const base = `/api/knowledge-bases/${kb.id}/entries/${v1.entry.id}`;

    const same = await request(t.app).post(`${base}/revisions`).set(auth).send({ text: '# Holidays\n\nEmployees get 20 vacation days per year.' });
    expect([same.status, same.body.unchanged, same.body.revision.number, same.body.job]).toEqual([200, true, 1, null]);

    const v2 = await request(t.app).post(`${base}/revisions`).set(auth).send({ text: '# Holidays\n\nEmployees get 25 vacation days per year, booked in the HR portal.' });
    expect([v2.status, v2.body.unchanged, v2.body.revision.number]).toEqual([202, false, 2]);
    expect((await jobEnd(t, auth, v2.body.job.id)).status).toBe('succeeded');
    let hits = await searchKb(t, auth, kb.id, 'vacation days');
    expect(hits.map((h) => h.revisionNumber)).toEqual([2]);
    expect(hits[0]!.content).toContain('25 vacation days');

    const diff = await request(t.app).get(`${base}/diff`).query({ from: 1, to: 2 }).set(auth);
    expect(diff.status).toBe(200);
    expect(diff.body.changed).toBe(true);
    expect(diff.body.diff).toContain('-Employees get 20 vacation days per year.');
    expect(diff.body.diff).toContain('+Employees get 25 vacation days per year, booked in the HR portal.');

    const restored = await request(t.app).post(`${base}/revisions/1/restore`).set(auth);
    expect([restored.status, restored.body.revision.number, restored.body.revision.restoredFrom]).toEqual([202, 3, 1]);
    expect((await jobEnd(t, auth, restored.body.job.id)).status).toBe('succeeded');
    hits = await searchKb(t, auth, kb.id, 'vacation days');
    expect(hits.map((h) => [h.revisionNumber, h.content.includes('20 vacation days')])).toEqual([[3, true]]);

    const history = await request(t.app).get(`${base}/revisions`).set(auth);
    expect(history.body.revisions.map((r: { number: number; status: string; current: boolean }) => [r.number, r.status, r.current])).toEqual([
      [3, 'ready', true],
      [2, 'retired', false],
      [1, 'retired', false],
    ]);
    const one = await request(t.app).get(`${base}/revisions/2`).set(auth);
    expect(one.body.revision.content).toContain('25 vacation days');
    // Retired revisions keep their text but no chunks: only the current one is indexed.
    expect(await countRows(t, 'kb_chunks', kb.id)).toBe(1);
  });

  it('when an entry is deleted, then its passages leave search at once and the other entries stay', async () => {
    const { auth } = await person(t);
    const kb = await newKb(t, auth);
    const gone = await addText(t, auth, kb.id, 'Launch codes', 'The launch code for the demo is blue falcon.');
    const kept = await addText(t, auth, kb.id, 'Launch checklist', 'Before the launch, check the falcon telemetry and the weather.');
    expect((await searchKb(t, auth, kb.id, 'launch falcon')).map((h) => h.entryId).sort()).toEqual([gone.entry.id, kept.entry.id].sort());
    expect((await request(t.app).delete(`/api/knowledge-bases/${kb.id}/entries/${gone.entry.id}`).set(auth)).status).toBe(204);
    expect((await searchKb(t, auth, kb.id, 'launch falcon')).map((h) => h.entryId)).toEqual([kept.entry.id]);
    expect((await request(t.app).get(`/api/knowledge-bases/${kb.id}/entries/${gone.entry.id}`).set(auth)).status).toBe(404);
    const list = await request(t.app).get(`/api/knowledge-bases/${kb.id}/entries`).set(auth);
    expect(list.body.entries.map((e: { id: string }) => e.id)).toEqual([kept.entry.id]);
  });

  it('when a real PDF and DOCX are uploaded, then their text is searchable and the originals download byte for byte', async () => {
    const { auth } = await person(t);
    const kb = await newKb(t, auth);
    const pdf = await pdfWithTwoPages();
    const docx = await onboardingDocx();
    const up = async (bytes: Buffer, name: string) => {
      const res = await request(t.app).post(`/api/knowledge-bases/${kb.id}/entries`).set(auth).attach('file', bytes, { filename: name, contentType: 'application/octet-stream' });
      expect(res.status).toBe(202);
      expect((await jobEnd(t, auth, res.body.job.id)).status).toBe('succeeded');
      return res.body;
    };
    const p = await up(pdf, 'review.pdf');
    const d = await up(docx, 'onboarding.docx');
    expect([p.entry.title, p.revision.format, d.entry.title, d.revision.format]).toEqual(['Quarterly Operations Review', 'pdf', 'Onboarding Guide', 'docx']);
    expect((await searchKb(t, auth, kb.id, 'who restores the backups?'))[0]!.entryId).toBe(p.entry.id);
    const laptop = (await searchKb(t, auth, kb.id, 'when do new hires get a laptop'))[0]!;
    expect([laptop.entryId, laptop.headingPath[0]]).toEqual([d.entry.id, 'Onboarding Guide']);
    const download = await request(t.app).get(`/api/knowledge-bases/${kb.id}/entries/${p.entry.id}/revisions/1/original`).set(auth).buffer(true).parse((res, cb) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => cb(null, Buffer.concat(parts)));
    });
    expect(download.status).toBe(200);
    expect(download.headers['content-type']).toBe('application/pdf');
    expect(download.headers['content-disposition']).toMatch(/^attachment; filename="?review\.pdf"?$/);
    expect(download.headers['content-security-policy']).toContain('sandbox');
    expect(Buffer.compare(download.body as Buffer, pdf)).toBe(0);
  });

  it('when an uploaded file is restored and its knowledge base re-indexed, then every copy downloads the same original while its bytes are stored once', async () => {
    const { auth } = await person(t);
    const kb = await newKb(t, auth);
    const other = await newKb(t, auth, { name: 'Other' });
    const pdf = await pdfWithTwoPages();
    const up = async (kbId: string) => {
      const res = await request(t.app).post(`/api/knowledge-bases/${kbId}/entries`).set(auth).attach('file', pdf, { filename: 'review.pdf', contentType: 'application/pdf' });
      expect((await jobEnd(t, auth, res.body.job.id)).status).toBe('succeeded');
      return res.body.entry.id as string;
    };
    const entryId = await up(kb.id);
    const otherEntry = await up(other.id);
    const base = `/api/knowledge-bases/${kb.id}/entries/${entryId}`;
    const edited = await request(t.app).post(`${base}/revisions`).set(auth).send({ text: '# Quarterly Operations Review\n\nRewritten by hand.' });
    expect((await jobEnd(t, auth, edited.body.job.id)).status).toBe('succeeded');
    const restored = await request(t.app).post(`${base}/revisions/1/restore`).set(auth);
    expect((await jobEnd(t, auth, restored.body.job.id)).status).toBe('succeeded');
    expect((await request(t.app).post(`/api/knowledge-bases/${kb.id}/reindex`).set(auth).send({})).body.jobs).toBe(1);
    for (const j of rowsOf<{ id: string }>(await t.database.db.execute(sql`SELECT id FROM kb_jobs WHERE kb_id = ${kb.id} AND status IN ('queued', 'running')`))) {
      expect((await jobEnd(t, auth, j.id)).status).toBe('succeeded');
    }

    const download = (n: number) =>
      request(t.app).get(`${base}/revisions/${n}/original`).set(auth).buffer(true).parse((res, cb) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => cb(null, Buffer.concat(parts)));
      });
    // 1 upload, 2 typed edit, 3 restore of 1, 4 re-index of 3.
    for (const n of [1, 3, 4]) {
      const res = await download(n);
      expect([n, res.status, res.headers['content-type'], Buffer.compare(res.body as Buffer, pdf)]).toEqual([n, 200, 'application/pdf', 0]);
    }
    expect((await download(2)).headers['content-type']).toBe('text/markdown; charset=utf-8');
    const stored = rowsOf<{ number: number; bytes: number | null }>(
      await t.database.db.execute(sql`SELECT number, octet_length(original) AS bytes FROM kb_revisions WHERE entry_id = ${entryId} ORDER BY number`),
    ).map((r) => [r.number, r.bytes === null ? null : Number(r.bytes)]);
    expect(stored).toEqual([
      [1, pdf.length],
      [2, null],
      [3, null],
      [4, null],
    ]);
    // The same file in another knowledge base keeps its own copy, untouched.
    expect(rowsOf<{ bytes: number }>(await t.database.db.execute(sql`SELECT octet_length(original) AS bytes FROM kb_revisions WHERE entry_id = ${otherEntry}`)).map((r) => Number(r.bytes))).toEqual([pdf.length]);
  });

  it('when hostile or broken files are uploaded, then each gets a clear 4xx and nothing is stored', async () => {
    const { auth } = await person(t);
    const kb = await newKb(t, auth);
    const { deflated, crc } = await deflatedZeros(64 * 1024 * 1024);
    const bomb = zip([deflatedEntry('[Content_Types].xml', CONTENT_TYPES), { name: 'word/document.xml', deflated, declaredSize: 64 * 1024 * 1024, crc }]);
    const js = await pdfWithAction({ Type: 'Action', S: 'JavaScript', JS: PDFString.of('app.alert(1)') } as never, false);
    const cases: [string, Buffer, string, number, string][] = [
      ['renamed executable', elf(), 'report.pdf', 415, 'unsupported-file-type'],
      ['PDF with JavaScript', js, 'invoice.pdf', 422, 'unsafe-document'],
      ['DOCX zip bomb', bomb, 'notes.docx', 422, 'archive-too-large'],
      ['path as the name', Buffer.from('root:x:0:0:root:/root:/bin/bash\n'), '../../etc/passwd', 400, 'invalid-file-name'],
      ['empty file', Buffer.alloc(0), 'empty.txt', 400, 'empty-file'],
      ['over the limit', Buffer.alloc(1024 * 1024 + 10, 'a'), 'big.txt', 413, 'payload-too-large'],
    ];
    for (const [what, bytes, filename, status, code] of cases) {
      // `filepath`: the client library would otherwise send only the base name.
      const res = await request(t.app).post(`/api/knowledge-bases/${kb.id}/entries`).set(auth).attach('file', bytes, { filename, filepath: filename, contentType: 'application/pdf' } as never);
      expect([what, res.status, res.body.error?.code]).toEqual([what, status, code]);
      expect(res.body.error.message.length).toBeGreaterThan(10);
    }
    const neither = await request(t.app).post(`/api/knowledge-bases/${kb.id}/entries`).set(auth).send({ title: 'x' });
    expect([neither.status, neither.body.error.code]).toEqual([400, 'entry-source-required']);
    for (const table of ['kb_entries', 'kb_revisions', 'kb_chunks', 'kb_jobs'] as const) expect([table, await countRows(t, table, kb.id)]).toEqual([table, 0]);
  });

  it('when file names carry non-ASCII letters or dots, then they are kept as sent (a label, never a path)', async () => {
    const { auth } = await person(t);
    const kb = await newKb(t, auth);
    for (const name of ['Überblick ä.txt', 'Q3...final notes.md', '報告.txt']) {
      const res = await request(t.app).post(`/api/knowledge-bases/${kb.id}/entries`).set(auth).attach('file', Buffer.from(`Plain text for ${name}.`), { filename: name, contentType: 'text/plain' });
      expect([name, res.status, res.body.revision?.originalName]).toEqual([name, 202, name]);
    }
  });

  it('when several files are uploaded at once, then every one is indexed exactly once', async () => {
    const { auth } = await person(t);
    const kb = await newKb(t, auth);
    const docs = Array.from({ length: 6 }, (_, i) => `# Team ${i}\n\nTeam ${i} owns service number ${i} and its pager rotation.\n\n${'More detail about the service. '.repeat(60 + i * 20)}`);
    const res = await Promise.all(docs.map((d, i) => request(t.app).post(`/api/knowledge-bases/${kb.id}/entries`).set(auth).attach('file', Buffer.from(d), { filename: `team-${i}.md`, contentType: 'text/markdown' })));
    expect(res.map((r) => r.status)).toEqual(docs.map(() => 202));
    const jobs = await Promise.all(res.map((r) => jobEnd(t, auth, r.body.job.id)));
    expect(jobs.map((j) => j.status)).toEqual(docs.map(() => 'succeeded'));
    const chunks = rowsOf<{ n: number; distinct_n: number }>(
      await t.database.db.execute(sql`SELECT count(*)::int AS n, count(DISTINCT (revision_id, ordinal))::int AS distinct_n FROM kb_chunks WHERE kb_id = ${kb.id}`),
    )[0]!;
    expect(chunks.n).toBe(jobs.reduce((n, j) => n + j.total, 0));
    expect(chunks.distinct_n).toBe(chunks.n);
    expect((await searchKb(t, auth, kb.id, 'who owns service number 4'))[0]!.entryTitle).toBe('Team 4');
  });

  it('when a URL is imported, then a public-looking (allowed) server is fetched, and a private address is refused before anything is stored', async () => {
    const { auth } = await person(t);
    const kb = await newKb(t, auth);
    const server = http.createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html><head><title>Expense policy</title></head><body><h1>Expenses</h1><p>Taxis after 22:00 are reimbursed.</p><script>steal()</script></body></html>'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/policy`;
      const ok = await request(t.app).post(`/api/knowledge-bases/${kb.id}/entries`).set(auth).send({ url });
      expect(ok.status).toBe(202);
      expect(ok.body).toMatchObject({ entry: { title: 'Expense policy', sourceType: 'url' }, revision: { format: 'html', sourceUrl: url } });
      expect((await jobEnd(t, auth, ok.body.job.id)).status).toBe('succeeded');
      const hit = (await searchKb(t, auth, kb.id, 'taxi reimbursement late'))[0]!;
      expect(hit.content).toContain('Taxis after 22:00');
      expect(hit.content).not.toContain('steal');
      for (const bad of ['http://10.0.0.1/', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]/', 'file:///etc/passwd']) {
        const res = await request(t.app).post(`/api/knowledge-bases/${kb.id}/entries`).set(auth).send({ url: bad });
        expect([bad, res.status]).toEqual([bad, 400]);
      }
      expect(await countRows(t, 'kb_entries', kb.id)).toBe(1);
    } finally {
      server.close();
    }
  });

  it("when someone else asks for a private knowledge base's entries, revisions, originals, diffs, jobs and search, then every answer is 404", async () => {
    const owner = await person(t);
    const other = await person(t);
    const kb = await newKb(t, owner.auth);
    const e = await addText(t, owner.auth, kb.id, 'Salaries', 'The CEO earns a lot.');
    const base = `/api/knowledge-bases/${kb.id}/entries/${e.entry.id}`;
    const probes: [string, string, Record<string, unknown>?][] = [
      ['get', `/api/knowledge-bases/${kb.id}/entries`],
      ['post', `/api/knowledge-bases/${kb.id}/entries`, { text: 'mine now' }],
      ['get', base],
      ['patch', base, { title: 'x' }],
      ['delete', base],
      ['get', `${base}/revisions`],
      ['post', `${base}/revisions`, { text: 'changed' }],
      ['get', `${base}/revisions/1`],
      ['get', `${base}/revisions/1/original`],
      ['post', `${base}/revisions/1/restore`],
      ['get', `${base}/diff?from=1&to=1`],
      ['get', `/api/jobs/${e.job.id}`],
      ['post', `/api/jobs/${e.job.id}/cancel`],
      ['get', `/api/knowledge-bases/${kb.id}/search?q=CEO`],
    ];
    for (const [method, path, body] of probes) {
      const r = request(t.app)[method as 'get'](path).set(other.auth);
      const res = body ? await r.send(body) : await r;
      expect([method, path, res.status]).toEqual([method, path, 404]);
    }
    // The owner still has everything.
    expect((await request(t.app).get(`${base}/revisions/1`).set(owner.auth)).body.revision.content).toBe('The CEO earns a lot.');
  });

  it('when a job is cancelled before any worker takes it, then it ends cancelled with nothing indexed, and a finished job cannot be cancelled', async () => {
    // A database of its own with no worker anywhere: the job waits in the queue for sure.
    const iso = await isolatedDatabase(captureLogger().logger);
    const idle = await createTestApp({ INGEST_WORKERS: '0', CREDENTIAL_RATE_LIMIT_MAX: '10000' }, { database: iso.database });
    try {
      const { auth } = await person(idle);
      const kb = await newKb(idle, auth);
      const res = await request(idle.app).post(`/api/knowledge-bases/${kb.id}/entries`).set(auth).send({ title: 'Draft', text: 'Soon to be cancelled.' });
      const cancel = await request(idle.app).post(`/api/jobs/${res.body.job.id}/cancel`).set(auth);
      expect([cancel.status, cancel.body.job.status]).toEqual([200, 'cancelled']);
      expect(await auditRows(idle, { action: 'kb.job.cancel', targetId: res.body.job.id })).toHaveLength(1);
      const entry = await request(idle.app).get(`/api/knowledge-bases/${kb.id}/entries/${res.body.entry.id}`).set(auth);
      expect(entry.body.entry).toMatchObject({ currentRevision: null, latestRevision: { status: 'failed' } });
      expect(await countRows(idle, 'kb_chunks', kb.id)).toBe(0);
      const again = await request(idle.app).post(`/api/jobs/${res.body.job.id}/cancel`).set(auth);
      expect([again.status, again.body.error.code]).toEqual([409, 'job-finished']);
    } finally {
      await idle.close();
      await iso.drop();
    }
  });

  it('when a job is cancelled while a worker is embedding, then the batch in flight is not stored, nothing of the revision stays indexed, and the provider is asked no more', async () => {
    let release: () => void = () => {};
    const provider = await fakeEmbeddings(({ n, input }) => {
      const answer = { vectors: input.map((_, index) => Array.from({ length: 384 }, (_, i) => Math.cos(i + index))), promptTokens: 5 * input.length };
      // The second call hangs until the test has cancelled: it is the batch in flight.
      if (n === 2) return new Promise((resolve) => (release = () => resolve(answer)));
      return new Promise((resolve) => setTimeout(() => resolve(answer), 20));
    });
    const iso = await isolatedDatabase(captureLogger().logger);
    const app = await createTestApp(
      { CREDENTIAL_RATE_LIMIT_MAX: '10000', EMBEDDING_PROVIDER: 'openai', EMBEDDING_MODEL: 'fake', EMBEDDING_BASE_URL: provider.baseUrl, EMBEDDING_BATCH_SIZE: '4' },
      { database: iso.database },
    );
    try {
      const { auth } = await person(app);
      const kb = await newKb(app, auth);
      const text = Array.from({ length: 16 }, (_, i) => `# Part ${i}\n\n${'Careful words about part number. '.repeat(40)}`).join('\n\n');
      const res = await request(app.app).post(`/api/knowledge-bases/${kb.id}/entries`).set(auth).send({ title: 'Long', text });
      const until = Date.now() + 15_000;
      while (provider.calls.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(provider.calls.length).toBe(2);
      expect(await countRows(app, 'kb_chunks', kb.id)).toBe(4);
      const cancel = await request(app.app).post(`/api/jobs/${res.body.job.id}/cancel`).set(auth);
      expect([cancel.status, cancel.body.job.status]).toEqual([200, 'cancelled']);
      release();
      await new Promise((r) => setTimeout(r, 1500));
      expect(await countRows(app, 'kb_chunks', kb.id)).toBe(0);
      expect(provider.calls.length).toBe(2);
      const entry = await request(app.app).get(`/api/knowledge-bases/${kb.id}/entries/${res.body.entry.id}`).set(auth);
      expect(entry.body.entry).toMatchObject({ currentRevision: null, latestRevision: { status: 'failed' } });
    } finally {
      await app.close();
      await iso.drop();
      await provider.close();
    }
  });

  it('when two large revisions differ everywhere, then the diff answers 422 in bounded time instead of stalling the server', async () => {
    const iso = await isolatedDatabase(captureLogger().logger);
    const idle = await createTestApp({ INGEST_WORKERS: '0', CREDENTIAL_RATE_LIMIT_MAX: '10000' }, { database: iso.database });
    try {
      const { auth } = await person(idle);
      const kb = await newKb(idle, auth);
      const lines = (tag: string) => Array.from({ length: 12_000 }, (_, i) => `${tag} line ${i} ${(i * 7919) % 1000}`).join('\n');
      const first = await request(idle.app).post(`/api/knowledge-bases/${kb.id}/entries`).set(auth).send({ title: 'Big', text: lines('alpha') });
      const base = `/api/knowledge-bases/${kb.id}/entries/${first.body.entry.id}`;
      expect((await request(idle.app).post(`${base}/revisions`).set(auth).send({ text: lines('omega') })).status).toBe(202);
      const diff = await request(idle.app).get(`${base}/diff`).query({ from: 1, to: 2 }).set(auth);
      expect([diff.status, diff.body.error.code]).toEqual([422, 'diff-too-large']);
      const huge = await request(idle.app).get(`${base}/diff`).query({ from: 1, to: 99999999999 }).set(auth);
      expect(huge.status).toBe(400);
    } finally {
      await idle.close();
      await iso.drop();
    }
  });

  it('when a user listens to the job stream, then the progress of their upload arrives until it succeeds, and nobody else sees it', async () => {
    const { auth } = await person(t);
    const other = await person(t);
    const kb = await newKb(t, auth);
    const server = t.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    const listen = (a: { Authorization: string }) => {
      const events: { status: string; entryId: string; done: number; total: number }[] = [];
      const req = http.get({ host: '127.0.0.1', port, path: '/api/jobs/events', headers: a });
      const ready = new Promise<void>((resolve) =>
        req.on('response', (res) => {
          let buf = '';
          res.on('data', (c: Buffer) => {
            buf += c.toString();
            for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
              const block = buf.slice(0, i);
              buf = buf.slice(i + 2);
              if (block.startsWith('event: ready')) resolve();
              const data = /^event: job\ndata: (.*)$/m.exec(block)?.[1];
              if (data) events.push(JSON.parse(data));
            }
          });
        }),
      );
      return { events, ready, close: () => req.destroy() };
    };
    const mine = listen(auth);
    const theirs = listen(other.auth);
    try {
      await Promise.all([mine.ready, theirs.ready]);
      const res = await request(t.app).post(`/api/knowledge-bases/${kb.id}/entries`).set(auth).send({ title: 'Streamed', text: 'Progress bars need events. '.repeat(400) });
      await jobEnd(t, auth, res.body.job.id);
      const until = Date.now() + 5000;
      while (!mine.events.some((e) => e.status === 'succeeded') && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      const forEntry = mine.events.filter((e) => e.entryId === res.body.entry.id);
      expect(forEntry.at(-1)).toMatchObject({ status: 'succeeded' });
      expect(forEntry.at(-1)!.done).toBe(forEntry.at(-1)!.total);
      expect(theirs.events.filter((e) => e.entryId === res.body.entry.id)).toEqual([]);
    } finally {
      mine.close();
      theirs.close();
      server.close();
    }
  });

  it('when a knowledge base is re-indexed with another embedding size and language, then every entry gets a re-index revision, the search uses the new settings, and nothing else changes', async () => {
    const { auth } = await person(t);
    const kb = await newKb(t, auth);
    const houses = await addText(t, auth, kb.id, 'Renovierung', 'Die alten Häuser am Markt werden im Sommer renoviert.');
    const other = await addText(t, auth, kb.id, 'Kantine', 'Die Kantine öffnet um zwölf Uhr.');
    const untouched = await newKb(t, auth, { name: 'Untouched' });
    await addText(t, auth, untouched.id, 'Note', 'Nothing to see.');
    // English stemming does not relate "Haus" to "Häuser": only the vector leg finds it.
    expect((await searchKb(t, auth, kb.id, 'Haus'))[0]).toMatchObject({ entryId: houses.entry.id, textRank: null } as never);

    // The instance now embeds with 256 dimensions (EMBEDDING_DIMENSIONS changed): re-index there.
    const t2 = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000', EMBEDDING_DIMENSIONS: '256' }, { database: t.database });
    try {
      const res = await request(t2.app).post(`/api/knowledge-bases/${kb.id}/reindex`).set(auth).send({ language: 'german' });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ jobs: 2, knowledgeBase: { language: 'german', embedding: { provider: 'local', dimensions: 256 } } });
      const jobs = rowsOf<{ id: string }>(await t.database.db.execute(sql`SELECT id FROM kb_jobs WHERE kb_id = ${kb.id} AND status IN ('queued', 'running')`));
      for (const j of jobs) expect((await jobEnd(t2, auth, j.id)).status).toBe('succeeded');
      const hit = (await searchKb(t2, auth, kb.id, 'Haus'))[0] as unknown as { entryId: string; textRank: number | null; revisionNumber: number };
      expect([hit.entryId, hit.revisionNumber, hit.textRank]).toEqual([houses.entry.id, 2, 1]);
      const history = await request(t2.app).get(`/api/knowledge-bases/${kb.id}/entries/${other.entry.id}/revisions`).set(auth);
      expect(history.body.revisions.map((r: { number: number; reindex: boolean; current: boolean; contentHash: string }) => [r.number, r.reindex, r.current])).toEqual([
        [2, true, true],
        [1, false, false],
      ]);
      const dims = rowsOf<{ d: number }>(await t.database.db.execute(sql`SELECT DISTINCT embedding_dimensions AS d FROM kb_chunks WHERE kb_id = ${kb.id}`));
      expect(dims).toEqual([{ d: 256 }]);
      const kept = rowsOf<{ d: number; lang: string }>(await t.database.db.execute(sql`SELECT DISTINCT embedding_dimensions AS d, language::text AS lang FROM kb_chunks WHERE kb_id = ${untouched.id}`));
      expect(kept).toEqual([{ d: 384, lang: 'english' }]);
      expect(await auditRows(t, { action: 'kb.reindex', targetId: kb.id })).toHaveLength(1);
      const stranger = await person(t);
      expect((await request(t2.app).post(`/api/knowledge-bases/${kb.id}/reindex`).set(stranger.auth).send({})).status).toBe(404);
    } finally {
      await t2.close();
    }
  });

  it('when a re-index to another model of the same size is under way, then vectors of the old model are never compared with the new one', async () => {
    const provider = await fakeEmbeddings(({ input }) => ({ vectors: input.map(() => Array.from({ length: 384 }, (_, i) => Math.sin(i))), promptTokens: 3 }));
    const iso = await isolatedDatabase(captureLogger().logger);
    const local = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000' }, { database: iso.database });
    // The instance switched to a remote 384-d model; no worker runs, so the re-index stays pending.
    const remote = await createTestApp(
      { CREDENTIAL_RATE_LIMIT_MAX: '10000', INGEST_WORKERS: '0', EMBEDDING_PROVIDER: 'openai', EMBEDDING_MODEL: 'other-384', EMBEDDING_BASE_URL: provider.baseUrl },
      { database: iso.database },
    );
    try {
      const { auth } = await person(local);
      const kb = await newKb(local, auth);
      await addText(local, auth, kb.id, 'Backups', 'Backups run nightly and are kept for thirty days.');
      await local.close();
      const re = await request(remote.app).post(`/api/knowledge-bases/${kb.id}/reindex`).set(auth).send({});
      expect([re.status, re.body.knowledgeBase.embedding]).toEqual([202, { provider: 'openai', model: 'other-384', dimensions: 384 }]);
      const res = await request(remote.app).get(`/api/knowledge-bases/${kb.id}/search`).query({ q: 'how long are backups kept' }).set(auth);
      expect(res.status).toBe(200);
      // Full text still finds the entry; the vector leg has nothing of the current model yet.
      expect(res.body.hits.map((h: { entryTitle: string; vectorRank: number | null; textRank: number | null }) => [h.entryTitle, h.vectorRank, h.textRank !== null])).toEqual([['Backups', null, true]]);
    } finally {
      await remote.close();
      await iso.drop();
      await provider.close();
    }
  });

  it('when a knowledge base still has a job waiting, then a re-index is refused with 409 and changes nothing', async () => {
    const iso = await isolatedDatabase(captureLogger().logger);
    // No worker anywhere on this database: the job stays queued.
    const idle = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000', INGEST_WORKERS: '0' }, { database: iso.database });
    try {
      const { auth } = await person(idle);
      const kb = await newKb(idle, auth);
      await request(idle.app).post(`/api/knowledge-bases/${kb.id}/entries`).set(auth).send({ title: 'Waiting', text: 'Queued text.' });
      const res = await request(idle.app).post(`/api/knowledge-bases/${kb.id}/reindex`).set(auth).send({ language: 'german' });
      expect([res.status, res.body.error.code]).toEqual([409, 'reindex-busy']);
      expect((await request(idle.app).get(`/api/knowledge-bases/${kb.id}`).set(auth)).body.knowledgeBase.language).toBe('english');
      expect(await countRows(idle, 'kb_revisions', kb.id)).toBe(1);
    } finally {
      await idle.close();
      await iso.drop();
    }
  });

  it('when a knowledge base grows past the exact-scan size, then its chunks move into the HNSW index and its search takes the HNSW plan, while a small one stays out', async () => {
    const iso = await isolatedDatabase(captureLogger().logger);
    const app = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000', KB_EXACT_SCAN_MAX_CHUNKS: '12' }, { database: iso.database });
    try {
      const { auth } = await person(app);
      const big = await newKb(app, auth, { name: 'Big' });
      const small = await newKb(app, auth, { name: 'Small' });
      const sections = (n: number, topic: string) => Array.from({ length: n }, (_, i) => `# ${topic} ${i}\n\n${`${topic} procedure ${i} explained step by step. `.repeat(45)}`).join('\n\n');
      await addText(app, auth, small.id, 'Few', sections(3, 'Payroll'));
      await addText(app, auth, big.id, 'Many', sections(14, 'Backup'));
      const state = async (kbId: string) =>
        rowsOf<{ vector_index: string; n: number; indexed: number }>(
          await iso.database.db.execute(sql`SELECT k.vector_index, count(c.id)::int AS n, count(c.id) FILTER (WHERE c.in_vector_index)::int AS indexed FROM knowledge_bases k LEFT JOIN kb_chunks c ON c.kb_id = k.id WHERE k.id = ${kbId} GROUP BY k.vector_index`),
        )[0]!;
      // The move into the index follows the job that grew the knowledge base (the job has already
      // ended when addText returns): until it is ready, search keeps the exact plan.
      let b = await state(big.id);
      for (const until = Date.now() + 15_000; b.vector_index !== 'ready' && Date.now() < until; b = await state(big.id)) await new Promise((r) => setTimeout(r, 50));
      expect(b.n).toBeGreaterThanOrEqual(12);
      expect(b).toEqual({ vector_index: 'ready', n: b.n, indexed: b.n });
      const s = await state(small.id);
      expect(s).toEqual({ vector_index: 'none', n: s.n, indexed: 0 });
      const plan = async (kbId: string) => (await request(app.app).get(`/api/knowledge-bases/${kbId}/search`).query({ q: 'backup procedure 7' }).set(auth)).body as { plan: string; hits: { entryTitle: string; headingPath: string[] }[] };
      expect((await plan(big.id)).plan).toBe('hnsw');
      expect((await plan(big.id)).hits[0]!.headingPath).toEqual(['Backup 7']);
      expect((await plan(small.id)).plan).toBe('exact');
      // Later chunks of the big one go straight into the index.
      await addText(app, auth, big.id, 'More', sections(2, 'Restore'));
      const after = await state(big.id);
      expect(after).toEqual({ vector_index: 'ready', n: after.n, indexed: after.n });
      expect(after.n).toBeGreaterThan(b.n);
    } finally {
      await app.close();
      await iso.drop();
    }
  });
});
