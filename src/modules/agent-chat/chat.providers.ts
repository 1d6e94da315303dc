import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import CircuitBreaker from 'opossum';
import { stopwordsFor, words } from '../knowledge-base';

export interface PromptMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** A numbered passage the answer may quote and cite as [n]. */
export interface Source {
  n: number;
  title: string;
  text: string;
}

export interface ChatRequest {
  model: string;
  messages: PromptMessage[];
  maxOutputTokens: number;
  temperature?: number | null;
  signal: AbortSignal;
  /** The question and its sources, for providers that answer from them directly (extractive). */
  question: string;
  sources: Source[];
}

export type ChatEvent = { type: 'delta'; text: string } | { type: 'usage'; promptTokens: number; completionTokens: number };

/** One streaming interface for every provider: text deltas, then (when the provider reports it) usage. */
export interface ChatProvider {
  readonly type: 'extractive' | 'openai' | 'anthropic';
  /** Name in usage records (ai_usage.provider). */
  readonly name: string;
  readonly defaultModel: string;
  stream(req: ChatRequest): AsyncIterable<ChatEvent>;
  /** Throws provider-unavailable when calls are refused right now (an open circuit). */
  assertAvailable?(): void;
  /** The circuit breaker's state, for /health/ready. */
  readonly state?: 'closed' | 'open' | 'half-open';
}

/** A provider failure with a stable code; `retryable` ones may be retried before the first token. */
export class ProviderError extends Error {
  constructor(
    readonly code: 'provider-timeout' | 'provider-error' | 'provider-unavailable' | 'provider-bad-response',
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

const SENTENCE = /(?<=[.!?])\s+(?=[A-Z0-9"'([])/u;

/**
 * The built-in provider: no model. It answers from the retrieved passages by quoting the sentences
 * that share the most of the question's words (stop words aside), each followed by its source's
 * [n], in the order of their scores, streamed a few words at a time. With nothing relevant it says
 * so and how to configure a model. It reports no usage: the turn counts tokens (`estimated`).
 */
export class ExtractiveProvider implements ChatProvider {
  readonly type = 'extractive';
  readonly name = 'extractive';
  readonly defaultModel = 'extractive';

  constructor(
    private readonly language = 'english',
    private readonly maxSentences = 3,
  ) {}

  answer(question: string, sources: Source[]): string {
    const stop = stopwordsFor(this.language);
    const wanted = new Set(words(question).filter((w) => !stop.has(w) && w.length > 1));
    const scored: { n: number; sentence: string; score: number; order: number; short: boolean }[] = [];
    let order = 0;
    for (const s of sources) {
      for (const raw of s.text.split(/\n+/).flatMap((line) => line.split(SENTENCE))) {
        const sentence = raw.replace(/^#+\s*/, '').trim();
        if (sentence.length < 3) continue;
        const ws = new Set(words(sentence));
        let score = 0;
        for (const w of wanted) if (ws.has(w)) score += 1;
        // Prefix matches (policy/policies) count for less than whole words.
        for (const w of wanted) if (!ws.has(w) && w.length >= 5 && [...ws].some((x) => x.startsWith(w.slice(0, 5)))) score += 0.5;
        if (score > 0) scored.push({ n: s.n, sentence, score, order: order++, short: ws.size < 3 });
      }
    }
    // A bare title ("Holidays") says nothing a sentence matching as well does not: quoted only when it matches better.
    const bestSentence = Math.max(0, ...scored.filter((c) => !c.short).map((c) => c.score));
    const sentences = scored.filter((c) => !c.short || c.score > bestSentence);
    if (wanted.size === 0 || scored.length === 0) {
      return sources.length === 0
        ? "I couldn't find anything about that in the knowledge bases you can use. Add documents to a knowledge base, or configure a language model (LLM_PROVIDER=openai with LLM_BASE_URL and LLM_MODEL, or LLM_PROVIDER=anthropic) for answers beyond quotes."
        : "The passages I found don't seem to answer that. Try other words, or configure a language model (LLM_PROVIDER=openai with LLM_BASE_URL and LLM_MODEL, or LLM_PROVIDER=anthropic) for answers beyond quotes.";
    }
    const best = sentences.sort((a, b) => b.score - a.score || a.order - b.order).slice(0, this.maxSentences);
    const seen = new Set<string>();
    const lines = best.filter((b) => !seen.has(b.sentence) && seen.add(b.sentence)).map((b) => `> ${b.sentence} [${b.n}]`);
    return `From your documents:\n\n${lines.join('\n>\n')}`;
  }

  async *stream(req: ChatRequest): AsyncIterable<ChatEvent> {
    const text = this.answer(req.question, req.sources);
    // Small pieces, as a model would stream, with a turn of the event loop between them.
    const pieces = text.match(/\S+\s*/g) ?? [text];
    for (let i = 0; i < pieces.length; i += 3) {
      req.signal.throwIfAborted();
      yield { type: 'delta', text: pieces.slice(i, i + 3).join('') };
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}

/**
 * The clocks of one provider call: aborted when the caller aborts, when no first token came
 * within `firstTokenTimeoutMs`, or when the whole answer took longer than `overallTimeoutMs`.
 */
function callClocks(opts: { firstTokenTimeoutMs: number; overallTimeoutMs: number }, caller: AbortSignal) {
  const controller = new AbortController();
  const abort = () => controller.abort(caller.reason);
  caller.addEventListener('abort', abort, { once: true });
  let timedOut: 'first' | 'overall' | undefined;
  let answering = false;
  const first = setTimeout(() => {
    timedOut = 'first';
    controller.abort();
  }, opts.firstTokenTimeoutMs);
  const overall = setTimeout(() => {
    timedOut = 'overall';
    controller.abort();
  }, opts.overallTimeoutMs);
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    answering: () => answering,
    gotToken: () => {
      answering = true;
      clearTimeout(first);
    },
    /** An aborted stream may simply end: a timeout or the caller's abort is not a complete answer. */
    throwIfAborted: () => {
      if (controller.signal.aborted) throw controller.signal.reason ?? new Error('aborted');
    },
    done: () => {
      clearTimeout(first);
      clearTimeout(overall);
      caller.removeEventListener('abort', abort);
    },
  };
}

/** A provider SDK's failure as a ProviderError (or the caller's own abort, unchanged). */
function providerFailure(name: string, err: unknown, clocks: { timedOut: () => 'first' | 'overall' | undefined; answering: () => boolean }, caller: AbortSignal, opts: { firstTokenTimeoutMs: number; overallTimeoutMs: number }, api: { status?: number; message: string } | undefined): Error {
  if (caller.aborted) return caller.reason instanceof Error ? caller.reason : new Error('aborted');
  const timedOut = clocks.timedOut();
  if (timedOut === 'first') return new ProviderError('provider-timeout', `${name} sent no answer within ${Math.round(opts.firstTokenTimeoutMs / 1000)} s.`);
  if (timedOut === 'overall') return new ProviderError('provider-timeout', `${name} did not finish within ${Math.round(opts.overallTimeoutMs / 1000)} s.`);
  if (api) return new ProviderError('provider-error', `${name} answered ${api.status ?? 'with an error'}: ${api.message}`.slice(0, 500), api.status);
  if (err instanceof SyntaxError) return new ProviderError('provider-bad-response', `${name} sent a malformed stream: ${err.message}`.slice(0, 500));
  // It was reached: the connection broke mid-answer, which is not the same trouble as no route to it.
  if (clocks.answering()) return new ProviderError('provider-error', `${name} broke off the answer: ${(err as Error).message}`.slice(0, 500));
  return new ProviderError('provider-unavailable', `${name} could not be reached: ${(err as Error).message}`.slice(0, 500));
}

export interface OpenAiProviderOptions {
  name: string;
  baseUrl?: string;
  apiKey?: string;
  defaultModel: string;
  /** No first token within this → provider-timeout (the request is aborted). */
  firstTokenTimeoutMs: number;
  /** The whole answer within this, or it is cut off with provider-timeout. */
  overallTimeoutMs: number;
  /** Retries of the request (connection errors, 408/409/429/5xx), before any token has arrived. */
  maxRetries: number;
}

/**
 * Any OpenAI-compatible server (OpenAI, Ollama, vLLM, LM Studio, llama.cpp) through the official
 * SDK, streaming with `stream_options.include_usage` so that the server's own token counts end the
 * stream. The SDK retries with backoff only while no response has started, which is the rule here.
 */
export class OpenAiProvider implements ChatProvider {
  readonly type = 'openai';
  readonly name: string;
  readonly defaultModel: string;
  private readonly client: OpenAI;

  constructor(private readonly opts: OpenAiProviderOptions) {
    this.name = opts.name;
    this.defaultModel = opts.defaultModel;
    // The SDK's own logging would print model output to the console; failures reach our log as provider errors.
    this.client = new OpenAI({ baseURL: opts.baseUrl, apiKey: opts.apiKey || 'none', maxRetries: opts.maxRetries, timeout: opts.overallTimeoutMs, logLevel: 'off' });
  }

  async *stream(req: ChatRequest): AsyncIterable<ChatEvent> {
    const clocks = callClocks(this.opts, req.signal);
    const fail = (err: unknown) => providerFailure(this.name, err, clocks, req.signal, this.opts, err instanceof OpenAI.APIError && !(err instanceof OpenAI.APIConnectionError) ? { status: typeof err.status === 'number' ? err.status : undefined, message: (err.error as { message?: string } | undefined)?.message ?? err.message } : undefined);
    try {
      let stream;
      try {
        stream = await this.client.chat.completions.create(
          {
            model: req.model,
            messages: req.messages,
            stream: true,
            stream_options: { include_usage: true },
            max_tokens: req.maxOutputTokens,
            ...(req.temperature === null || req.temperature === undefined ? {} : { temperature: req.temperature }),
          },
          { signal: clocks.signal },
        );
      } catch (err) {
        throw fail(err);
      }
      try {
        for await (const chunk of stream) {
          const text = chunk.choices?.[0]?.delta?.content;
          if (text) {
            clocks.gotToken();
            yield { type: 'delta', text };
          }
          if (chunk.usage) yield { type: 'usage', promptTokens: chunk.usage.prompt_tokens ?? 0, completionTokens: chunk.usage.completion_tokens ?? 0 };
        }
        clocks.throwIfAborted();
      } catch (err) {
        throw fail(err);
      }
    } finally {
      clocks.done();
    }
  }
}

export interface BreakerOptions {
  /** Share of failed calls (in the rolling window) that opens the circuit. */
  errorThresholdPercentage?: number;
  /** Calls in the window before the share is judged. */
  volumeThreshold?: number;
  /** How long the circuit stays open before one trial call is let through. */
  resetTimeoutMs?: number;
  rollingCountTimeoutMs?: number;
}

/** Failures that say the provider is down or overloaded; a refused request (4xx) or a caller's abort is not one. */
const isOutage = (err: unknown) => err instanceof ProviderError && (err.code !== 'provider-error' || err.status === undefined || err.status >= 500 || err.status === 429);

/**
 * A circuit breaker (opossum) around a provider: repeated outages open it, and while it is open
 * calls fail at once with provider-unavailable instead of waiting on a dead server; after
 * `resetTimeoutMs` one trial call decides. What it guards is the start of a stream (up to the
 * first event): a server that answers is up, whatever happens later in its answer.
 */
export class BreakerProvider implements ChatProvider {
  readonly type: ChatProvider['type'];
  readonly name: string;
  readonly defaultModel: string;
  private readonly breaker: CircuitBreaker<[AsyncIterator<ChatEvent>], IteratorResult<ChatEvent>>;

  constructor(
    private readonly inner: ChatProvider,
    opts: BreakerOptions = {},
  ) {
    this.type = inner.type;
    this.name = inner.name;
    this.defaultModel = inner.defaultModel;
    this.breaker = new CircuitBreaker((it: AsyncIterator<ChatEvent>) => it.next(), {
      timeout: false,
      errorThresholdPercentage: opts.errorThresholdPercentage ?? 50,
      volumeThreshold: opts.volumeThreshold ?? 3,
      resetTimeout: opts.resetTimeoutMs ?? 30_000,
      rollingCountTimeout: opts.rollingCountTimeoutMs ?? 60_000,
      // Returning true means "not a failure": only outages count against the provider.
      errorFilter: (err: unknown) => !isOutage(err),
    });
  }

  /** closed (calls go through), open (refused at once) or half-open (one trial call). */
  get state(): 'closed' | 'open' | 'half-open' {
    return this.breaker.opened ? 'open' : this.breaker.halfOpen ? 'half-open' : 'closed';
  }

  /** Throws provider-unavailable while the circuit is open, before anything is spent. */
  assertAvailable(): void {
    if (this.breaker.opened) throw new ProviderError('provider-unavailable', `${this.name} failed repeatedly and is paused; try again shortly.`);
  }

  async *stream(req: ChatRequest): AsyncIterable<ChatEvent> {
    const it = this.inner.stream(req)[Symbol.asyncIterator]();
    let first: IteratorResult<ChatEvent>;
    try {
      first = await this.breaker.fire(it);
    } catch (err) {
      if ((err as { code?: string }).code === 'EOPENBREAKER') throw new ProviderError('provider-unavailable', `${this.name} failed repeatedly and is paused; try again shortly.`);
      throw err;
    }
    try {
      if (first.done) return;
      yield first.value;
      for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
    } finally {
      // A consumer that stops early closes the upstream stream (and its clocks) with it.
      await it.return?.();
    }
  }
}

export type AnthropicProviderOptions = OpenAiProviderOptions;

/**
 * Anthropic's Messages API through the official SDK, streaming. Its system prompt is a parameter of
 * its own (the agent's, then the client's, joined), and its turns must alternate starting with the
 * user, so neighbouring turns of one role are joined. Input tokens arrive with message_start,
 * output tokens with message_delta; both are reported as they came.
 */
export class AnthropicProvider implements ChatProvider {
  readonly type = 'anthropic';
  readonly name: string;
  readonly defaultModel: string;
  private readonly client: Anthropic;

  constructor(private readonly opts: AnthropicProviderOptions) {
    this.name = opts.name;
    this.defaultModel = opts.defaultModel;
    this.client = new Anthropic({ baseURL: opts.baseUrl, apiKey: opts.apiKey || 'none', maxRetries: opts.maxRetries, timeout: opts.overallTimeoutMs, logLevel: 'off' });
  }

  async *stream(req: ChatRequest): AsyncIterable<ChatEvent> {
    const clocks = callClocks(this.opts, req.signal);
    const fail = (err: unknown) => providerFailure(this.name, err, clocks, req.signal, this.opts, err instanceof Anthropic.APIError && !(err instanceof Anthropic.APIConnectionError) ? { status: typeof err.status === 'number' ? err.status : undefined, message: (err.error as { error?: { message?: string } } | undefined)?.error?.message ?? err.message } : undefined);
    const system = req.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
    const turns: { role: 'user' | 'assistant'; content: string }[] = [];
    for (const m of req.messages) {
      if (m.role === 'system') continue;
      const last = turns[turns.length - 1];
      if (last && last.role === m.role) last.content += `\n\n${m.content}`;
      else turns.push({ role: m.role, content: m.content });
    }
    if (turns[0]?.role === 'assistant') turns.unshift({ role: 'user', content: '(conversation continues)' });
    let input = 0;
    let output = 0;
    let sawUsage = false;
    try {
      let stream;
      try {
        stream = await this.client.messages.create(
          { model: req.model, max_tokens: req.maxOutputTokens, system: system || undefined, messages: turns, stream: true, ...(req.temperature === null || req.temperature === undefined ? {} : { temperature: Math.min(req.temperature, 1) }) },
          { signal: clocks.signal },
        );
      } catch (err) {
        throw fail(err);
      }
      try {
        for await (const ev of stream) {
          if (ev.type === 'message_start') {
            input = ev.message.usage?.input_tokens ?? 0;
            sawUsage = ev.message.usage !== undefined;
          } else if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta' && ev.delta.text) {
            clocks.gotToken();
            yield { type: 'delta', text: ev.delta.text };
          } else if (ev.type === 'message_delta' && ev.usage) {
            output = ev.usage.output_tokens ?? output;
            sawUsage = true;
          }
        }
        clocks.throwIfAborted();
      } catch (err) {
        throw fail(err);
      }
      if (sawUsage) yield { type: 'usage', promptTokens: input, completionTokens: output };
    } finally {
      clocks.done();
    }
  }
}
