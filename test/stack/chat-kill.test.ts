import { Client } from 'pg';
import { requireStack, startApp, waitFor, type AppProcess } from '../support/stack';
import { createDatabase } from '../../src/platform/db/client';
import { AuthRepository } from '../../src/modules/auth/auth.repository';
import { PasswordHasher } from '../../src/modules/auth/auth.passwords';
import { captureLogger } from '../support/test-app';
import { fakeOpenAi, parseSse } from '../support/llm';

describe('chat usage survives a killed app process', () => {
  const stack = requireStack();

  it("when an app process is SIGKILLed mid-stream, then its pending usage row is finalised as interrupted once its heartbeat is stale, while a second live process's stream completes normally", async () => {
    // Slow answers (20 pieces, 250 ms apart) with token counts no tokenizer would produce.
    const upstream = await fakeOpenAi((call) => ({ pieces: Array.from({ length: 20 }, (_, i) => `piece${i} `), delayMs: 250, usage: { prompt_tokens: 7001 + call.n, completion_tokens: 301 } }));
    const email = `chat-kill-${Date.now()}@example.com`;
    const password = 'correct horse battery staple 42';
    const seed = await createDatabase({ url: stack.databaseUrl, poolMax: 1, statementTimeoutMs: 30_000, pgliteDataDir: 'memory://', logger: captureLogger().logger });
    const user = await new AuthRepository(seed.db).insertUser({ email, name: 'Chatter', role: 'member', passwordHash: await new PasswordHasher(10).hash(password), emailVerified: true });
    await seed.close();
    const env = { LLM_PROVIDER: 'openai', LLM_BASE_URL: upstream.baseUrl, LLM_MODEL: 'gpt-4o-mini', LLM_MAX_RETRIES: '0', USAGE_STALE_SECONDS: '3', USAGE_SWEEP_MS: '1000', CREDENTIAL_RATE_LIMIT_MAX: '1000' };
    const db = new Client({ connectionString: stack.migrationDatabaseUrl });
    await db.connect();
    let doomed: AppProcess | undefined;
    let survivor: AppProcess | undefined;
    try {
      [doomed, survivor] = await Promise.all([startApp(stack, stack.appPort + 51, env), startApp(stack, stack.appPort + 52, env)]);
      const login = async (app: AppProcess) => {
        const tok = (await (await fetch(`${app.baseUrl}/api/auth/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email, password }) })).json()) as { access_token: string };
        return { Authorization: `Bearer ${tok.access_token}`, 'Content-Type': 'application/json' };
      };
      const stream = async (app: AppProcess) => {
        const auth = await login(app);
        const conv = (await (await fetch(`${app.baseUrl}/api/conversations`, { method: 'POST', headers: auth, body: '{}' })).json()) as { conversation: { id: string } };
        const res = await fetch(`${app.baseUrl}/api/conversations/${conv.conversation.id}/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ content: 'Count slowly' }) });
        const reader = res.body!.getReader();
        let text = '';
        const firstDelta = (async () => {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) return;
            text += new TextDecoder().decode(value);
            if (text.includes('event: delta')) return;
          }
        })();
        await firstDelta;
        const rest = (async () => {
          try {
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              text += new TextDecoder().decode(value);
            }
          } catch {
            // The killed process's stream breaks off.
          }
          return text;
        })();
        return { conversationId: conv.conversation.id, rest };
      };
      const [a, b] = await Promise.all([stream(doomed), stream(survivor)]);
      const rowsOf = async (conversationId: string) => (await db.query("SELECT status, source, prompt_tokens, completion_tokens FROM ai_usage WHERE conversation_id = $1 AND kind = 'chat'", [conversationId])).rows;
      expect(await rowsOf(a.conversationId)).toEqual([expect.objectContaining({ status: 'pending' })]);

      doomed.proc.kill('SIGKILL');
      expect((await doomed.exited).signal).toBe('SIGKILL');
      // The live process's answer is untouched by the sweep and completes with the upstream's figures.
      const events = parseSse(await b.rest);
      expect(events.at(-1)).toMatchObject({ event: 'done', data: { status: 'complete' } });
      expect(await rowsOf(b.conversationId)).toEqual([{ status: 'complete', source: 'reported', prompt_tokens: expect.any(Number), completion_tokens: 301 }]);

      const interrupted = await waitFor('the orphaned row to be finalised', async () => {
        const rows = await rowsOf(a.conversationId);
        return rows[0]?.status === 'interrupted' ? rows : undefined;
      }, 30_000);
      expect(interrupted).toEqual([{ status: 'interrupted', source: 'estimated', prompt_tokens: 0, completion_tokens: 0 }]);
      // Counted once: the user's daily rows hold both calls, each once.
      const daily = (await db.query("SELECT sum(requests)::int AS n FROM ai_usage_daily WHERE user_id = $1 AND kind = 'chat'", [user.id])).rows[0];
      expect(daily.n).toBe(2);
      const pending = (await db.query("SELECT count(*)::int AS n FROM ai_usage WHERE user_id = $1 AND status = 'pending'", [user.id])).rows[0];
      expect(pending.n).toBe(0);
    } finally {
      doomed?.proc.kill('SIGKILL');
      survivor?.proc.kill('SIGTERM');
      await survivor?.exited;
      await db.end();
      await upstream.close();
    }
  }, 120_000);
});
