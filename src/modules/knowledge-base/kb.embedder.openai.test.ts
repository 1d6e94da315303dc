import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { countTokens } from 'gpt-tokenizer';
import { AppError } from '../../platform/errors';
import { LocalEmbedder } from './kb.embedder.local';
import { createEmbedder, OpenAiEmbedder, type OpenAiEmbedderOptions } from './kb.embedder';

const API_KEY = 'sk-test-0123456789abcdefSECRET';
const DIMS = 8;

interface Seen {
  at: number;
  headers: http.IncomingHttpHeaders;
  body: { model: string; input: string[]; encoding_format?: string; dimensions?: number };
}

type Handler = (req: Seen, res: http.ServerResponse, attempt: number) => void;

/** A stand-in OpenAI-compatible server on loopback; each test decides how it answers. */
class FakeProvider {
  readonly seen: Seen[] = [];
  handler: Handler = (req, res) => this.answer(res, req.body.input);
  private server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/embeddings') {
        res.writeHead(404).end();
        return;
      }
      const seen: Seen = { at: Date.now(), headers: req.headers, body: JSON.parse(raw) as Seen['body'] };
      this.seen.push(seen);
      this.handler(seen, res, this.seen.length);
    });
  });

  /** Vectors that encode which input they belong to, so order can be checked. */
  static vectorFor(text: string, dims = DIMS): number[] {
    return Array.from({ length: dims }, (_, i) => (i === 0 ? text.length : i / 10));
  }

  answer(res: http.ServerResponse, input: string[], opts: { usage?: object | null; dims?: number; shuffle?: boolean } = {}) {
    let data = input.map((t, index) => ({ object: 'embedding', index, embedding: FakeProvider.vectorFor(t, opts.dims) }));
    if (opts.shuffle) data = [...data].reverse();
    const body: Record<string, unknown> = { object: 'list', model: 'fake', data };
    if (opts.usage !== null) body.usage = opts.usage ?? { prompt_tokens: 7777, total_tokens: 7777 };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

describe('OpenAI-compatible embedder', () => {
  const provider = new FakeProvider();
  let baseUrl: string;
  const make = (o: Partial<OpenAiEmbedderOptions> = {}) => new OpenAiEmbedder({ baseUrl, model: 'text-embedding-3-small', dimensions: DIMS, apiKey: API_KEY, retryBaseDelayMs: 10, ...o });

  beforeAll(async () => {
    baseUrl = await provider.start();
  });
  afterAll(() => provider.stop());
  beforeEach(() => {
    provider.seen.length = 0;
    provider.handler = (req, res) => provider.answer(res, req.body.input);
  });

  it('when 150 texts are embedded with batch size 64, then three calls of 64, 64 and 22 carry them in order with the bearer key and the request fields', async () => {
    const texts = Array.from({ length: 150 }, (_, i) => 'x'.repeat(i + 1));
    const result = await make({ batchSize: 64 }).embed(texts);
    expect(provider.seen.map((s) => s.body.input.length)).toEqual([64, 64, 22]);
    expect(provider.seen.flatMap((s) => s.body.input)).toEqual(texts);
    expect(result.vectors.map((v) => v[0])).toEqual(texts.map((t) => t.length));
    const first = provider.seen[0]!;
    expect(first.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(first.body).toMatchObject({ model: 'text-embedding-3-small', encoding_format: 'float', dimensions: DIMS });
    expect(result.promptTokens).toBe(3 * 7777);
    expect(result.source).toBe('reported');
  });

  it('when nothing is configured but the URL, then batches default to 64 and a trailing slash in the base URL still reaches /embeddings', async () => {
    const e = make({ baseUrl: `${baseUrl}/`, apiKey: undefined });
    expect(e.batchSize).toBe(64);
    await e.embed(Array.from({ length: 65 }, (_, i) => `t${i}`));
    expect(provider.seen.map((s) => s.body.input.length)).toEqual([64, 1]);
    expect(provider.seen[0]!.headers.authorization).toBeUndefined();
  });

  it('when the server reports usage no tokenizer would produce, then that count is taken as reported', async () => {
    provider.handler = (req, res) => provider.answer(res, req.body.input, { usage: { prompt_tokens: 7777, total_tokens: 7777 } });
    const result = await make().embed(['hello world']);
    expect(countTokens('hello world')).not.toBe(7777);
    expect(result).toMatchObject({ promptTokens: 7777, source: 'reported' });
  });

  it('when the server reports only total_tokens, then that count is taken as reported', async () => {
    provider.handler = (req, res) => provider.answer(res, req.body.input, { usage: { total_tokens: 4242 } });
    expect(await make().embed(['hello'])).toMatchObject({ promptTokens: 4242, source: 'reported' });
  });

  it('when the server reports no usage, then tokens are counted with the tokenizer and flagged estimated', async () => {
    provider.handler = (req, res) => provider.answer(res, req.body.input, { usage: null });
    const texts = ['Rotate the database credentials every quarter.', 'The cafeteria opens at noon.'];
    const result = await make().embed(texts);
    expect(result.source).toBe('estimated');
    expect(result.promptTokens).toBe(countTokens(texts[0]!) + countTokens(texts[1]!));
    expect(result.promptTokens).toBeGreaterThan(0);
  });

  it('when the server answers with the vectors out of order, then they are put back in input order by index', async () => {
    provider.handler = (req, res) => provider.answer(res, req.body.input, { shuffle: true });
    const texts = ['a', 'bb', 'ccc', 'dddd'];
    const result = await make().embed(texts);
    expect(result.vectors.map((v) => v[0])).toEqual([1, 2, 3, 4]);
  });

  it('when the server fails with 500 once, then the call is retried and succeeds', async () => {
    provider.handler = (req, res, attempt) => (attempt === 1 ? res.writeHead(500).end('{"error":{"message":"upstream hiccup"}}') : provider.answer(res, req.body.input));
    const retries: string[] = [];
    const result = await make({ onRetry: (i) => retries.push(i.reason) }).embed(['a', 'b']);
    expect(provider.seen).toHaveLength(2);
    expect(result.vectors).toHaveLength(2);
    expect(retries).toEqual(['The embedding provider answered 500: upstream hiccup']);
  });

  it('when the server answers 429 with Retry-After: 1, then the embedder waits that second and then succeeds', async () => {
    provider.handler = (req, res, attempt) =>
      attempt === 1 ? res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' }).end('{"error":{"message":"Rate limit reached"}}') : provider.answer(res, req.body.input);
    const delays: number[] = [];
    const result = await make({ onRetry: (i) => delays.push(i.delayMs) }).embed(['a']);
    expect(result.vectors).toHaveLength(1);
    expect(delays).toEqual([1000]);
    expect(provider.seen).toHaveLength(2);
    // A sleep never ends early, so the second request cannot come before the second has passed.
    expect(provider.seen[1]!.at - provider.seen[0]!.at).toBeGreaterThanOrEqual(990);
  });

  it('when 5xx keeps coming, then the embedder gives up after the configured retries with embedding-provider-error', async () => {
    provider.handler = (_req, res) => res.writeHead(503).end('overloaded');
    const err = await caught(make({ maxRetries: 2 }).embed(['a']));
    expect(provider.seen).toHaveLength(3);
    expect(err).toMatchObject({ status: 502, code: 'embedding-provider-error', message: 'The embedding provider answered 503: overloaded' });
  });

  it('when the server answers 400 (echoing the key), then there is no retry and the error names the status and reason but never the key', async () => {
    provider.handler = (_req, res) =>
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `Invalid input for key ${API_KEY}: '$.input' is invalid.\n\u0007`, type: 'invalid_request_error' } }));
    const err = await caught(make().embed(['a']));
    expect(provider.seen).toHaveLength(1);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ status: 502, code: 'embedding-provider-error', details: { status: 400 } });
    const message = (err as AppError).message;
    expect(message).toContain('400');
    expect(message).toContain("'$.input' is invalid.");
    expect(message).not.toContain(API_KEY);
    expect(message).not.toContain('SECRET');
    expect(JSON.stringify(err)).not.toContain('SECRET');
    expect([...message].some((ch) => ch.charCodeAt(0) < 0x20)).toBe(false);
  });

  it('when the server redirects, then the redirect is not followed (the key stays with the configured URL) and the error says where it pointed', async () => {
    provider.handler = (_req, res) => res.writeHead(308, { location: 'https://elsewhere.invalid/v1/embeddings' }).end();
    const err = await caught(make().embed(['a']));
    expect(provider.seen).toHaveLength(1);
    expect(err).toMatchObject({ code: 'embedding-provider-error', message: expect.stringContaining('redirect to https://elsewhere.invalid/v1/embeddings') });
  });

  it('when the server never answers, then embedding-provider-timeout comes after each attempt times out', async () => {
    provider.handler = () => {};
    const err = await caught(make({ timeoutMs: 300, maxRetries: 1 }).embed(['a']));
    expect(err).toMatchObject({ status: 504, code: 'embedding-provider-timeout' });
    expect(provider.seen).toHaveLength(2);
  });

  it('when the server cannot be reached, then the error is embedding-provider-error after the retries', async () => {
    const closed = new FakeProvider();
    const url = await closed.start();
    await closed.stop();
    const err = await caught(make({ baseUrl: url, maxRetries: 1 }).embed(['a']));
    expect(err).toMatchObject({ status: 502, code: 'embedding-provider-error' });
    expect((err as AppError).message).toContain('could not be reached');
  });

  it('when the vectors have another size than configured, then embedding-dimensions-mismatch says expected and got', async () => {
    provider.handler = (req, res) => provider.answer(res, req.body.input, { dims: 12 });
    const err = await caught(make().embed(['a']));
    expect(err).toMatchObject({ status: 502, code: 'embedding-dimensions-mismatch', details: { expected: DIMS, got: 12 } });
    expect((err as AppError).message).toMatch(/12 dimensions, but 8 are expected/);
  });

  it('when the answer holds too few vectors, a non-finite value or no JSON, then it is rejected as embedding-provider-error', async () => {
    provider.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: [{ index: 0, embedding: FakeProvider.vectorFor('a') }] }));
    expect(await caught(make().embed(['a', 'b']))).toMatchObject({ code: 'embedding-provider-error', message: expect.stringContaining('1 embeddings for 2 inputs') });
    provider.handler = (_req, res) => res.writeHead(200).end(JSON.stringify({ data: [{ index: 0, embedding: [null, 1, 2, 3, 4, 5, 6, 7] }] }));
    expect(await caught(make().embed(['a']))).toMatchObject({ code: 'embedding-provider-error', message: expect.stringContaining('not a finite number') });
    provider.handler = (_req, res) => res.writeHead(200).end('<html>gateway</html>');
    expect(await caught(make().embed(['a']))).toMatchObject({ code: 'embedding-provider-error', message: expect.stringContaining('not JSON') });
    provider.handler = (_req, res) => res.writeHead(200).end(JSON.stringify({ data: [{ index: 0, embedding: [] }, { index: 0, embedding: [] }] }));
    expect(await caught(make().embed(['a', 'b']))).toMatchObject({ code: 'embedding-provider-error', message: expect.stringContaining('index') });
  });

  it("when the caller aborts, then the call stops with the caller's reason and is not retried", async () => {
    provider.handler = () => {};
    const controller = new AbortController();
    const pending = caught(make({ timeoutMs: 10_000 }).embed(['a'], { signal: controller.signal }));
    while (provider.seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error('client went away'));
    const err = await pending;
    expect(err).not.toBeInstanceOf(AppError);
    expect((err as Error).message).toBe('client went away');
    expect(provider.seen).toHaveLength(1);
  });

  it('when the caller aborts during a backoff wait, then no further attempt is made', async () => {
    provider.handler = (_req, res) => res.writeHead(429, { 'retry-after': '30' }).end();
    const controller = new AbortController();
    const err = await caught(make({ onRetry: () => controller.abort() }).embed(['a'], { signal: controller.signal }));
    expect((err as Error).name).toBe('AbortError');
    expect(provider.seen).toHaveLength(1);
  });

  it('when an empty list is embedded, then no call is made', async () => {
    expect(await make().embed([])).toMatchObject({ vectors: [], promptTokens: 0 });
    expect(provider.seen).toHaveLength(0);
  });

  it('when settings are out of range, then the embedder refuses to be built', () => {
    expect(() => make({ batchSize: 2049 })).toThrow(/batch size/);
    expect(() => make({ batchSize: 0 })).toThrow(/batch size/);
    expect(() => make({ baseUrl: 'ftp://example.invalid/v1' })).toThrow(/http/);
    expect(() => createEmbedder({ provider: 'openai', model: 'm', dimensions: 8 })).toThrow(/base URL/);
  });

  it('when createEmbedder gets openai settings, then it talks to that server with them', async () => {
    const e = createEmbedder({ provider: 'openai', model: 'nomic-embed-text', dimensions: DIMS, baseUrl, apiKey: API_KEY, batchSize: 100, maxRetries: 0, timeoutMs: 5_000 });
    expect(e).toMatchObject({ provider: 'openai', model: 'nomic-embed-text', dimensions: DIMS, batchSize: 100 });
    await e.embed(['a']);
    expect(provider.seen[0]!.body.model).toBe('nomic-embed-text');
  });
});

describe('createEmbedder local', () => {
  it('when the local embedder is created, then it gives LocalEmbedder vectors of the configured size with estimated tokens', async () => {
    const e = createEmbedder({ provider: 'local', model: 'hashing-v1', dimensions: 384 });
    expect(e).toMatchObject({ provider: 'local', model: 'hashing-v1', dimensions: 384, batchSize: 256 });
    const texts = ['Quarterly revenue grew by 12 percent.', 'Restart the payment service.'];
    const result = await e.embed(texts);
    const reference = new LocalEmbedder(384);
    expect(result.vectors).toEqual(texts.map((t) => reference.embedOne(t)));
    expect(result.vectors[0]).toHaveLength(384);
    expect(result.source).toBe('estimated');
    expect(result.promptTokens).toBe(countTokens(texts[0]!) + countTokens(texts[1]!));
    expect(result.promptTokens).toBeGreaterThan(0);
  });

  it('when more texts than one batch are embedded locally, then every text gets its vector in order', async () => {
    const e = createEmbedder({ provider: 'local', model: 'hashing-v1', dimensions: 64 });
    const texts = Array.from({ length: 600 }, (_, i) => `document number ${i}`);
    const result = await e.embed(texts);
    expect(result.vectors).toHaveLength(600);
    expect(result.vectors[599]).toEqual(new LocalEmbedder(64).embedOne('document number 599'));
  });

  it('when the local embedder is given an aborted signal, then it does not embed', async () => {
    const e = createEmbedder({ provider: 'local', model: 'hashing-v1', dimensions: 64 });
    await expect(e.embed(['a'], { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });
});
