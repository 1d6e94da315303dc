import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import request from 'supertest';
import { createTestApp } from '../test/support/test-app';
import { person } from '../test/support/kb';
import { fakeOpenAi } from '../test/support/llm';

/**
 * The other processes of bench/stream-overhead: `upstream <pieces>` serves the local
 * OpenAI-compatible upstream, `hearth <upstream url>` serves Hearth (the app over the configured
 * database) with an agent that does no retrieval and an API key. Each reports where it listens on
 * its IPC channel and serves until it is told to stop.
 */
async function main() {
  const [role, arg] = process.argv.slice(2);
  const stop: (() => Promise<void>)[] = [];
  if (role === 'upstream') {
    const pieces = Number(arg);
    const upstream = await fakeOpenAi(() => ({ pieces: Array.from({ length: pieces }, (_, i) => `${i + 1} `), usage: { prompt_tokens: 12, completion_tokens: pieces } }));
    stop.push(() => upstream.close());
    process.send!({ baseUrl: upstream.baseUrl });
  } else if (role === 'hearth') {
    const t = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '100000', RATE_LIMIT_MAX: '1000000', LLM_PROVIDER: 'openai', LLM_BASE_URL: arg!, LLM_MODEL: 'bench-model', LLM_MAX_RETRIES: '0' }, { logLevel: 'warn' });
    stop.push(() => t.close());
    const admin = await person(t, 'admin');
    const slug = `bench-${Date.now().toString(36)}`;
    await request(t.app).post('/api/agents').set(admin.auth).send({ slug, name: 'Bench', retrievalK: 0 });
    const key = (await request(t.app).post('/api/keys').set(admin.auth).send({ name: 'bench', scopes: ['chat'] })).body.secret as string;
    const server = await new Promise<Server>((resolve) => {
      const s = t.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    stop.unshift(() => new Promise<void>((r) => server.close(() => r())));
    process.send!({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, key, slug, database: t.database.kind });
  } else throw new Error(`unknown role ${role}`);
  process.on('message', async (m) => {
    if (m !== 'stop') return;
    for (const s of stop) await s();
    process.exit(0);
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
