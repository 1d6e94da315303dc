import { countTokens } from 'gpt-tokenizer';
import { AppError } from '../../platform/errors';
import type { Embedder, EmbeddingResult } from './kb.embedder';

/** OpenAI's own ceiling on inputs per request; other compatible servers accept at least as few. */
export const MAX_BATCH_SIZE = 2048;

/** The provider answered with an error status, an unusable body, or could not be reached. */
export class EmbeddingProviderError extends AppError {
  constructor(message: string, details?: { status?: number; attempts?: number }) {
    super(502, 'embedding-provider-error', message, details);
  }
}

export class EmbeddingTimeoutError extends AppError {
  constructor(timeoutMs: number, attempts: number) {
    super(504, 'embedding-provider-timeout', `The embedding provider did not answer within ${formatMs(timeoutMs)}.`, { timeoutMs, attempts });
  }
}

export class EmbeddingDimensionsError extends AppError {
  constructor(
    readonly expected: number,
    readonly got: number,
  ) {
    super(502, 'embedding-dimensions-mismatch', `The embedding model returned vectors of ${got} dimensions, but ${expected} are expected. Check the model and its dimensions setting.`, { expected, got });
  }
}

export interface OpenAiEmbedderOptions {
  baseUrl: string;
  model: string;
  dimensions: number;
  apiKey?: string;
  /** Name recorded with usage and prices; the wire protocol is OpenAI's whatever the server is. */
  provider?: string;
  /** Per HTTP call, including reading the body. */
  timeoutMs?: number;
  /** Further attempts after the first, for network errors, timeouts, 429 and 5xx. */
  maxRetries?: number;
  batchSize?: number;
  /**
   * Sends `dimensions` in the request so text-embedding-3 models shorten their vectors to the
   * configured size. Servers that ignore unknown fields (Ollama) are unaffected; turn it off only
   * for models that reject the field (text-embedding-ada-002).
   */
  sendDimensions?: boolean;
  /** First backoff step; later ones double, with jitter. */
  retryBaseDelayMs?: number;
  /** Upper bound on any wait between attempts, a server's Retry-After included. */
  maxRetryDelayMs?: number;
  /** Told about every retry before its wait, e.g. for logging and metrics. */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
}

interface Attempted {
  vectors: number[][];
  reportedTokens?: number;
}

/** A failure worth another attempt, with the error to throw when the attempts run out. */
class Retryable extends Error {
  constructor(
    readonly final: AppError,
    readonly retryAfterMs?: number,
  ) {
    super(final.message);
  }
}

/**
 * Any OpenAI-compatible `POST {baseUrl}/embeddings` (OpenAI, Ollama, vLLM, LiteLLM, …). The base
 * URL is admin configuration, never user input, so plain fetch is fine here (no SSRF guard).
 */
export class OpenAiEmbedder implements Embedder {
  readonly provider: string;
  readonly model: string;
  readonly dimensions: number;
  readonly batchSize: number;
  private readonly url: string;
  private readonly apiKey?: string;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly sendDimensions: boolean;
  private readonly retryBaseDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly onRetry?: OpenAiEmbedderOptions['onRetry'];

  constructor(opts: OpenAiEmbedderOptions) {
    const base = new URL(opts.baseUrl);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('The embedding base URL must be http(s).');
    this.url = `${base.toString().replace(/\/+$/, '')}/embeddings`;
    this.provider = opts.provider ?? 'openai';
    this.model = opts.model;
    this.dimensions = opts.dimensions;
    this.apiKey = opts.apiKey || undefined;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxRetries = opts.maxRetries ?? 3;
    this.batchSize = opts.batchSize ?? 64;
    this.sendDimensions = opts.sendDimensions ?? true;
    this.retryBaseDelayMs = opts.retryBaseDelayMs ?? 500;
    this.maxRetryDelayMs = opts.maxRetryDelayMs ?? 30_000;
    this.onRetry = opts.onRetry;
    if (!opts.model) throw new Error('The embedding model must be named.');
    if (!Number.isInteger(this.dimensions) || this.dimensions < 1) throw new Error('Embedding dimensions must be a positive integer.');
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1 || this.batchSize > MAX_BATCH_SIZE) throw new Error(`The embedding batch size must be an integer from 1 to ${MAX_BATCH_SIZE}.`);
    if (!Number.isInteger(this.maxRetries) || this.maxRetries < 0) throw new Error('Embedding retries must be a non-negative integer.');
    if (!(this.timeoutMs > 0)) throw new Error('The embedding timeout must be positive.');
  }

  /** Splits `texts` into calls of at most `batchSize`, one after another (kind to rate limits). */
  async embed(texts: string[], opts: EmbedOptions = {}): Promise<EmbeddingResult> {
    const started = performance.now();
    const vectors: number[][] = [];
    let promptTokens = 0;
    // Reported only if every call was: one estimated batch makes the sum an estimate.
    let allReported = texts.length > 0;
    for (let i = 0; i < texts.length; i += this.batchSize) {
      const batch = texts.slice(i, i + this.batchSize);
      const got = await this.withRetries(batch, opts.signal);
      vectors.push(...got.vectors);
      if (got.reportedTokens !== undefined) promptTokens += got.reportedTokens;
      else {
        allReported = false;
        promptTokens += opts.tokenCounts ? sum(opts.tokenCounts.slice(i, i + batch.length)) : estimateTokens(batch);
      }
    }
    return { vectors, promptTokens, source: allReported ? 'reported' : 'estimated', latencyMs: Math.round(performance.now() - started) };
  }

  private async withRetries(batch: string[], signal?: AbortSignal): Promise<Attempted> {
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      try {
        return await this.call(batch, attempt, signal);
      } catch (err) {
        if (!(err instanceof Retryable)) throw err;
        if (attempt > this.maxRetries) throw err.final;
        const delayMs = Math.min(this.maxRetryDelayMs, err.retryAfterMs ?? this.backoff(attempt));
        this.onRetry?.({ attempt, delayMs, reason: err.final.message });
        await sleep(delayMs, signal);
      }
    }
  }

  /** Exponential with "equal jitter": never less than half the step, so retries still spread out. */
  private backoff(attempt: number): number {
    const step = this.retryBaseDelayMs * 2 ** (attempt - 1);
    return Math.round(step / 2 + (Math.random() * step) / 2);
  }

  private async call(batch: string[], attempts: number, signal?: AbortSignal): Promise<Attempted> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    const body: Record<string, unknown> = { model: this.model, input: batch, encoding_format: 'float' };
    if (this.sendDimensions) body.dimensions = this.dimensions;

    let status: number;
    let text: string;
    let retryAfter: string | null;
    let location: string | null;
    try {
      // The body is read under the same signal, so a server that stalls mid-body times out too.
      // Redirects are not followed: a POST with credentials belongs at the configured URL only.
      const res = await fetch(this.url, { method: 'POST', headers, body: JSON.stringify(body), signal: combined, redirect: 'manual' });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      location = res.headers.get('location');
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) throw new Retryable(new EmbeddingTimeoutError(this.timeoutMs, attempts));
      throw new Retryable(new EmbeddingProviderError(`The embedding provider could not be reached (${this.sanitise(networkReason(err))}).`, { attempts }));
    }

    if (status >= 300 && status < 400) {
      throw new EmbeddingProviderError(`The embedding provider answered ${status}, a redirect${location ? ` to ${this.sanitise(location)}` : ''}; set the embedding base URL to the final address.`, { status, attempts });
    }
    if (status < 200 || status >= 300) {
      const error = new EmbeddingProviderError(`The embedding provider answered ${status}: ${this.sanitise(errorReason(text))}`, { status, attempts });
      if (status === 429) throw new Retryable(error, parseRetryAfter(retryAfter));
      if (status >= 500) throw new Retryable(error);
      throw error;
    }
    return this.parse(text, batch.length, status);
  }

  private parse(text: string, expected: number, status: number): Attempted {
    const invalid = (why: string) => new EmbeddingProviderError(`The embedding provider answered ${status} with an invalid response: ${why}.`, { status });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw invalid('not JSON');
    }
    const data = (json as { data?: unknown })?.data;
    if (!Array.isArray(data)) throw invalid('no data array');
    if (data.length !== expected) throw invalid(`${data.length} embeddings for ${expected} inputs`);
    const items = data.map((d: unknown) => d as { index?: unknown; embedding?: unknown });
    // Servers may answer out of order; `index` is what ties a vector to its input.
    const byIndex = new Array<number[] | undefined>(expected);
    for (const item of items) {
      const i = item?.index;
      if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= expected || byIndex[i]) throw invalid('missing, duplicate or out-of-range index');
      if (!Array.isArray(item.embedding)) throw invalid('an embedding is not an array of numbers');
      byIndex[i] = item.embedding as number[];
    }
    const vectors = byIndex as number[][];
    for (const v of vectors) {
      if (v.length !== this.dimensions) throw new EmbeddingDimensionsError(this.dimensions, v.length);
      for (const x of v) if (typeof x !== 'number' || !Number.isFinite(x)) throw invalid('an embedding holds a value that is not a finite number');
    }
    return { vectors, reportedTokens: reportedTokens(json) };
  }

  /** Provider text goes into errors that users and logs see: short, printable, no credentials. */
  private sanitise(reason: string): string {
    let s = reason;
    if (this.apiKey) s = s.split(this.apiKey).join('[redacted]');
    s = Array.from(s, (ch) => (ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f ? ' ' : ch)).join('');
    s = s
      .replace(/\b(sk|pk|rk)-[A-Za-z0-9_*.-]{6,}/g, '[redacted]')
      .replace(/Bearer\s+\S+/gi, 'Bearer [redacted]')
      .replace(/\s+/g, ' ')
      .trim();
    if (s.length > 200) s = `${s.slice(0, 199)}…`;
    return s || 'no reason given';
  }
}

/**
 * A count is "reported" only when the server gave a positive whole one (0 for real text means it
 * does not count); capped so that a batch's count always fits the usage columns (int4).
 */
function reportedTokens(json: unknown): number | undefined {
  const usage = (json as { usage?: { prompt_tokens?: unknown; total_tokens?: unknown } })?.usage;
  for (const n of [usage?.prompt_tokens, usage?.total_tokens]) if (typeof n === 'number' && Number.isInteger(n) && n > 0) return Math.min(n, 100_000_000);
  return undefined;
}

export interface EmbedOptions {
  signal?: AbortSignal;
  /** Token counts the caller already has, one per text (the chunker's): used instead of counting again when the provider reports none. */
  tokenCounts?: number[];
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

export function estimateTokens(texts: string[]): number {
  let n = 0;
  for (const t of texts) n += countTokens(t);
  return n;
}

function errorReason(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: unknown; message?: unknown; detail?: unknown };
    if (typeof j.error === 'string') return j.error;
    const m = (j.error as { message?: unknown } | undefined)?.message ?? j.message ?? j.detail;
    if (typeof m === 'string') return m;
  } catch {
    /* not JSON: the raw text is the reason */
  }
  return text.slice(0, 500);
}

function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } })?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return err instanceof Error ? err.message : String(err);
}

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function formatMs(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
