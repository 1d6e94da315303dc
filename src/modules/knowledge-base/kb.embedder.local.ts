/**
 * The built-in `local` embedder: no model, no network, deterministic.
 *
 * Algorithm (signed feature hashing, "the hashing trick"):
 *  1. Normalise: Unicode NFKD, drop combining marks (é → e), lower-case.
 *  2. Features of the text:
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

function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function normalise(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}+/gu, '').toLowerCase();
}

export function words(text: string): string[] {
  return normalise(text).match(WORD) ?? [];
}

export class LocalEmbedder {
  readonly id = 'local';

  constructor(readonly dimensions = 384) {
    if (!Number.isInteger(dimensions) || dimensions < 16) throw new Error('dimensions must be an integer ≥ 16');
  }

  /** Feature → [weight of its kind, how often it occurs]. */
  private features(text: string): Map<string, [number, number]> {
    const out = new Map<string, [number, number]>();
    const add = (f: string, w: number) => {
      const seen = out.get(f);
      if (seen) seen[1] += 1;
      else out.set(f, [w, 1]);
    };
    const ws = words(text);
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i]!;
      add(`w:${w}`, 1);
      if (i > 0) add(`b:${ws[i - 1]} ${w}`, 0.7);
      if (w.length >= 3) {
        const padded = `<${w}>`;
        for (let n = 3; n <= 5; n++) for (let j = 0; j + n <= padded.length; j++) add(`c:${padded.slice(j, j + n)}`, 0.35);
      }
    }
    return out;
  }

  /** One vector per text; a text without any word gives the zero vector. */
  embedOne(text: string): number[] {
    const v = new Float64Array(this.dimensions);
    for (const [feature, [weight, count]] of this.features(text)) {
      const bucket = fnv1a(feature) % this.dimensions;
      const sign = fnv1a(feature, 0x9e3779b9) & 1 ? 1 : -1;
      v[bucket]! += sign * weight * (1 + Math.log(count));
    }
    let norm = 0;
    for (const x of v) norm += x * x;
    norm = Math.sqrt(norm);
    return Array.from(v, (x) => (norm > 0 ? x / norm : 0));
  }

  async embed(texts: string[]): Promise<number[][]> {
    return texts.map((t) => this.embedOne(t));
  }
}
