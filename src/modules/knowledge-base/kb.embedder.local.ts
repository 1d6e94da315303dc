import * as stopwords from 'stopword';

/**
 * The built-in `local` embedder: no model, no network, deterministic.
 *
 * Algorithm (signed feature hashing, "the hashing trick"):
 *  1. Normalise: Unicode NFKD, drop combining marks (é → e), lower-case.
 *     `hashing-v2` then drops the stop words of the knowledge base's language (the lists of the
 *     `stopword` package, normalised the same way): they carry no topic, and in a short question
 *     they were most of the vector ("how do I …"), so every question looked alike. `hashing-v1`
 *     keeps them and stays for knowledge bases embedded with it until they are re-indexed.
 *  2. Features of the remaining words:
 *     - every word (letters/digits run)                       weight 1.0
 *     - every pair of neighbouring words ("w1 w2")            weight 0.7
 *     - every character 3-, 4- and 5-gram of "<word>"        weight 0.35 (words ≥ 3 letters)
 *     Character n-grams make inflections and typos land near each other (index/indexing/indexes);
 *     bigrams keep some word order.
 *  3. Each feature is hashed (FNV-1a, 32 bit) to one of `dimensions` buckets, with a sign taken from
 *     a second hash so that collisions cancel out on average instead of piling up.
 *  4. Counts are damped (1 + ln count) so a repeated word does not drown the rest.
 *  5. The vector is L2-normalised, so cosine similarity is a dot product.
 *
 * Useful on its own for lexical similarity; hybrid search (full-text + vectors) makes it good
 * enough for the embedded default, and a real embedding model is one setting away.
 */

const WORD = /[\p{L}\p{N}]+/gu;

const FNV_PRIME = 0x01000193;

function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME) >>> 0;
  }
  return h >>> 0;
}

// Hash states after each feature kind's prefix, for the bucket seed and the sign seed.
const W1 = fnv1a('w:');
const W2 = fnv1a('w:', 0x9e3779b9);
const B1 = fnv1a('b:');
const B2 = fnv1a('b:', 0x9e3779b9);
const C1 = fnv1a('c:');
const C2 = fnv1a('c:', 0x9e3779b9);

export function normalise(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}+/gu, '').toLowerCase();
}

export function words(text: string): string[] {
  return normalise(text).match(WORD) ?? [];
}

/** PostgreSQL text-search configurations → the `stopword` package's lists. Others (simple, nepali, serbian, tamil, yiddish) keep every word. */
const STOPWORD_LISTS: Record<string, readonly string[]> = {
  arabic: stopwords.ara, armenian: stopwords.hye, basque: stopwords.eus, catalan: stopwords.cat, danish: stopwords.dan, dutch: stopwords.nld, english: stopwords.eng, finnish: stopwords.fin,
  french: stopwords.fra, german: stopwords.deu, greek: stopwords.ell, hindi: stopwords.hin, hungarian: stopwords.hun, indonesian: stopwords.ind, irish: stopwords.gle, italian: stopwords.ita,
  lithuanian: stopwords.lit, norwegian: stopwords.nob, portuguese: stopwords.por, romanian: stopwords.ron, russian: stopwords.rus, spanish: stopwords.spa, swedish: stopwords.swe, turkish: stopwords.tur,
};
const stopwordCache = new Map<string, ReadonlySet<string>>();

/** The stop words of a text-search configuration, as words() produces them. */
export function stopwordsFor(language: string): ReadonlySet<string> {
  let set = stopwordCache.get(language);
  if (!set) {
    const list = STOPWORD_LISTS[language] ?? [];
    set = new Set(list.flatMap((w) => words(w)));
    stopwordCache.set(language, set);
  }
  return set;
}

/** The versions of the algorithm (a knowledge base's `embedding_model` when its provider is `local`). */
export const LOCAL_MODELS = ['hashing-v1', 'hashing-v2'] as const;
export type LocalModel = (typeof LOCAL_MODELS)[number];
export const DEFAULT_LOCAL_MODEL: LocalModel = 'hashing-v2';

export interface LocalEmbedderOptions {
  /** Words left out before hashing (hashing-v2: the language's stop words). */
  stopwords?: ReadonlySet<string>;
}

export class LocalEmbedder {
  readonly id = 'local';
  private readonly stopwords: ReadonlySet<string>;

  constructor(
    readonly dimensions = 384,
    opts: LocalEmbedderOptions = {},
  ) {
    if (!Number.isInteger(dimensions) || dimensions < 16) throw new Error('dimensions must be an integer ≥ 16');
    this.stopwords = opts.stopwords ?? new Set();
  }

  /** The embedder a knowledge base with provider `local` uses. */
  static forModel(model: string, dimensions: number, language: string): LocalEmbedder {
    if (model === 'hashing-v1') return new LocalEmbedder(dimensions);
    if (model === 'hashing-v2') return new LocalEmbedder(dimensions, { stopwords: stopwordsFor(language) });
    throw new Error(`unknown local embedding model '${model}' (known: ${LOCAL_MODELS.join(', ')})`);
  }

  /**
   * The same features and hashes as described above, computed without building a string per feature:
   * FNV-1a runs over the prefix ("w:", "b:", "c:") and then the characters in place, for both seeds
   * at once. A feature is identified by its two 32-bit hashes (53 bits of them), so counting needs no
   * strings either; ingestion spends most of its embedding time here.
   */
  embedOne(text: string): number[] {
    const dims = this.dimensions;
    const v = new Float64Array(dims);
    // key → slot; per slot: weight, count, bucket, sign
    const slots = new Map<number, number>();
    const weight: number[] = [];
    const count: number[] = [];
    const bucket: number[] = [];
    const sign: number[] = [];
    const add = (h1: number, h2: number, w: number) => {
      const key = h1 + (h2 & 0x1fffff) * 4294967296;
      const at = slots.get(key);
      if (at !== undefined) {
        count[at]! += 1;
        return;
      }
      slots.set(key, weight.length);
      weight.push(w);
      count.push(1);
      bucket.push(h1 % dims);
      sign.push(h2 & 1 ? 1 : -1);
    };
    const all = words(text);
    const ws = this.stopwords.size > 0 ? all.filter((w) => !this.stopwords.has(w)) : all;
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i]!;
      let a = W1;
      let b = W2;
      for (let k = 0; k < w.length; k++) {
        a = Math.imul(a ^ w.charCodeAt(k), FNV_PRIME) >>> 0;
        b = Math.imul(b ^ w.charCodeAt(k), FNV_PRIME) >>> 0;
      }
      add(a, b, 1);
      if (i > 0) {
        const p = ws[i - 1]!;
        a = B1;
        b = B2;
        for (let k = 0; k < p.length; k++) {
          a = Math.imul(a ^ p.charCodeAt(k), FNV_PRIME) >>> 0;
          b = Math.imul(b ^ p.charCodeAt(k), FNV_PRIME) >>> 0;
        }
        a = Math.imul(a ^ 32, FNV_PRIME) >>> 0;
        b = Math.imul(b ^ 32, FNV_PRIME) >>> 0;
        for (let k = 0; k < w.length; k++) {
          a = Math.imul(a ^ w.charCodeAt(k), FNV_PRIME) >>> 0;
          b = Math.imul(b ^ w.charCodeAt(k), FNV_PRIME) >>> 0;
        }
        add(a, b, 0.7);
      }
      if (w.length >= 3) {
        const padded = `<${w}>`;
        for (let n = 3; n <= 5; n++) {
          for (let j = 0; j + n <= padded.length; j++) {
            a = C1;
            b = C2;
            for (let k = j; k < j + n; k++) {
              a = Math.imul(a ^ padded.charCodeAt(k), FNV_PRIME) >>> 0;
              b = Math.imul(b ^ padded.charCodeAt(k), FNV_PRIME) >>> 0;
            }
            add(a, b, 0.35);
          }
        }
      }
    }
    for (let i = 0; i < weight.length; i++) v[bucket[i]!]! += sign[i]! * weight[i]! * (1 + Math.log(count[i]!));
    let norm = 0;
    for (const x of v) norm += x * x;
    norm = Math.sqrt(norm);
    return Array.from(v, (x) => (norm > 0 ? x / norm : 0));
  }

  async embed(texts: string[]): Promise<number[][]> {
    return texts.map((t) => this.embedOne(t));
  }
}
