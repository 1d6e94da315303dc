import { fork } from 'node:child_process';
import path from 'node:path';
import OpenAI from 'openai';

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

/** A child process running `bench/stream-overhead.child.ts <role> <arg>`, with what it reported once listening. */
async function child<T>(role: string, arg: string): Promise<{ info: T; stop: () => Promise<void> }> {
  const proc = fork(path.join(__dirname, 'stream-overhead.child.ts'), [role, arg], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const info = await new Promise<T>((resolve, reject) => {
    proc.once('message', (m) => resolve(m as T));
    proc.once('exit', (code) => reject(new Error(`${role} exited with ${code} before it listened`)));
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      proc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      proc.send('stop');
    });
  return { info, stop };
}

/**
 * What Hearth adds to a streamed answer: the same local upstream (64 pieces, no delay) asked
 * straight through the OpenAI SDK (the baseline) and through Hearth's /v1/chat/completions with an
 * agent that does no retrieval (the usage row, the prompt, the relay), alternating. The client,
 * Hearth and the upstream are three processes, as in use: in one process the client could not read
 * the first piece while Hearth's own work (on PGlite, the database itself) held the event loop.
 */
export async function streamOverhead(): Promise<void> {
  const upstream = await child<{ baseUrl: string }>('upstream', String(PIECES));
  let hearthProc: Awaited<ReturnType<typeof child<{ baseUrl: string; key: string; slug: string; database: string }>>> | undefined;
  try {
    hearthProc = await child<{ baseUrl: string; key: string; slug: string; database: string }>('hearth', upstream.info.baseUrl);
    const { slug, key, database } = hearthProc.info;
    const direct = new OpenAI({ baseURL: upstream.info.baseUrl, apiKey: 'none', maxRetries: 0 });
    const hearth = new OpenAI({ baseURL: hearthProc.info.baseUrl, apiKey: key, maxRetries: 0 });
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
    console.log(`database: ${database}, ${ROUNDS} streamed completions each (${PIECES} pieces), alternating; client, Hearth and upstream in three processes`);
    row('straight to the upstream (baseline)', a);
    row('through Hearth /v1 (no retrieval)', b);
    const added = (q: number, f: (x: (typeof a)[number]) => number) => (quantile(b.map(f), q) - quantile(a.map(f), q)).toFixed(2);
    console.log(`added by Hearth: time to first token p50 ${added(0.5, (x) => x.ttft)} ms, p99 ${added(0.99, (x) => x.ttft)} ms; whole answer p50 ${added(0.5, (x) => x.total)} ms, p99 ${added(0.99, (x) => x.total)} ms`);
    // This shared machine's speed moves between runs; what Hearth adds moves with the baseline.
    const ttft50 = (xs: typeof a) => quantile(xs.map((x) => x.ttft), 0.5);
    console.log(`added time to first token p50 = ${((ttft50(b) - ttft50(a)) / ttft50(a)).toFixed(2)} x the baseline's own (${ttft50(a).toFixed(2)} ms in this run)`);
  } finally {
    await hearthProc?.stop();
    await upstream.stop();
  }
}
