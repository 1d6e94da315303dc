import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import OpenAI from 'openai';
import request from 'supertest';
import { sql } from 'drizzle-orm';
import { createTestApp, type TestApp } from '../../../test/support/test-app';
import { addText, newKb, person } from '../../../test/support/kb';
import { fakeOpenAi } from '../../../test/support/llm';
import { rowsOf } from '../../platform/db/migrate';

/** The OpenAI-compatible API, driven by the official OpenAI SDK as programs use it. */
describe('OpenAI-compatible API (/v1)', () => {
  let upstream: Awaited<ReturnType<typeof fakeOpenAi>>;
  let t: TestApp;
  let server: Server;
  let client: OpenAI;
  let keyId: string;
  let userId: string;

  beforeAll(async () => {
    upstream = await fakeOpenAi((call) => ({ pieces: ['Hotels: ', 'up to 180 euros ', '[1].'], usage: { prompt_tokens: 3001 + call.n, completion_tokens: 77 } }));
    t = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000', LLM_PROVIDER: 'openai', LLM_BASE_URL: upstream.baseUrl, LLM_MODEL: 'gpt-4o-mini' });
    const { u, auth } = await person(t);
    userId = u.id;
    const kb = await newKb(t, auth);
    await addText(t, auth, kb.id, 'Travel policy', 'Hotel stays are reimbursed up to 180 euros per night.');
    const key = await request(t.app).post('/api/keys').set(auth).send({ name: 'sdk', scopes: ['chat'] });
    keyId = key.body.key.id;
    server = await new Promise<Server>((resolve) => {
      const s = t.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    client = new OpenAI({ baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, apiKey: key.body.secret, maxRetries: 0 });
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await t.close();
    await upstream.close();
  });

  it('when a program lists models, then it sees the agents it may use by slug', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('assistant');
    expect(models.data[0]).toMatchObject({ object: 'model', owned_by: 'hearth' });
  });

  it('when a program asks without streaming, then the answer, finish_reason and the provider-reported usage come back, the agent prompt comes first and the client system message after it, and the call is accounted to its key', async () => {
    const before = upstream.calls.length;
    const res = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'system', content: 'Answer in English.' }, { role: 'user', content: 'How much for a hotel night?' }] });
    expect(res.object).toBe('chat.completion');
    expect(res.model).toBe('assistant');
    expect(res.choices[0]).toMatchObject({ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'Hotels: up to 180 euros [1].' } });
    expect(res.usage).toEqual({ prompt_tokens: 3001 + before + 1, completion_tokens: 77, total_tokens: 3001 + before + 1 + 77 });
    const sent = upstream.calls.at(-1)!.body.messages;
    expect(sent.map((m) => m.role)).toEqual(['system', 'system', 'user']);
    expect(sent[0]!.content).toContain('[1] Travel policy');
    expect(sent[1]!.content).toBe('Answer in English.');
    const rows = rowsOf<{ status: string; source: string; prompt_tokens: number; api_key_id: string | null; conversation_id: string | null }>(
      await t.database.db.execute(sql`SELECT status, source, prompt_tokens, api_key_id, conversation_id FROM ai_usage WHERE user_id = ${userId} AND kind = 'chat' ORDER BY created_at DESC LIMIT 1`),
    );
    expect(rows[0]).toMatchObject({ status: 'complete', source: 'reported', prompt_tokens: 3001 + before + 1, conversation_id: null });
    expect(rows[0]!.api_key_id).toBe(keyId);
  });

  it("when a program asks for more output tokens than the agent allows, then the agent's cap is what the upstream is asked for", async () => {
    await client.chat.completions.create({ model: 'assistant', max_tokens: 150_000, messages: [{ role: 'user', content: 'A long answer, please.' }] });
    expect(upstream.calls.at(-1)!.body.max_tokens).toBe(1024);
    await client.chat.completions.create({ model: 'assistant', max_tokens: 50, messages: [{ role: 'user', content: 'A short answer, please.' }] });
    expect(upstream.calls.at(-1)!.body.max_tokens).toBe(50);
  });

  it('when a program streams with include_usage, then the chunks carry the deltas, the last chunk the usage, and the stream ends', async () => {
    const stream = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'Hotel limit?' }], stream: true, stream_options: { include_usage: true } });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('Hotels: up to 180 euros [1].');
    expect(chunks.some((c) => c.choices[0]?.finish_reason === 'stop')).toBe(true);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 77 } });
    // Without include_usage no usage chunk is sent.
    const plain = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'Hotel limit?' }], stream: true });
    const plainChunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const c of plain) plainChunks.push(c);
    expect(plainChunks.every((c) => !c.usage)).toBe(true);
  });

  it('when a member asks /v1 for an admins-only or an archived agent, or a bad key names one, then the agent read ahead of the key check still decides nothing: 404 model_not_found for the member, 401 for the bad key, and nothing is asked upstream', async () => {
    const admin = await person(t, 'admin');
    const suffix = Date.now().toString(36);
    const hidden = await request(t.app).post('/api/agents').set(admin.auth).send({ slug: `hidden-${suffix}`, name: 'Hidden', visibility: 'admins', retrievalK: 0 });
    const gone = await request(t.app).post('/api/agents').set(admin.auth).send({ slug: `gone-${suffix}`, name: 'Gone', retrievalK: 0 });
    expect([hidden.status, gone.status]).toEqual([201, 201]);
    expect((await request(t.app).delete(`/api/agents/${gone.body.agent.id}`).set(admin.auth)).status).toBe(204);
    const before = upstream.calls.length;
    const attempt = async (c: OpenAI, model: string) => {
      try {
        await c.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hotel limit?' }] });
        return 'no error';
      } catch (err) {
        const e = err as InstanceType<typeof OpenAI.APIError>;
        return { status: e.status, code: e.code };
      }
    };
    expect(await attempt(client, `hidden-${suffix}`)).toEqual({ status: 404, code: 'model_not_found' });
    expect(await attempt(client, `gone-${suffix}`)).toEqual({ status: 404, code: 'model_not_found' });
    const stranger = new OpenAI({ baseURL: client.baseURL, apiKey: 'hk_not-a-real-key', maxRetries: 0 });
    expect((await attempt(stranger, `hidden-${suffix}`) as { status: number }).status).toBe(401);
    expect(upstream.calls.length).toBe(before);
    // The member still gets answers from an agent they may use.
    const ok = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'Hotel limit?' }] });
    expect(ok.choices[0]!.message.content).toBe('Hotels: up to 180 euros [1].');
  });

  it('when a question cannot fit the model’s context window, then /v1 refuses it with a plain 422 in OpenAI’s shape, streaming or not, before anything is asked upstream or accounted, and the UI turn refuses it before the stream with nothing written', async () => {
    const admin = await person(t, 'admin');
    const slug = `small-window-${Date.now().toString(36)}`;
    // An 8k-token model: the question below is ~10k tokens.
    const created = await request(t.app).post('/api/agents').set(admin.auth).send({ slug, name: 'Small window', model: 'llama3-8b', retrievalK: 0 });
    expect(created.status).toBe(201);
    const question = 'a '.repeat(10_000);
    const before = upstream.calls.length;
    const usageRows = async () => Number(rowsOf<{ n: number }>(await t.database.db.execute(sql`SELECT count(*)::int AS n FROM ai_usage WHERE user_id = ${userId}`))[0]!.n);
    const rowsBefore = await usageRows();
    for (const stream of [false, true]) {
      const res = await request(server).post('/v1/chat/completions').set('Authorization', `Bearer ${client.apiKey}`).send({ model: slug, stream, messages: [{ role: 'user', content: question }] });
      expect(res.status).toBe(422);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.body.error).toMatchObject({ code: 'prompt-too-long', type: 'invalid_request_error' });
      expect(res.body.error.message).toMatch(/does not fit the model’s context window/);
    }
    const { auth } = await person(t);
    const conv = (await request(t.app).post('/api/conversations').set(auth).send({ agent: slug })).body.conversation;
    const turn = await request(t.app).post(`/api/conversations/${conv.id}/messages`).set(auth).send({ content: question.slice(0, 20_000) });
    expect(turn.status).toBe(422);
    expect(turn.body.error.code).toBe('prompt-too-long');
    expect((await request(t.app).get(`/api/conversations/${conv.id}`).set(auth)).body.messages).toEqual([]);
    expect(upstream.calls.length).toBe(before);
    expect(await usageRows()).toBe(rowsBefore);
    // A question that fits still gets its answer from the same agent.
    const ok = await client.chat.completions.create({ model: slug, messages: [{ role: 'user', content: 'Hotel limit?' }] });
    expect(ok.choices[0]!.finish_reason).toBe('stop');
  });

  it('when a request has parameters Hearth does not support, an unknown model or a bad key, then the SDK raises the matching error from an OpenAI-shaped body, and nothing is asked upstream', async () => {
    const before = upstream.calls.length;
    const attempt = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
        return 'no error';
      } catch (err) {
        const e = err as InstanceType<typeof OpenAI.APIError>;
        return { status: e.status, type: (e.error as { type?: string })?.type, code: e.code, param: e.param };
      }
    };
    expect(await attempt(() => client.chat.completions.create({ model: 'assistant', n: 2, messages: [{ role: 'user', content: 'x' }] }))).toEqual({ status: 400, type: 'invalid_request_error', code: 'unsupported-parameter', param: 'n' });
    expect(await attempt(() => client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] }))).toEqual({ status: 400, type: 'invalid_request_error', code: 'unsupported-parameter', param: 'tools' });
    expect(await attempt(() => client.chat.completions.create({ model: 'no-such-agent', messages: [{ role: 'user', content: 'x' }] }))).toMatchObject({ status: 404, type: 'not_found_error', code: 'model_not_found', param: 'model' });
    expect(await attempt(() => client.chat.completions.create({ model: 'assistant', messages: [] }))).toMatchObject({ status: 400, type: 'invalid_request_error', param: 'messages' });
    expect(await attempt(() => client.chat.completions.create({ model: 'assistant', messages: [{ role: 'assistant', content: 'x' }] }))).toMatchObject({ status: 400, code: 'last-message-not-user' });
    const stranger = new OpenAI({ baseURL: client.baseURL, apiKey: 'hk_not-a-real-key', maxRetries: 0 });
    expect(await attempt(() => stranger.models.list())).toMatchObject({ status: 401, type: 'authentication_error' });
    expect(upstream.calls.length).toBe(before);
  });
});
