import type { CpuPool } from './kb.cpu';
import { LocalEmbedder } from './kb.embedder.local';
import { OpenAiEmbedder, estimateTokens, type EmbedOptions } from './kb.embedder.openai';

export type { EmbedOptions } from './kb.embedder.openai';
export { EmbeddingDimensionsError, EmbeddingProviderError, EmbeddingTimeoutError, MAX_BATCH_SIZE, OpenAiEmbedder, estimateTokens, type OpenAiEmbedderOptions } from './kb.embedder.openai';

export interface EmbeddingResult {
  vectors: number[][];
  promptTokens: number;
  source: 'reported' | 'estimated';
  latencyMs: number;
}

export interface Embedder {
  readonly provider: string;
  readonly model: string;
  readonly dimensions: number;
  /** texts per call */
  readonly batchSize: number;
  /** Any number of texts: implementations split them into calls of at most `batchSize`. */
  embed(texts: string[], opts?: EmbedOptions): Promise<EmbeddingResult>;
}

export interface EmbedderSettings {
  provider: 'local' | 'openai';
  model: string;
  dimensions: number;
  /** The knowledge base's text-search configuration: the local embedder drops its stop words (hashing-v2). */
  language?: string;
  /** Worker threads for the local embedder's batches (INGEST_THREADS). */
  pool?: CpuPool;
  baseUrl?: string;
  apiKey?: string;
  timeoutMs?: number;
  maxRetries?: number;
  batchSize?: number;
}

/** The built-in embedder behind the common interface; it has no provider to report tokens, so they are counted. */
class LocalAdapter implements Embedder {
  readonly provider = 'local';
  readonly batchSize = 256;
  private readonly inner: LocalEmbedder;

  constructor(
    readonly model: string,
    readonly dimensions: number,
    private readonly language: string,
    private readonly pool?: CpuPool,
  ) {
    this.inner = LocalEmbedder.forModel(model, dimensions, language);
  }

  async embed(texts: string[], opts: EmbedOptions = {}): Promise<EmbeddingResult> {
    const started = performance.now();
    // A question (one text) is hashed here: the round trip to a thread would cost more than it.
    if (this.pool && texts.length > 1) {
      opts.signal?.throwIfAborted();
      const vectors = await this.pool.embedLocal({ model: this.model, dimensions: this.dimensions, language: this.language }, texts);
      const promptTokens = opts.tokenCounts ? opts.tokenCounts.reduce((a, b) => a + b, 0) : estimateTokens(texts);
      return { vectors, promptTokens, source: 'estimated', latencyMs: Math.round(performance.now() - started) };
    }
    const vectors: number[][] = [];
    for (let i = 0; i < texts.length; i += this.batchSize) {
      opts.signal?.throwIfAborted();
      for (const t of texts.slice(i, i + this.batchSize)) vectors.push(this.inner.embedOne(t));
      // Hashing is CPU only: give the event loop a turn between batches so a big document does not stall requests.
      if (i + this.batchSize < texts.length) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const promptTokens = opts.tokenCounts ? opts.tokenCounts.reduce((a, b) => a + b, 0) : estimateTokens(texts);
    return { vectors, promptTokens, source: 'estimated', latencyMs: Math.round(performance.now() - started) };
  }
}

export function createEmbedder(settings: EmbedderSettings): Embedder {
  switch (settings.provider) {
    case 'local':
      return new LocalAdapter(settings.model, settings.dimensions, settings.language ?? 'simple', settings.pool);
    case 'openai':
      if (!settings.baseUrl) throw new Error('The openai embedding provider needs a base URL (EMBEDDING_BASE_URL).');
      return new OpenAiEmbedder({
        baseUrl: settings.baseUrl,
        apiKey: settings.apiKey,
        model: settings.model,
        dimensions: settings.dimensions,
        timeoutMs: settings.timeoutMs,
        maxRetries: settings.maxRetries,
        batchSize: settings.batchSize,
      });
    default:
      throw new Error(`Unknown embedding provider: ${String((settings as { provider: unknown }).provider)}`);
  }
}
