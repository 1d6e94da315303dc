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

  // Scratch space reused by every call (embedOne is synchronous, so calls never overlap): an
  // open-addressing table from a feature's two hashes to its slot, and per slot, in first-seen
  // order, its bucket, signed weight and count. A Map keyed by 53-bit numbers boxed every key, and
  // allocation and garbage collection were most of the embedding time.
  private tableH1 = new Uint32Array(4096);
  private tableH2 = new Uint32Array(4096);
  private tableSlot = new Int32Array(4096);
  private tableStamp = new Uint32Array(4096);
  private stamp = 0;
  private slotBucket = new Int32Array(2048);
  private slotWeight = new Float64Array(2048);
  private slotCount = new Uint32Array(2048);
  private slots = 0;
  /** The characters of "<word>" and, per n-gram length and start, its two hashes. */
  private codes = new Int32Array(64);
  private grams = new Uint32Array(3 * 64 * 2);

  private growGrams(len: number): void {
    this.codes = new Int32Array(len * 2);
    this.grams = new Uint32Array(3 * len * 2 * 2);
  }

  private resetTable(): void {
    this.stamp = (this.stamp + 1) >>> 0;
    if (this.stamp === 0) {
      this.tableStamp.fill(0);
      this.stamp = 1;
    }
    this.slots = 0;
  }

  /** Counts a feature; its first occurrence fixes its weight, bucket and sign (as they depend only on it). */
  private add(h1: number, h2: number, w: number): void {
    const key2 = h2 & 0x1fffff;
    let mask = this.tableH1.length - 1;
    let i = (h1 ^ Math.imul(key2, 0x9e3779b1)) & mask;
    for (;;) {
      if (this.tableStamp[i] !== this.stamp) break;
      if (this.tableH1[i] === h1 && this.tableH2[i] === key2) {
        this.slotCount[this.tableSlot[i]!]! += 1;
        return;
      }
      i = (i + 1) & mask;
    }
    const slot = this.slots++;
    if (slot >= this.slotBucket.length) this.growSlots();
    this.slotBucket[slot] = h1 % this.dimensions;
    this.slotWeight[slot] = (h2 & 1 ? 1 : -1) * w;
    this.slotCount[slot] = 1;
    this.tableH1[i] = h1;
    this.tableH2[i] = key2;
    this.tableSlot[i] = slot;
    this.tableStamp[i] = this.stamp;
    // Keep the table at most half full.
    if (this.slots * 2 > this.tableH1.length) {
      this.growTable();
      mask = this.tableH1.length - 1;
    }
  }

  private growSlots(): void {
    const n = this.slotBucket.length * 2;
    const bucket = new Int32Array(n);
    bucket.set(this.slotBucket);
    const weight = new Float64Array(n);
    weight.set(this.slotWeight);
    const count = new Uint32Array(n);
    count.set(this.slotCount);
    [this.slotBucket, this.slotWeight, this.slotCount] = [bucket, weight, count];
  }

  private growTable(): void {
    const [h1s, h2s, slots, stamps] = [this.tableH1, this.tableH2, this.tableSlot, this.tableStamp];
    const n = h1s.length * 2;
    const mask = n - 1;
    this.tableH1 = new Uint32Array(n);
    this.tableH2 = new Uint32Array(n);
    this.tableSlot = new Int32Array(n);
    this.tableStamp = new Uint32Array(n);
    for (let j = 0; j < h1s.length; j++) {
      if (stamps[j] !== this.stamp) continue;
      let i = (h1s[j]! ^ Math.imul(h2s[j]!, 0x9e3779b1)) & mask;
      while (this.tableStamp[i] === this.stamp) i = (i + 1) & mask;
      this.tableH1[i] = h1s[j]!;
      this.tableH2[i] = h2s[j]!;
      this.tableSlot[i] = slots[j]!;
      this.tableStamp[i] = this.stamp;
    }
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
    this.resetTable();
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
      this.add(a, b, 1);
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
        this.add(a, b, 0.7);
      }
      if (w.length >= 3) {
        // The n-grams of "<w>" ('<' = 60, '>' = 62). FNV-1a is sequential, so one pass from each
        // start yields the 3-, 4- and 5-gram hashes there; they are counted in the order of the
        // definition (every 3-gram, then every 4-gram, then every 5-gram), so the sums, and the
        // vectors, are the same to the last bit.
        const len = w.length + 2;
        if (len > this.codes.length) this.growGrams(len);
        const { codes, grams } = this;
        codes[0] = 60;
        for (let k = 0; k < w.length; k++) codes[k + 1] = w.charCodeAt(k);
        codes[len - 1] = 62;
        for (let j = 0; j + 3 <= len; j++) {
          a = C1;
          b = C2;
          const stop = Math.min(j + 5, len);
          for (let k = j; k < stop; k++) {
            a = Math.imul(a ^ codes[k]!, FNV_PRIME) >>> 0;
            b = Math.imul(b ^ codes[k]!, FNV_PRIME) >>> 0;
            const n = k - j + 1;
            if (n >= 3) {
              const at = ((n - 3) * len + j) * 2;
              grams[at] = a;
              grams[at + 1] = b;
            }
          }
        }
        for (let n = 3; n <= 5; n++) {
          for (let j = 0; j + n <= len; j++) {
            const at = ((n - 3) * len + j) * 2;
            this.add(grams[at]!, grams[at + 1]!, 0.35);
          }
        }
      }
    }
    const { slotBucket, slotWeight, slotCount } = this;
    for (let i = 0; i < this.slots; i++) v[slotBucket[i]!]! += slotWeight[i]! * (1 + Math.log(slotCount[i]!));
    let norm = 0;
    for (const x of v) norm += x * x;
    norm = Math.sqrt(norm);
    return Array.from(v, (x) => (norm > 0 ? x / norm : 0));
  }

  async embed(texts: string[]): Promise<number[][]> {
    return texts.map((t) => this.embedOne(t));
  }
}
