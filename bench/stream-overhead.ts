import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import OpenAI from 'openai';
import request from 'supertest';
import { createTestApp } from '../test/support/test-app';
import { person } from '../test/support/kb';
import { fakeOpenAi } from '../test/support/llm';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 200);
const PIECES = 64;

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

/** Time to first token and total time of one streamed completion, as a client sees them. */
async function timeOne(client: OpenAI, model: string): Promise<{ ttft: number; total: number; tokens: number }> {
  const started = performance.now();
  let ttft = 0;
  let tokens = 0;
  const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Count to sixty-four.' }], stream: true });
  for await (const chunk of stream) {
    if (chunk.choices[0]?.delta?.content) {
      if (tokens === 0) ttft = performance.now() - started;
      tokens += 1;
    }
  }
  return { ttft, total: performance.now() - started, tokens };
}

/**
 * What Hearth adds to a streamed answer: the same local upstream (64 pieces, no delay) asked
 * straight through the OpenAI SDK (the baseline) and through Hearth's /v1/chat/completions with an
 * agent that does no retrieval (the usage row, the prompt, the relay), alternating, in one process.
 */
export async function streamOverhead(): Promise<void> {
  const upstream = await fakeOpenAi(() => ({ pieces: Array.from({ length: PIECES }, (_, i) => `${i + 1} `), usage: { prompt_tokens: 12, completion_tokens: PIECES } }));
  const t = await createTestApp({ CREDENTIAL_RATE_LIMIT_MAX: '100000', RATE_LIMIT_MAX: '1000000', LLM_PROVIDER: 'openai', LLM_BASE_URL: upstream.baseUrl, LLM_MODEL: 'bench-model', LLM_MAX_RETRIES: '0' }, { logLevel: 'warn' });
  let server: Server | undefined;
  try {
    const admin = await person(t, 'admin');
    const slug = `bench-${Date.now().toString(36)}`;
    await request(t.app).post('/api/agents').set(admin.auth).send({ slug, name: 'Bench', retrievalK: 0 });
    const key = (await request(t.app).post('/api/keys').set(admin.auth).send({ name: 'bench', scopes: ['chat'] })).body.secret as string;
    server = await new Promise<Server>((resolve) => {
      const s = t.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const direct = new OpenAI({ baseURL: upstream.baseUrl, apiKey: 'none', maxRetries: 0 });
    const hearth = new OpenAI({ baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, apiKey: key, maxRetries: 0 });
    for (let i = 0; i < 20; i++) {
      await timeOne(direct, 'bench-model');
      await timeOne(hearth, slug);
    }
    const a: Awaited<ReturnType<typeof timeOne>>[] = [];
    const b: typeof a = [];
    for (let i = 0; i < ROUNDS; i++) {
      a.push(await timeOne(direct, 'bench-model'));
      b.push(await timeOne(hearth, slug));
    }
    const row = (name: string, xs: typeof a) => {
      const tps = xs.map((x) => x.tokens / (x.total / 1000));
      console.log(`${name.padEnd(34)} ttft p50 ${quantile(xs.map((x) => x.ttft), 0.5).toFixed(2).padStart(6)} ms  p99 ${quantile(xs.map((x) => x.ttft), 0.99).toFixed(2).padStart(6)} ms  total p50 ${quantile(xs.map((x) => x.total), 0.5).toFixed(2).padStart(6)} ms  ${quantile(tps, 0.5).toFixed(0).padStart(6)} tokens/s`);
    };
    console.log(`database: ${t.database.kind}, ${ROUNDS} streamed completions each (${PIECES} pieces), alternating`);
    row('straight to the upstream (baseline)', a);
    row('through Hearth /v1 (no retrieval)', b);
    const added = (q: number, f: (x: (typeof a)[number]) => number) => (quantile(b.map(f), q) - quantile(a.map(f), q)).toFixed(2);
    console.log(`added by Hearth: time to first token p50 ${added(0.5, (x) => x.ttft)} ms, p99 ${added(0.99, (x) => x.ttft)} ms; whole answer p50 ${added(0.5, (x) => x.total)} ms, p99 ${added(0.99, (x) => x.total)} ms`);
  } finally {
    if (server) await new Promise<void>((r) => server!.close(() => r()));
    await t.close();
    await upstream.close();
  }
}
