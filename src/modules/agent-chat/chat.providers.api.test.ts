import request from 'supertest';
import { sql } from 'drizzle-orm';
import { createTestApp } from '../../../test/support/test-app';
import { addText, newKb, person } from '../../../test/support/kb';
import { ask, fakeAnthropic, fakeOpenAi, withApp } from '../../../test/support/llm';
import { rowsOf } from '../../platform/db/migrate';

/** Calls that answered questions (not the ones that wrote a conversation's title). */
const answering = <T extends { body: { system?: string; messages: { content: string }[] } }>(calls: T[]) => calls.filter((c) => !(c.body.system ?? c.body.messages[0]!.content).startsWith('Write a title'));
const answerOf = (events: { event: string; data: Record<string, unknown> }[]) => events.filter((e) => e.event === 'delta').map((e) => e.data.text).join('');

describe('providers against faithful local servers', () => {
  it('when Anthropic streams an answer, then its deltas arrive, its reported tokens are recorded as they are, the prompt goes in its own shape, and an overloaded server ends the turn with provider-error', async () => {
    const upstream = await fakeAnthropic((call) => (call.body.messages.at(-1)!.content.includes('overload') ? { status: 529 } : { pieces: ['Trains: ', 'second class [1].'], usage: { input_tokens: 5555, output_tokens: 444 } }));
    await withApp(upstream, { LLM_PROVIDER: 'anthropic', LLM_MODEL: 'claude-sonnet-4-0', LLM_API_KEY: 'sk-ant-test', LLM_MAX_RETRIES: '0' }, async (t) => {
      const { auth } = await person(t);
      const kb = await newKb(t, auth);
      await addText(t, auth, kb.id, 'Travel policy', 'Second class is the rule for trains under four hours.');
      const conv = (await request(t.app).post('/api/conversations').set(auth).send({})).body.conversation;
      const ok = await ask(t.app, auth, conv.id, 'Which class for trains?');
      expect(answerOf(ok.events)).toBe('Trains: second class [1].');
      expect(ok.events.find((e) => e.event === 'usage')!.data).toMatchObject({ promptTokens: 5555, completionTokens: 444, source: 'reported', cost: '0.0233250000' });
      const sent = answering(upstream.calls)[0]!;
      // The SDK sends the key as x-api-key or as a bearer token, depending on its version.
      expect(String(sent.headers['x-api-key'] ?? sent.headers.authorization)).toMatch(/^(Bearer )?sk-ant-test$/);
      expect(sent.headers['anthropic-version']).toBeDefined();
      expect(sent.body.system).toContain('[1] Travel policy');
      expect(sent.body.messages).toEqual([{ role: 'user', content: 'Which class for trains?' }]);
      const failed = await ask(t.app, auth, conv.id, 'Please overload');
      expect(failed.events.at(-1)).toMatchObject({ event: 'error', data: { code: 'provider-error' } });
      expect(answering(upstream.calls).at(-1)!.body.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
      const usage = rowsOf<{ status: string; provider: string; model: string; prompt_tokens: number }>(await t.database.db.execute(sql`SELECT status, provider, model, prompt_tokens FROM ai_usage WHERE conversation_id = ${conv.id} AND kind = 'chat' ORDER BY created_at`));
      expect(usage.map((u) => [u.status, u.provider, u.model])).toEqual([
        ['complete', 'anthropic', 'claude-sonnet-4-0'],
        ['error', 'anthropic', 'claude-sonnet-4-0'],
      ]);
    });
  }, 60_000);

  it('when an OpenAI-compatible server reports no usage, sends a malformed chunk, drops the connection mid-answer, or is slow to its first token, then the record says estimated, the turn ends with provider-bad-response keeping the text so far, and the slow answer completes with its time to first token', async () => {
    const upstream = await fakeOpenAi((call) => {
      const q = call.body.messages.at(-1)!.content;
      if (q.includes('broken')) return { pieces: ['Half an ', 'answer'], malformedAfter: 1 };
      if (q.includes('cut')) return { pieces: ['Cut ', 'off'], disconnectAfter: 1 };
      if (q.includes('slow')) return { pieces: ['Worth ', 'the wait.'], firstDelayMs: 600, usage: { prompt_tokens: 9, completion_tokens: 4 } };
      return { pieces: ['No usage ', 'from me.'] };
    });
    await withApp(upstream, { LLM_PROVIDER: 'openai', LLM_MODEL: 'llama3.1', LLM_MAX_RETRIES: '0', LLM_FIRST_TOKEN_TIMEOUT_MS: '5000' }, async (t) => {
      const { auth } = await person(t);
      const conv = (await request(t.app).post('/api/conversations').set(auth).send({})).body.conversation;
      const plain = await ask(t.app, auth, conv.id, 'Say something');
      expect(answerOf(plain.events)).toBe('No usage from me.');
      expect(plain.events.find((e) => e.event === 'usage')!.data).toMatchObject({ source: 'estimated', completionTokens: expect.any(Number) });
      expect((plain.events.find((e) => e.event === 'usage')!.data as { completionTokens: number }).completionTokens).toBeGreaterThan(0);

      const broken = await ask(t.app, auth, conv.id, 'Send something broken');
      expect(broken.events.at(-1)).toMatchObject({ event: 'error', data: { code: 'provider-bad-response' } });
      expect(answerOf(broken.events)).toBe('Half an ');

      const cut = await ask(t.app, auth, conv.id, 'Get cut off');
      expect(cut.events.at(-1)).toMatchObject({ event: 'error', data: { code: 'provider-error', message: expect.stringContaining('broke off the answer') } });
      expect(answerOf(cut.events)).toBe('Cut ');

      const slow = await ask(t.app, auth, conv.id, 'Be slow');
      expect(answerOf(slow.events)).toBe('Worth the wait.');
      const rows = rowsOf<{ status: string; source: string; ttft_ms: number | null; price_known: boolean }>(await t.database.db.execute(sql`SELECT status, source, ttft_ms, price_known FROM ai_usage WHERE conversation_id = ${conv.id} AND kind = 'chat' ORDER BY created_at`));
      expect(rows.map((r) => [r.status, r.source, r.price_known])).toEqual([
        ['complete', 'estimated', false],
        ['error', 'estimated', false],
        ['error', 'estimated', false],
        ['complete', 'reported', false],
      ]);
      expect(Number(rows[3]!.ttft_ms)).toBeGreaterThanOrEqual(550);
      const messages = (await request(t.app).get(`/api/conversations/${conv.id}`).set(auth)).body.messages as { role: string; status: string; content: string }[];
      expect(messages.filter((m) => m.role === 'assistant').map((m) => [m.status, m.content])).toEqual([
        ['complete', 'No usage from me.'],
        ['error', 'Half an '],
        ['error', 'Cut '],
        ['complete', 'Worth the wait.'],
      ]);
    });
  }, 60_000);
});

describe('providers admins add (/api/providers)', () => {
  it('when an admin adds an OpenAI-compatible and an Anthropic provider, then agents on each answer through their own server and key side by side with the default, keys are stored sealed and never returned, and a provider in use cannot be removed', async () => {
    const llama = await fakeOpenAi(() => ({ pieces: ['From llama.'], usage: { prompt_tokens: 21, completion_tokens: 3 } }));
    const claude = await fakeAnthropic(() => ({ pieces: ['From claude.'], usage: { input_tokens: 31, output_tokens: 4 } }));
    const t = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '10000', LLM_MAX_RETRIES: '0' });
    try {
      const suffix = Date.now().toString(36);
      const [llamaName, claudeName] = [`Local Llama ${suffix}`, `Claude ${suffix}`];
      const admin = await person(t, 'admin');
      const member = await person(t);
      const a = await request(t.app).post('/api/providers').set(admin.auth).send({ name: llamaName, type: 'openai', baseUrl: llama.baseUrl, apiKey: 'sk-llama-secret-123', models: ['llama3.1', 'qwen3'], defaultModel: 'llama3.1' });
      expect(a.status).toBe(201);
      expect(a.body.provider).toMatchObject({ name: llamaName, type: 'openai', hasApiKey: true, models: ['llama3.1', 'qwen3'] });
      const b = await request(t.app).post('/api/providers').set(admin.auth).send({ name: claudeName, type: 'anthropic', baseUrl: claude.baseUrl, apiKey: 'sk-ant-secret-456', defaultModel: 'claude-sonnet-4-0' });
      expect(b.status).toBe(201);
      const listed = await request(t.app).get('/api/providers').set(admin.auth);
      expect(JSON.stringify(listed.body)).not.toMatch(/secret-123|secret-456/);
      const stored = rowsOf<{ sealed: string }>(await t.database.db.execute(sql`SELECT api_key_sealed AS sealed FROM providers WHERE id IN (${a.body.provider.id}, ${b.body.provider.id})`));
      expect(stored.every((r) => r.sealed.startsWith('v1.') && !/secret/.test(r.sealed))).toBe(true);
      expect((await request(t.app).get('/api/providers').set(member.auth)).status).toBe(403);
      expect((await request(t.app).post('/api/providers').set(admin.auth).send({ name: llamaName, type: 'openai', defaultModel: 'x' })).status).toBe(409);
      expect((await request(t.app).post('/api/providers').set(admin.auth).send({ name: `Odd ${suffix}`, type: 'openai', models: ['a'], defaultModel: 'b' })).body.error.code).toBe('model-not-offered');

      const onLlama = await request(t.app).post('/api/agents').set(admin.auth).send({ slug: `llama-${suffix}`, name: 'Llama', providerId: a.body.provider.id, model: 'qwen3' });
      expect(onLlama.status).toBe(201);
      expect((await request(t.app).post('/api/agents').set(admin.auth).send({ slug: `bad-${suffix}`, name: 'Bad', providerId: a.body.provider.id, model: 'gpt-9' })).body.error.code).toBe('model-not-offered');
      const onClaude = await request(t.app).post('/api/agents').set(admin.auth).send({ slug: `claude-${suffix}`, name: 'Claude', providerId: b.body.provider.id });
      expect(onClaude.status).toBe(201);

      const chatWith = async (agent: string) => {
        const conv = (await request(t.app).post('/api/conversations').set(member.auth).send({ agent })).body.conversation;
        return ask(t.app, member.auth, conv.id, 'Who are you?');
      };
      expect(answerOf((await chatWith(`llama-${suffix}`)).events)).toBe('From llama.');
      expect(answerOf((await chatWith(`claude-${suffix}`)).events)).toBe('From claude.');
      // The default agent stays on the built-in provider: one of its answers, whatever a shared database holds.
      expect(answerOf((await chatWith('assistant')).events)).toMatch(/^(I couldn't find anything|The passages I found don't seem to answer|From your documents)/);
      expect(answering(llama.calls).map((c) => [c.body.model, c.headers.authorization])).toEqual([['qwen3', 'Bearer sk-llama-secret-123']]);
      expect(answering(claude.calls).map((c) => c.body.model)).toEqual(['claude-sonnet-4-0']);
      expect(String(claude.calls[0]!.headers['x-api-key'] ?? claude.calls[0]!.headers.authorization)).toContain('sk-ant-secret-456');
      const usage = rowsOf<{ provider: string; model: string; prompt_tokens: number }>(await t.database.db.execute(sql`SELECT provider, model, prompt_tokens FROM ai_usage WHERE user_id = ${member.u.id} AND kind = 'chat' ORDER BY created_at`));
      expect(usage.map((u) => [u.provider, u.model])).toEqual([
        [llamaName, 'qwen3'],
        [claudeName, 'claude-sonnet-4-0'],
        ['extractive', 'extractive'],
      ]);
      expect((await request(t.app).get('/health/ready')).body.checks.providers).toEqual({
        extractive: { type: 'extractive', state: 'closed' },
        [llamaName]: { type: 'openai', state: 'closed' },
        [claudeName]: { type: 'anthropic', state: 'closed' },
      });

      const inUse = await request(t.app).delete(`/api/providers/${a.body.provider.id}`).set(admin.auth);
      expect([inUse.status, inUse.body.error.code]).toEqual([409, 'provider-in-use']);
      // A new key takes effect for the next answer; removing the key is explicit.
      expect((await request(t.app).patch(`/api/providers/${a.body.provider.id}`).set(admin.auth).send({ apiKey: 'sk-llama-rotated-789' })).status).toBe(200);
      await chatWith(`llama-${suffix}`);
      expect(llama.calls.at(-1)!.headers.authorization).toBe('Bearer sk-llama-rotated-789');
      expect((await request(t.app).patch(`/api/providers/${a.body.provider.id}`).set(admin.auth).send({ apiKey: null })).body.provider.hasApiKey).toBe(false);
      const unused = (await request(t.app).post('/api/providers').set(admin.auth).send({ name: `Spare ${suffix}`, type: 'openai', defaultModel: 'm' })).body.provider;
      expect((await request(t.app).delete(`/api/providers/${unused.id}`).set(admin.auth)).status).toBe(204);
      const names = (await request(t.app).get('/api/providers').set(admin.auth)).body.providers.map((p: { name: string }) => p.name) as string[];
      expect(names.filter((n) => n.endsWith(suffix)).sort()).toEqual([claudeName, llamaName]);
    } finally {
      await t.close();
      await llama.close();
      await claude.close();
    }
  }, 60_000);
});
