import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { sql } from 'drizzle-orm';
import { captureLogger, createTestApp, openTestDatabase, unique, type TestApp } from '../../../test/support/test-app';
import { addText, newKb, person } from '../../../test/support/kb';
import { ask, fakeOpenAi, parseSse, streamTurn, withApp } from '../../../test/support/llm';
import { rowsOf } from '../../platform/db/migrate';

type UsageRow = { price_known: boolean; status: string; source: string; prompt_tokens: number; completion_tokens: number; reserved_tokens: number; message_id: string | null; provider: string; model: string; kind: string; cost: string };
const usageOf = async (t: TestApp, conversationId: string) =>
  rowsOf<UsageRow>(await t.database.db.execute(sql`SELECT price_known, status, source, prompt_tokens, completion_tokens, reserved_tokens, message_id, provider, model, kind, cost::text AS cost FROM ai_usage WHERE conversation_id = ${conversationId} AND kind = 'chat' ORDER BY created_at`));

describe('agents', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000' });
  });
  afterAll(() => t.close());

  it('when the app has started, then the default Assistant exists, searches everything its caller may read, and everyone may use it', async () => {
    const { auth } = await person(t);
    const res = await request(t.app).get('/api/agents').set(auth);
    expect(res.status).toBe(200);
    const assistant = res.body.agents.find((a: { isDefault: boolean }) => a.isDefault);
    expect(assistant).toMatchObject({ slug: 'assistant', name: 'Assistant', knowledgeBaseIds: 'all', visibility: 'everyone', archived: false });
    // Members see what an agent is for, not its instructions.
    expect(assistant.systemPrompt).toBeUndefined();
  });

  it('when an admin creates agents, then a private knowledge base on an agent for everyone is refused with the reason, an admins-only agent stays hidden from members, and members cannot create any', async () => {
    const admin = await person(t, 'admin');
    const member = await person(t);
    const privateKb = await newKb(t, admin.auth, { name: 'Board papers' });
    const sharedKb = await newKb(t, admin.auth, { name: 'Handbook', visibility: 'organization' });
    const slug = `hr-${Date.now().toString(36)}`;

    const refused = await request(t.app).post('/api/agents').set(admin.auth).send({ slug, name: 'HR', knowledgeBaseIds: [privateKb.id] });
    expect([refused.status, refused.body.error.code]).toEqual([422, 'agent-knowledge-base-private']);
    expect(refused.body.error.message).toContain('"Board papers"');
    const created = await request(t.app).post('/api/agents').set(admin.auth).send({ slug, name: 'HR', systemPrompt: 'Be brief.', knowledgeBaseIds: [sharedKb.id], maxOutputTokens: 300 });
    expect(created.status).toBe(201);
    expect(created.body.agent).toMatchObject({ slug, knowledgeBaseIds: [sharedKb.id], systemPrompt: 'Be brief.', maxOutputTokens: 300 });
    expect((await request(t.app).post('/api/agents').set(admin.auth).send({ slug, name: 'Again' })).status).toBe(409);
    const secret = await request(t.app).post('/api/agents').set(admin.auth).send({ slug: `${slug}-board`, name: 'Board', visibility: 'admins', knowledgeBaseIds: [privateKb.id] });
    expect(secret.status).toBe(201);

    const seen = (await request(t.app).get('/api/agents').set(member.auth)).body.agents.map((a: { slug: string }) => a.slug);
    expect(seen).toContain(slug);
    expect(seen).not.toContain(`${slug}-board`);
    expect((await request(t.app).get(`/api/agents/${slug}-board`).set(member.auth)).status).toBe(404);
    expect((await request(t.app).post('/api/agents').set(member.auth).send({ slug: `${slug}-x`, name: 'X' })).status).toBe(403);
    expect((await request(t.app).post('/api/agents').set(admin.auth).send({ slug: 'Not A Slug', name: 'X' })).status).toBe(400);

    // Archived: gone for members and for new conversations.
    expect((await request(t.app).delete(`/api/agents/${created.body.agent.id}`).set(admin.auth)).status).toBe(204);
    expect((await request(t.app).get('/api/agents').set(member.auth)).body.agents.map((a: { slug: string }) => a.slug)).not.toContain(slug);
    expect((await request(t.app).post('/api/conversations').set(member.auth).send({ agent: slug })).status).toBe(404);
    expect((await request(t.app).get(`/api/agents/${secret.body.agent.id}`).set(admin.auth)).body.agent.archived).toBe(false);
  });
});

describe('conversations with the built-in extractive provider', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000' });
  });
  afterAll(() => t.close());

  it('when a document\'s bare title matches the question as well as its sentences, then the answer quotes the sentences; when only a title matches, then the title is quoted', async () => {
    const { auth } = await person(t);
    const kb = await newKb(t, auth, { name: unique('leave') });
    const word = unique('sabbatical').replace(/[^a-z]/g, '');
    await addText(t, auth, kb.id, `${word} rules`, `${word}\n\nEvery ${word} lasts three months and is paid at half salary.`);
    await addText(t, auth, kb.id, `${word} form`, `${word}form`);
    const answerTo = async (q: string) => {
      const conv = (await request(t.app).post('/api/conversations').set(auth).send({})).body.conversation.id as string;
      return (await ask(t.app, auth, conv, q)).events.filter((e) => e.event === 'delta').map((e) => e.data.text).join('');
    };
    const full = await answerTo(`How long does a ${word} last?`);
    expect(full).toContain(`Every ${word} lasts three months`);
    expect(full).not.toMatch(new RegExp(`> ${word} \\[\\d\\]`));
    expect(await answerTo(`Where is the ${word}form?`)).toMatch(new RegExp(`> ${word}form \\[\\d\\]`));
  });

  it('when the turn fails right after its first event (the question\'s transaction fails to commit), then the stream still ends with an error event, and nothing of the turn is kept', async () => {
    const { u, auth } = await person(t);
    const conv = (await request(t.app).post('/api/conversations').set(auth).send({})).body.conversation.id as string;
    const marker = unique('refuse').replace(/-/g, '_');
    // Checked at COMMIT, after the meta event went out: on PGlite all of it happens within one turn of the event loop.
    await t.database.db.execute(sql.raw(`CREATE FUNCTION ${marker}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$`));
    await t.database.db.execute(sql.raw(`CREATE CONSTRAINT TRIGGER ${marker} AFTER INSERT ON agent_messages DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.content LIKE '%${marker}%') EXECUTE FUNCTION ${marker}()`));
    try {
      const res = await ask(t.app, auth, conv, `Is this kept? ${marker}`);
      expect(res.status).toBe(200);
      expect(res.events.map((e) => e.event)).toEqual(['meta', 'error']);
      expect(res.events[1]!.data).toEqual({ code: 'chat-failed', message: 'The answer failed on the server; try again.' });
    } finally {
      await t.database.db.execute(sql.raw(`DROP TRIGGER IF EXISTS ${marker} ON agent_messages`));
      await t.database.db.execute(sql.raw(`DROP FUNCTION IF EXISTS ${marker}()`));
    }
    expect((await request(t.app).get(`/api/conversations/${conv}`).set(auth)).body.messages).toEqual([]);
    expect(rowsOf(await t.database.db.execute(sql`SELECT id FROM ai_usage WHERE user_id = ${u.id}`))).toEqual([]);
    // The next question of the same conversation is answered as usual.
    expect((await ask(t.app, auth, conv, 'And this one?')).events.at(-1)?.event).toBe('done');
  });

  it('when a member asks the default agent, then the answer streams with citations of the right revision, and the message and an estimated usage row are written once', async () => {
    const { u, auth } = await person(t);
    const kb = await newKb(t, auth, { name: 'Mine' });
    const doc = await addText(t, auth, kb.id, 'Travel policy', '# Travel policy\n\n## Hotels\n\nHotel stays are reimbursed up to 180 euros per night in Berlin and 150 elsewhere.\n\n## Trains\n\nSecond class is the rule for trains under four hours.');
    // Someone else's private document says otherwise: it must never be cited to this member.
    const other = await person(t);
    const otherKb = await newKb(t, other.auth, { name: 'Theirs' });
    await addText(t, other.auth, otherKb.id, 'Secret travel policy', 'Hotel stays are reimbursed up to 900 euros per night for executives.');

    const conv = await request(t.app).post('/api/conversations').set(auth).send({});
    expect(conv.status).toBe(201);
    const id = conv.body.conversation.id as string;
    const res = await ask(t.app, auth, id, 'How much is reimbursed for a hotel night in Berlin?');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('text/event-stream');
    const names = res.events.map((e) => e.event);
    expect(names[0]).toBe('meta');
    expect(names.filter((n) => n === 'delta').length).toBeGreaterThan(1);
    expect(names.slice(-3)).toEqual(['citations', 'usage', 'done']);
    const answer = res.events.filter((e) => e.event === 'delta').map((e) => e.data.text).join('');
    expect(answer).toContain('180 euros');
    expect(answer).toMatch(/\[1\]/);
    const citations = res.events.find((e) => e.event === 'citations')!.data.citations as { n: number; entryId: string; revisionId: string; revisionNumber: number; entryTitle: string; quote: string }[];
    expect(citations[0]).toMatchObject({ n: 1, entryId: doc.entry.id, revisionId: doc.revision.id, revisionNumber: 1, entryTitle: 'Travel policy' });
    expect(citations[0]!.quote).toContain('180 euros');
    expect(JSON.stringify(res.events)).not.toContain('900 euros');

    const meta = res.events[0]!.data as { assistantMessageId: string; userMessageId: string };
    const done = res.events.at(-1)!.data as { messageId: string; status: string };
    expect(done).toEqual({ messageId: meta.assistantMessageId, status: 'complete' });
    const detail = await request(t.app).get(`/api/conversations/${id}`).set(auth);
    expect(detail.body.conversation.title).toBe('How much is reimbursed for a hotel night in Berlin?');
    expect(detail.body.messages.map((m: { role: string; status: string; parentId: string | null }) => [m.role, m.status])).toEqual([
      ['user', 'complete'],
      ['assistant', 'complete'],
    ]);
    expect(detail.body.messages[1]).toMatchObject({ id: meta.assistantMessageId, parentId: meta.userMessageId, content: answer, model: 'extractive' });

    const usage = await usageOf(t, id);
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({ price_known: true, status: 'complete', source: 'estimated', kind: 'chat', provider: 'extractive', model: 'extractive', reserved_tokens: 0, message_id: meta.assistantMessageId, cost: '0.0000000000' });
    const usageEvent = res.events.find((e) => e.event === 'usage')!.data;
    expect(usageEvent).toMatchObject({ promptTokens: usage[0]!.prompt_tokens, completionTokens: usage[0]!.completion_tokens, source: 'estimated' });
    expect(usage[0]!.completion_tokens).toBeGreaterThan(0);
    const daily = rowsOf<{ requests: number }>(await t.database.db.execute(sql`SELECT requests FROM ai_usage_daily WHERE user_id = ${u.id} AND kind = 'chat'`));
    expect(daily.map((d) => Number(d.requests))).toEqual([1]);
  });

  it("when a knowledge base an agent holds stops being readable by a member, then that member's answers never cite it, while those who may read it still get it", async () => {
    const admin = await person(t, 'admin');
    const member = await person(t);
    const kb = await newKb(t, admin.auth, { name: 'Pay bands', visibility: 'organization' });
    const doc = await addText(t, admin.auth, kb.id, 'Pay bands', 'Engineering pay band four runs from 80000 to 95000 euros.');
    const slug = `pay-${Date.now().toString(36)}`;
    expect((await request(t.app).post('/api/agents').set(admin.auth).send({ slug, name: 'Pay', knowledgeBaseIds: [kb.id] })).status).toBe(201);
    const question = 'What is the range of pay band four in engineering?';
    const askAs = async (auth: Record<string, string>) => {
      const conv = (await request(t.app).post('/api/conversations').set(auth).send({ agent: slug })).body.conversation;
      const res = await ask(t.app, auth, conv.id, question);
      return res.events.find((e) => e.event === 'citations')!.data.citations as { entryId: string }[];
    };
    expect((await askAs(member.auth)).map((c) => c.entryId)).toContain(doc.entry.id);
    // The owner takes it back: the agent still lists it, but the member may no longer read it.
    expect((await request(t.app).patch(`/api/knowledge-bases/${kb.id}`).set(admin.auth).send({ visibility: 'private' })).status).toBe(200);
    expect(await askAs(member.auth)).toEqual([]);
    expect((await askAs(admin.auth)).map((c) => c.entryId)).toContain(doc.entry.id);
  });

  it('when one knowledge base the caller may read is embedded with a provider this instance no longer has, then answers still draw on the others, and a search of only that one says why it cannot run', async () => {
    const { auth } = await person(t);
    const gone = await newKb(t, auth, { name: 'Embedded elsewhere', visibility: 'private' });
    await addText(t, auth, gone.id, 'Old notes', 'The quartermaster keeps the keys to the boathouse.');
    // As if EMBEDDING_PROVIDER had been changed since: this instance has no such embedder.
    await t.database.db.execute(sql`UPDATE knowledge_bases SET embedding_provider = 'openai', embedding_model = 'retired-model' WHERE id = ${gone.id}`);
    const kept = await newKb(t, auth, { name: 'Current', visibility: 'private' });
    await addText(t, auth, kept.id, 'Boathouse', 'The boathouse opens at seven for the rowing club.');
    const conv = (await request(t.app).post('/api/conversations').set(auth).send({ agent: 'assistant' })).body.conversation;
    const res = await ask(t.app, auth, conv.id, 'When does the boathouse open?');
    expect(res.events.at(-1)!.event).toBe('done');
    const cited = (res.events.find((e) => e.event === 'citations')!.data as { citations: { kbId: string }[] }).citations.map((c) => c.kbId);
    expect(cited).toContain(kept.id);
    expect(cited).not.toContain(gone.id);
    const alone = await request(t.app).get(`/api/knowledge-bases/${gone.id}/search`).query({ q: 'boathouse' }).set(auth);
    expect([alone.status, alone.body.error.message]).toEqual([expect.any(Number), expect.stringMatching(/not configured/)]);
    expect(alone.status).toBeGreaterThanOrEqual(400);
    expect(alone.status).toBeLessThan(500);
  });

  it('when nothing relevant is found, then the answer says so and how to configure a model', async () => {
    // An agent of its own over an empty knowledge base: what other tests left in a shared database
    // (which the default agent would search) cannot make something relevant.
    const admin = await person(t, 'admin');
    const empty = await newKb(t, admin.auth, { name: 'Empty', visibility: 'organization' });
    const slug = `empty-${Date.now().toString(36)}`;
    expect((await request(t.app).post('/api/agents').set(admin.auth).send({ slug, name: 'Empty', knowledgeBaseIds: [empty.id] })).status).toBe(201);
    const { auth } = await person(t);
    const conv = await request(t.app).post('/api/conversations').set(auth).send({ agent: slug });
    const res = await ask(t.app, auth, conv.body.conversation.id, 'What is the airspeed velocity of an unladen swallow?');
    const answer = res.events.filter((e) => e.event === 'delta').map((e) => e.data.text).join('');
    expect(answer).toMatch(/couldn't find anything/);
    expect(answer).toContain('LLM_PROVIDER');
    expect(res.events.find((e) => e.event === 'citations')!.data.citations).toEqual([]);
  });

  it("when someone lists, searches, renames and deletes conversations, then only their own are touched, and others' answer 404", async () => {
    const me = await person(t);
    const stranger = await person(t);
    const a = (await request(t.app).post('/api/conversations').set(me.auth).send({ title: 'Quarterly numbers' })).body.conversation;
    const b = (await request(t.app).post('/api/conversations').set(me.auth).send({})).body.conversation;
    await ask(t.app, me.auth, b.id, 'Where is the zeppelin hangar?');
    const theirs = (await request(t.app).post('/api/conversations').set(stranger.auth).send({ title: 'Quarterly numbers too' })).body.conversation;

    const list = await request(t.app).get('/api/conversations').set(me.auth);
    expect(list.body.conversations.map((c: { id: string }) => c.id)).toEqual([b.id, a.id]);
    expect((await request(t.app).get('/api/conversations').query({ q: 'zeppelin' }).set(me.auth)).body.conversations.map((c: { id: string }) => c.id)).toEqual([b.id]);
    expect((await request(t.app).get('/api/conversations').query({ q: 'quarterly' }).set(me.auth)).body.conversations.map((c: { id: string }) => c.id)).toEqual([a.id]);

    for (const [method, path, body] of [
      ['get', `/api/conversations/${theirs.id}`, undefined],
      ['patch', `/api/conversations/${theirs.id}`, { title: 'Mine now' }],
      ['delete', `/api/conversations/${theirs.id}`, undefined],
      ['post', `/api/conversations/${theirs.id}/messages`, { content: 'hello' }],
      ['post', `/api/conversations/${theirs.id}/regenerate`, {}],
      ['get', `/api/conversations/${theirs.id}/export`, undefined],
    ] as const) {
      const res = await request(t.app)[method](path).set(me.auth).send(body);
      expect([method, path, res.status, res.body.error?.code]).toEqual([method, path, 404, 'conversation-not-found']);
    }
    expect((await request(t.app).patch(`/api/conversations/${a.id}`).set(me.auth).send({ title: 'Renamed' })).body.conversation.title).toBe('Renamed');
    expect((await request(t.app).delete(`/api/conversations/${b.id}`).set(me.auth)).status).toBe(204);
    expect((await request(t.app).get('/api/conversations').set(me.auth)).body.conversations.map((c: { id: string }) => c.id)).toEqual([a.id]);
    expect((await request(t.app).get(`/api/conversations/${theirs.id}`).set(stranger.auth)).body.conversation.title).toBe('Quarterly numbers too');
    // The deleted conversation's spending stays in the books.
    expect(rowsOf<{ n: number }>(await t.database.db.execute(sql`SELECT count(*)::int AS n FROM ai_usage WHERE user_id = ${me.u.id} AND kind = 'chat'`))[0]!.n).toBe(1);
  });

  it('when the last answer is regenerated and an earlier question edited, then each is a new branch beside the old one, and the export shows the current branch in Markdown and every message in JSON', async () => {
    const { auth } = await person(t);
    const kb = await newKb(t, auth);
    await addText(t, auth, kb.id, 'Parking', 'Visitors park in bay C. Employees park in the underground garage with their badge.');
    const conv = (await request(t.app).post('/api/conversations').set(auth).send({ title: 'Parking questions' })).body.conversation;
    const first = await ask(t.app, auth, conv.id, 'Where do visitors park?');
    const firstAnswer = (first.events[0]!.data as { assistantMessageId: string }).assistantMessageId;
    const second = await ask(t.app, auth, conv.id, 'And employees?');
    const secondMeta = second.events[0]!.data as { userMessageId: string; assistantMessageId: string };

    const again = await request(t.app).post(`/api/conversations/${conv.id}/regenerate`).set(auth).send({}).buffer(true).parse((r, cb) => {
      let b = '';
      r.setEncoding('utf8');
      r.on('data', (c: string) => (b += c));
      r.on('end', () => cb(null, b));
    });
    expect(again.status).toBe(200);
    const regenerated = parseSse(again.body as string);
    expect(regenerated.map((e) => e.event)).toEqual(expect.arrayContaining(['meta', 'delta', 'citations', 'usage', 'done']));
    const regenMeta = regenerated[0]!.data as { userMessageId: string; assistantMessageId: string };
    // The same question, a new answer beside the old one.
    expect(regenMeta.userMessageId).toBe(secondMeta.userMessageId);
    expect(regenMeta.assistantMessageId).not.toBe(secondMeta.assistantMessageId);

    // Editing the second question: a new question under the first answer.
    const edited = await ask(t.app, auth, conv.id, 'And where do employees park their bikes?', { parentId: firstAnswer });
    const editedMeta = edited.events[0]!.data as { userMessageId: string };
    const messages = (await request(t.app).get(`/api/conversations/${conv.id}`).set(auth)).body.messages as { id: string; parentId: string | null; role: string }[];
    expect(messages).toHaveLength(7);
    expect(messages.filter((m) => m.parentId === secondMeta.userMessageId).map((m) => m.id).sort()).toEqual([secondMeta.assistantMessageId, regenMeta.assistantMessageId].sort());
    expect(messages.find((m) => m.id === editedMeta.userMessageId)!.parentId).toBe(firstAnswer);
    // Two questions now follow the first answer: the original follow-up and the edited one.
    expect(messages.filter((m) => m.parentId === firstAnswer)).toHaveLength(2);

    const md = await request(t.app).get(`/api/conversations/${conv.id}/export`).set(auth);
    expect(md.status).toBe(200);
    expect(md.headers['content-type']).toContain('text/markdown');
    expect(md.headers['content-disposition']).toContain('attachment; filename="Parking questions.md"');
    expect(md.text).toContain('# Parking questions');
    expect(md.text).toContain('Where do visitors park?');
    expect(md.text).toContain('bikes');
    expect(md.text).not.toContain('And employees?');
    expect(md.text).toMatch(/- \[1\] Parking, revision 1: "/);
    const json = await request(t.app).get(`/api/conversations/${conv.id}/export`).query({ format: 'json' }).set(auth);
    expect(JSON.parse(json.text).messages).toHaveLength(7);
    expect((await request(t.app).get(`/api/conversations/${conv.id}/export`).query({ format: 'pdf' }).set(auth)).status).toBe(400);
    // A title in any script downloads (an ASCII fallback name, the real one in filename*).
    await request(t.app).patch(`/api/conversations/${conv.id}`).set(auth).send({ title: 'Парковка для гостей' });
    const cyrillic = await request(t.app).get(`/api/conversations/${conv.id}/export`).set(auth);
    expect(cyrillic.status).toBe(200);
    expect(cyrillic.headers['content-disposition']).toContain(`filename*=UTF-8''${encodeURIComponent('Парковка для гостей.md')}`);
    const notAnswer = await request(t.app).post(`/api/conversations/${conv.id}/regenerate`).set(auth).send({ messageId: editedMeta.userMessageId });
    expect([notAnswer.status, notAnswer.body.error.code]).toEqual([422, 'not-an-answer']);
  });

  it('when a message is empty, too long, or follows a question instead of an answer, then it is refused with a clear 4xx and nothing is written', async () => {
    const { auth } = await person(t);
    const conv = (await request(t.app).post('/api/conversations').set(auth).send({})).body.conversation;
    expect((await ask(t.app, auth, conv.id, '   ')).status).toBe(400);
    expect((await ask(t.app, auth, conv.id, 'x'.repeat(32_001))).status).toBe(400);
    const first = await ask(t.app, auth, conv.id, 'Hello there');
    const userMessageId = (first.events[0]!.data as { userMessageId: string }).userMessageId;
    const wrong = await ask(t.app, auth, conv.id, 'Again', { parentId: userMessageId });
    expect([wrong.status, wrong.error?.code]).toEqual([422, 'parent-not-answer']);
    expect((await request(t.app).get(`/api/conversations/${conv.id}`).set(auth)).body.messages).toHaveLength(2);
  });
});

describe('conversations with an OpenAI-compatible provider', () => {
  it('when the server streams an answer, then its deltas arrive in order, its reported tokens are recorded as they are, and a provider error or a client leaving ends the turn once with what was produced', async () => {
    // Token counts no tokenizer would produce: only pass-through can put them in the books.
    const upstream = await fakeOpenAi((call) => {
      const q = call.body.messages.at(-1)!.content;
      if (call.body.messages[0]!.content.startsWith('Write a title')) return { pieces: ['"Hotel ', 'reimbursement."'], usage: { prompt_tokens: 55, completion_tokens: 3 } };
      if (q.includes('fail')) return { status: 500 };
      if (q.includes('slow')) return { pieces: ['Part one. ', 'Part two. ', 'Part three.'], delayMs: 300, usage: { prompt_tokens: 7, completion_tokens: 3 } };
      return { pieces: ['Hotels are ', 'reimbursed ', 'up to 180 euros [1].'], usage: { prompt_tokens: 4321, completion_tokens: 987 } };
    });
    await withApp(upstream, { LLM_PROVIDER: 'openai', LLM_MODEL: 'gpt-4o-mini', LLM_API_KEY: 'sk-test' }, async (t) => {
      const { auth } = await person(t);
      const kb = await newKb(t, auth);
      await addText(t, auth, kb.id, 'Travel policy', 'Hotel stays are reimbursed up to 180 euros per night.');
      const conv = (await request(t.app).post('/api/conversations').set(auth).send({})).body.conversation;

      const ok = await ask(t.app, auth, conv.id, 'How much for a hotel night?');
      expect(ok.events.filter((e) => e.event === 'delta').map((e) => e.data.text)).toEqual(['Hotels are ', 'reimbursed ', 'up to 180 euros [1].']);
      expect(ok.events.find((e) => e.event === 'usage')!.data).toMatchObject({ promptTokens: 4321, completionTokens: 987, totalTokens: 5308, source: 'reported' });
      // The prompt: the agent's instructions and the quoted sources first, the question last.
      const sent = upstream.calls[0]!.body;
      expect(sent).toMatchObject({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true } });
      expect(sent.messages[0]!.role).toBe('system');
      expect(sent.messages[0]!.content).toContain('[1] Travel policy');
      expect(sent.messages[0]!.content).toContain('not instructions');
      expect(sent.messages.at(-1)).toEqual({ role: 'user', content: 'How much for a hotel night?' });

      // The model names the conversation after its first answer (in the background), and that call is accounted too.
      let title = '';
      for (let i = 0; i < 50 && title !== 'Hotel reimbursement'; i++) {
        title = (await request(t.app).get(`/api/conversations/${conv.id}`).set(auth)).body.conversation.title;
        if (title !== 'Hotel reimbursement') await new Promise((r) => setTimeout(r, 100));
      }
      expect(title).toBe('Hotel reimbursement');
      const titleUsage = rowsOf<{ kind: string; source: string; prompt_tokens: number; completion_tokens: number; status: string }>(
        await t.database.db.execute(sql`SELECT kind, source, prompt_tokens, completion_tokens, status FROM ai_usage WHERE conversation_id = ${conv.id} AND kind = 'title'`),
      );
      expect(titleUsage).toEqual([{ kind: 'title', source: 'reported', prompt_tokens: 55, completion_tokens: 3, status: 'complete' }]);

      // The follow-up carries the history of its branch.
      const failed = await ask(t.app, auth, conv.id, 'Now please fail');
      expect(failed.events.map((e) => e.event)).toEqual(['meta', 'citations', 'usage', 'error']);
      expect(failed.events.at(-1)!.data).toMatchObject({ code: 'provider-error' });
      expect(upstream.calls.at(-1)!.body.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
      // Failures before the first token are retried (twice, with backoff) before the turn gives up.
      expect(upstream.calls.filter((c) => c.body.messages.at(-1)!.content.includes('fail'))).toHaveLength(3);
      // The failed answer said nothing: the next question's history leaves it out (no empty turn).
      await ask(t.app, auth, conv.id, 'Just checking in');
      expect(upstream.calls.at(-1)!.body.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user', 'user']);
      expect(upstream.calls.at(-1)!.body.messages.every((m) => m.content !== '')).toBe(true);

      // A client that leaves mid-answer: the upstream call is aborted, the partial answer kept.
      const server = await new Promise<http.Server>((resolve) => {
        const s = t.app.listen(0, '127.0.0.1', () => resolve(s));
      });
      const left = await streamTurn((server.address() as AddressInfo).port, auth, conv.id, 'Tell me slowly', (body) => (body.includes('Part one') ? 'leave' : undefined));
      expect(left.left).toBe(true);
      await new Promise((r) => setTimeout(r, 1500));
      await new Promise<void>((r) => server.close(() => r()));
      expect(upstream.aborted()).toBe(1);

      const messages = (await request(t.app).get(`/api/conversations/${conv.id}`).set(auth)).body.messages as { role: string; status: string; content: string; error: string | null }[];
      expect(messages.filter((m) => m.role === 'assistant').map((m) => m.status)).toEqual(['complete', 'error', 'complete', 'aborted']);
      expect(messages.at(-1)!.content).toBe('Part one. ');
      const usage = await usageOf(t, conv.id);
      expect(usage.map((u) => [u.status, u.source, u.prompt_tokens, u.completion_tokens])).toEqual([
        ['complete', 'reported', 4321, 987],
        ['error', 'estimated', expect.any(Number), 0],
        ['complete', 'reported', 4321, 987],
        ['aborted', 'estimated', expect.any(Number), expect.any(Number)],
      ]);
      expect(usage.every((u) => u.provider === 'openai' && u.model === 'gpt-4o-mini')).toBe(true);
      // Priced from the seeded list price of gpt-4o-mini ($0.15 in, $0.60 out per million), exactly.
      expect(usage[0]!.cost).toBe('0.0012403500');
      expect(ok.events.find((e) => e.event === 'usage')!.data.cost).toBe('0.0012403500');
    });
  }, 60_000);
});

describe('provider failures', () => {
  it('when a provider sends no first token, then the turn ends with provider-timeout; after repeated failures its circuit opens, calls are refused at once with 503 and nothing spent, readiness reports it without failing, and a trial call later closes it', async () => {
    const upstream = await fakeOpenAi((call) => {
      const q = call.body.messages.at(-1)!.content;
      if (q.includes('hang')) return { pieces: ['never'], hangAfter: 0 };
      if (q.includes('fail')) return { status: 503 };
      return { pieces: ['Fine.'], usage: { prompt_tokens: 11, completion_tokens: 2 } };
    });
    await withApp(upstream, { LLM_PROVIDER: 'openai', LLM_MODEL: 'local-model', LLM_MAX_RETRIES: '0', LLM_FIRST_TOKEN_TIMEOUT_MS: '1000', LLM_BREAKER_RESET_MS: '1500' }, async (t) => {
      const { auth } = await person(t);
      const conv = (await request(t.app).post('/api/conversations').set(auth).send({})).body.conversation;
      const started = Date.now();
      const hung = await ask(t.app, auth, conv.id, 'Please hang');
      expect(hung.events.at(-1)).toMatchObject({ event: 'error', data: { code: 'provider-timeout' } });
      expect(Date.now() - started).toBeLessThan(5_000);
      for (let i = 0; i < 2; i++) expect((await ask(t.app, auth, conv.id, 'Please fail')).events.at(-1)).toMatchObject({ event: 'error', data: { code: 'provider-error' } });

      const ready = await request(t.app).get('/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.checks.providers).toEqual({ openai: { type: 'openai', state: 'open' } });
      const calls = upstream.calls.length;
      const rows = (await usageOf(t, conv.id)).length;
      const refused = await ask(t.app, auth, conv.id, 'Are you there?');
      expect([refused.status, refused.error?.code, refused.headers['retry-after']]).toEqual([503, 'provider-unavailable', '30']);
      expect(upstream.calls.length).toBe(calls);
      expect((await usageOf(t, conv.id)).length).toBe(rows);

      await new Promise((r) => setTimeout(r, 1_700));
      const back = await ask(t.app, auth, conv.id, 'Are you there now?');
      expect(back.events.at(-1)).toMatchObject({ event: 'done', data: { status: 'complete' } });
      expect((await request(t.app).get('/health/ready')).body.checks.providers.openai.state).toBe('closed');
      const usage = await usageOf(t, conv.id);
      expect(usage.map((u) => u.status)).toEqual(['error', 'error', 'error', 'complete']);
    });
  }, 60_000);
});

describe('shutdown with answers streaming', () => {
  it('when the server shuts down while answers stream, then each stream ends with a final event and each answer is saved aborted with its partial text and one finalised usage row', async () => {
    const upstream = await fakeOpenAi(() => ({ pieces: ['One. ', 'Two. ', 'Three. ', 'Four. ', 'Five.'], delayMs: 250, usage: { prompt_tokens: 5, completion_tokens: 5 } }));
    const database = await openTestDatabase(captureLogger().logger);
    const t = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000', LLM_PROVIDER: 'openai', LLM_BASE_URL: upstream.baseUrl, LLM_MODEL: 'gpt-4o-mini', LLM_MAX_RETRIES: '0' }, { database });
    const server = await new Promise<http.Server>((resolve) => {
      const s = t.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const { auth } = await person(t);
      const convs = await Promise.all([0, 1, 2].map(async () => (await request(t.app).post('/api/conversations').set(auth).send({})).body.conversation.id as string));
      const { port } = server.address() as AddressInfo;
      let firstDeltas = 0;
      let everyoneStarted: () => void;
      const started = new Promise<void>((r) => (everyoneStarted = r));
      const counted = new Set<string>();
      const streams = convs.map(async (id) => {
        const { body } = await streamTurn(port, auth, id, 'Count slowly', (sofar) => {
          if (!counted.has(id) && sofar.includes('event: delta')) {
            counted.add(id);
            if (++firstDeltas === convs.length) everyoneStarted();
          }
        });
        return body;
      });
      await started;
      await t.close();
      const bodies = await Promise.all(streams);
      for (const body of bodies) {
        const events = parseSse(body);
        expect(events.at(-1)).toMatchObject({ event: 'done', data: { status: 'aborted' } });
        expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['meta', 'delta', 'citations', 'usage']));
      }
      for (const id of convs) {
        const msgs = rowsOf<{ role: string; status: string; content: string }>(await database.db.execute(sql`SELECT role, status, content FROM agent_messages WHERE conversation_id = ${id} ORDER BY created_at`));
        expect(msgs.map((m) => [m.role, m.status])).toEqual([
          ['user', 'complete'],
          ['assistant', 'aborted'],
        ]);
        expect(msgs[1]!.content.startsWith('One. ')).toBe(true);
        expect(msgs[1]!.content.length).toBeLessThan('One. Two. Three. Four. Five.'.length);
        const usage = rowsOf<{ status: string }>(await database.db.execute(sql`SELECT status FROM ai_usage WHERE conversation_id = ${id}`));
        expect(usage).toEqual([{ status: 'aborted' }]);
      }
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      await upstream.close();
      await database.close();
    }
  }, 60_000);
});

describe('many streams at once', () => {
  it('when 50 answers stream at once and a third of their clients leave midway, then every upstream call has exactly one usage row, reported tokens are recorded as reported, and the daily sums equal the rows', async () => {
    // Each call reports its own token counts, so a row can only match its own call.
    const upstream = await fakeOpenAi((call) => ({ pieces: ['Alpha ', 'beta ', 'gamma ', 'delta.'], delayMs: 40 + (call.n % 5) * 20, usage: { prompt_tokens: 1000 + call.n, completion_tokens: 10 + (call.n % 7) } }));
    const t = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000', RATE_LIMIT_MAX: '100000', LLM_PROVIDER: 'openai', LLM_BASE_URL: upstream.baseUrl, LLM_MODEL: 'gpt-4o-mini', LLM_MAX_RETRIES: '0' });
    const server = await new Promise<http.Server>((resolve) => {
      const s = t.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const { u, auth } = await person(t);
      const { port } = server.address() as AddressInfo;
      const N = 50;
      const convs = await Promise.all(Array.from({ length: N }, async () => (await request(t.app).post('/api/conversations').set(auth).send({})).body.conversation.id as string));
      // Which clients leave: a fixed pseudo-random third.
      const leaves = (i: number) => (i * 7919) % 3 === 0;
      const outcomes = await Promise.all(
        convs.map(
          (id, i) =>
            streamTurn(port, auth, id, `Question number ${i}`, (body) => (leaves(i) && body.includes('event: delta') ? 'leave' : undefined)).then(({ body, left }): 'left' | 'done' =>
              !left && body.includes('event: done') ? 'done' : 'left',
            ),
        ),
      );
      expect(outcomes.filter((o) => o === 'left').length).toBe(convs.filter((_, i) => leaves(i)).length);
      // The server finishes the answers of clients that left on its own; wait for the last of them.
      type Row = { status: string; source: string; prompt_tokens: number; completion_tokens: number; cost: string; question: string };
      let rows: Row[] = [];
      for (let i = 0; i < 100; i++) {
        rows = rowsOf<Row>(
          await t.database.db.execute(sql`SELECT u.status, u.source, u.prompt_tokens, u.completion_tokens, u.cost::text AS cost, q.content AS question
            FROM ai_usage u JOIN agent_messages a ON a.id = u.message_id JOIN agent_messages q ON q.id = a.parent_id WHERE u.user_id = ${u.id} AND u.kind = 'chat'`),
        );
        const pending = rowsOf<{ n: number }>(await t.database.db.execute(sql`SELECT count(*)::int AS n FROM ai_usage WHERE user_id = ${u.id} AND status = 'pending'`))[0]!.n;
        if (rows.length === N && Number(pending) === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(rows).toHaveLength(N);
      expect(upstream.calls.filter((c) => !c.body.messages[0]!.content.startsWith('Write a title'))).toHaveLength(N);
      const byQuestion = new Map(upstream.calls.map((c) => [c.body.messages.at(-1)!.content, c.n]));
      for (const r of rows) {
        const n = byQuestion.get(r.question)!;
        if (r.status === 'complete') expect([r.question, r.source, r.prompt_tokens, r.completion_tokens]).toEqual([r.question, 'reported', 1000 + n, 10 + (n % 7)]);
        else expect([r.question, r.status, r.source]).toEqual([r.question, 'aborted', 'estimated']);
      }
      expect(rows.filter((r) => r.status === 'aborted').length).toBe(outcomes.filter((o) => o === 'left').length);
      const [raw] = rowsOf<{ n: number; p: number; c: number; cost: string }>(await t.database.db.execute(sql`SELECT count(*)::int AS n, sum(prompt_tokens)::int AS p, sum(completion_tokens)::int AS c, sum(cost)::text AS cost FROM ai_usage WHERE user_id = ${u.id} AND kind = 'chat'`));
      const [daily] = rowsOf<{ n: number; p: number; c: number; cost: string }>(await t.database.db.execute(sql`SELECT sum(requests)::int AS n, sum(prompt_tokens)::int AS p, sum(completion_tokens)::int AS c, sum(cost)::text AS cost FROM ai_usage_daily WHERE user_id = ${u.id} AND kind = 'chat'`));
      expect(daily).toEqual(raw);
      expect(Number(raw!.n)).toBe(N);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      await t.close();
      await upstream.close();
    }
  }, 120_000);
});

describe('a conversation deleted while its answer streams', () => {
  it('when the conversation goes while the answer streams, then the stream ends with an error event and the call is still accounted, never left pending', async () => {
    const upstream = await fakeOpenAi(() => ({ pieces: ['One. ', 'Two. ', 'Three.'], delayMs: 300, usage: { prompt_tokens: 17, completion_tokens: 3 } }));
    const t = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000', LLM_PROVIDER: 'openai', LLM_BASE_URL: upstream.baseUrl, LLM_MODEL: 'gpt-4o-mini', LLM_MAX_RETRIES: '0' });
    const server = await new Promise<http.Server>((resolve) => {
      const s = t.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const { u, auth } = await person(t);
      const conv = (await request(t.app).post('/api/conversations').set(auth).send({})).body.conversation;
      const { port } = server.address() as AddressInfo;
      let deleted: Promise<number> | undefined;
      const { body } = await streamTurn(port, auth, conv.id, 'Count slowly', (sofar) => {
        if (!deleted && sofar.includes('event: delta')) deleted = request(t.app).delete(`/api/conversations/${conv.id}`).set(auth).then((r) => r.status);
      });
      expect(await deleted).toBe(204);
      expect(parseSse(body).at(-1)).toMatchObject({ event: 'error', data: { code: 'answer-not-saved' } });
      const rows = rowsOf<{ status: string; conversation_id: string | null }>(await t.database.db.execute(sql`SELECT status, conversation_id FROM ai_usage WHERE user_id = ${u.id} AND kind = 'chat'`));
      expect(rows).toEqual([{ status: 'error', conversation_id: null }]);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      await t.close();
      await upstream.close();
    }
  }, 60_000);
});

describe('an answer whose end the database refuses to write', () => {
  it('when neither the answer nor its usage end can be written, then the stream ends with an error event, the row stays pending only until the database writes again, and then it is finalised with the tokens the upstream reported and counted in the daily sums once', async () => {
    const upstream = await fakeOpenAi(() => ({ pieces: ['One. ', 'Two.'], usage: { prompt_tokens: 4321, completion_tokens: 12 } }));
    await withApp(upstream, { LLM_PROVIDER: 'openai', LLM_MODEL: 'gpt-4o-mini', LLM_MAX_RETRIES: '0' }, async (t) => {
      const suffix = Date.now().toString(36);
      const { u, auth } = await person(t);
      const other = await person(t);
      const conv = (await request(t.app).post('/api/conversations').set(auth).send({})).body.conversation;
      const otherConv = (await request(t.app).post('/api/conversations').set(other.auth).send({})).body.conversation;
      expect((await ask(t.app, other.auth, otherConv.id, 'First, for someone else')).events.at(-1)?.event).toBe('done');
      // Fault injection in the database itself: every update of this user's usage rows fails.
      await t.database.db.execute(sql.raw(`CREATE FUNCTION refuse_usage_${suffix}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$`));
      await t.database.db.execute(sql.raw(`CREATE TRIGGER refuse_usage_${suffix} BEFORE UPDATE ON ai_usage FOR EACH ROW WHEN (OLD.user_id = '${u.id}'::uuid) EXECUTE FUNCTION refuse_usage_${suffix}()`));
      let dropped = false;
      try {
        const { events } = await ask(t.app, auth, conv.id, 'Count, please');
        expect(events.at(-1)?.event).toBe('error');
        const pending = rowsOf<{ status: string }>(await t.database.db.execute(sql`SELECT status FROM ai_usage WHERE user_id = ${u.id} AND kind = 'chat'`));
        expect(pending).toEqual([{ status: 'pending' }]);
        // While the database still refuses, a retry fails and the end is kept.
        expect(await t.chat.retryUnwrittenUsage()).toEqual({ written: 0, failed: 1, superseded: 0 });
        await t.database.db.execute(sql.raw(`DROP TRIGGER refuse_usage_${suffix} ON ai_usage`));
        await t.database.db.execute(sql.raw(`DROP FUNCTION refuse_usage_${suffix}()`));
        dropped = true;
      } finally {
        if (!dropped) {
          await t.database.db.execute(sql.raw(`DROP TRIGGER IF EXISTS refuse_usage_${suffix} ON ai_usage`));
          await t.database.db.execute(sql.raw(`DROP FUNCTION IF EXISTS refuse_usage_${suffix}()`));
        }
      }
      // What the heartbeat's sweep does first (called here rather than waited for: a fast sweep
      // would also finalise other test files' orphaned rows in a shared database).
      expect(await t.chat.retryUnwrittenUsage()).toEqual({ written: 1, failed: 0, superseded: 0 });
      const rows = rowsOf<{ status: string; prompt_tokens: number; completion_tokens: number; source: string }>(await t.database.db.execute(sql`SELECT status, prompt_tokens, completion_tokens, source FROM ai_usage WHERE user_id = ${u.id} AND kind = 'chat'`));
      expect(rows).toEqual([{ status: 'error', prompt_tokens: 4321, completion_tokens: 12, source: 'reported' }]);
      expect(await t.chat.retryUnwrittenUsage()).toEqual({ written: 0, failed: 0, superseded: 0 });
      const daily = rowsOf<{ prompt_tokens: string }>(await t.database.db.execute(sql`SELECT sum(prompt_tokens)::text AS prompt_tokens FROM ai_usage_daily WHERE user_id = ${u.id} AND kind = 'chat'`));
      expect(daily[0]!.prompt_tokens).toBe('4321');
      // The other user's answer and its row are as they were.
      const theirs = rowsOf<{ status: string; prompt_tokens: number }>(await t.database.db.execute(sql`SELECT status, prompt_tokens FROM ai_usage WHERE user_id = ${other.u.id} AND kind = 'chat'`));
      expect(theirs).toEqual([{ status: 'complete', prompt_tokens: 4321 }]);
      const their = await request(t.app).get(`/api/conversations/${otherConv.id}`).set(other.auth);
      expect(their.body.messages.map((m: { role: string; status: string }) => `${m.role}:${m.status}`)).toEqual(['user:complete', 'assistant:complete']);
    });
  }, 60_000);
});

describe('an upstream reporting token counts no column can hold', () => {
  it('when the upstream reports a negative and a fractional count, then the answer is still saved and its call accounted once, with the counts made whole and non-negative', async () => {
    const upstream = await fakeOpenAi(() => ({ pieces: ['Fine.'], usage: { prompt_tokens: -1, completion_tokens: 12.5 } }));
    await withApp(upstream, { LLM_PROVIDER: 'openai', LLM_MODEL: 'gpt-4o-mini', LLM_MAX_RETRIES: '0' }, async (t) => {
      const { u, auth } = await person(t);
      const conv = (await request(t.app).post('/api/conversations').set(auth).send({})).body.conversation;
      const { events } = await ask(t.app, auth, conv.id, 'Is it fine?');
      expect(events.at(-1)).toMatchObject({ event: 'done', data: { status: 'complete' } });
      const rows = rowsOf<{ status: string; prompt_tokens: number; completion_tokens: number }>(await t.database.db.execute(sql`SELECT status, prompt_tokens, completion_tokens FROM ai_usage WHERE user_id = ${u.id} AND kind = 'chat'`));
      expect(rows).toEqual([{ status: 'complete', prompt_tokens: 0, completion_tokens: 13 }]);
    });
  }, 60_000);
});
