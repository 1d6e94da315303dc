import { countTokens, decode, encode } from 'gpt-tokenizer';

export interface Chunk {
  ordinal: number;
  content: string;
  tokenCount: number;
  /** Headings above the chunk, outermost first (e.g. ["Runbook", "Restarts"]). */
  headingPath: string[];
  /** Character offsets of the chunk's own text (without the overlap carried in) in the source. */
  start: number;
  end: number;
}

export interface ChunkOptions {
  maxTokens?: number;
  overlapTokens?: number;
}

interface Block {
  kind: 'heading' | 'text';
  text: string;
  level?: number;
  start: number;
  end: number;
}

const HEADING = /^(#{1,6})\s+(.+?)\s*#*\s*$/;
const SENTENCE_END = /(?<=[.!?…])\s+(?=\S)/u;

/** Headings (markdown `#` lines) and paragraphs (separated by blank lines), with their offsets. */
function blocks(text: string): Block[] {
  const out: Block[] = [];
  const re = /[^\n]*(?:\n|$)/g;
  let para: { start: number; end: number } | undefined;
  const flush = () => {
    if (para) out.push({ kind: 'text', text: text.slice(para.start, para.end).trim(), start: para.start, end: para.end });
    para = undefined;
  };
  for (let m = re.exec(text); m && m[0].length > 0; m = re.exec(text)) {
    const line = m[0].replace(/\n$/, '');
    const start = m.index;
    const end = start + line.length;
    const h = HEADING.exec(line);
    if (h) {
      flush();
      out.push({ kind: 'heading', text: h[2]!, level: h[1]!.length, start, end });
    } else if (line.trim() === '') {
      flush();
    } else {
      para = para ? { start: para.start, end } : { start, end };
    }
  }
  flush();
  return out.filter((b) => b.text.length > 0);
}

/** Pieces of at most `max` tokens, with their counts: whole sentences where possible, token slices where not. */
function pieces(text: string, max: number): { text: string; tokens: number }[] {
  const whole = countTokens(text);
  if (whole <= max) return [{ text, tokens: whole }];
  const out: { text: string; tokens: number }[] = [];
  for (const sentence of text.split(SENTENCE_END)) {
    const n = countTokens(sentence);
    if (n <= max) {
      out.push({ text: sentence, tokens: n });
      continue;
    }
    const tokens = encode(sentence);
    for (let i = 0; i < tokens.length; i += max) out.push({ text: decode(tokens.slice(i, i + max)), tokens: Math.min(max, tokens.length - i) });
  }
  return out;
}

/** What the blank line between two parts of a chunk costs. */
const JOIN_TOKENS = countTokens('\n\n');

/** The last `n` tokens of a text, starting at a word boundary where one is near. */
function tail(text: string, n: number): string {
  if (n <= 0) return '';
  const tokens = encode(text);
  if (tokens.length <= n) return text;
  const t = decode(tokens.slice(tokens.length - n));
  const space = t.search(/\s/);
  return (space >= 0 && space < t.length / 2 ? t.slice(space) : t).trim();
}

/**
 * Structure-aware chunking: a heading always starts a new chunk; paragraphs (then sentences, then
 * token slices) are packed up to `maxTokens`, counted with a real tokenizer (o200k); a chunk that
 * continues a section starts with the last `overlapTokens` of the previous one, so a passage cut in
 * two is still found whole by either half.
 */
export function chunkText(text: string, opts: ChunkOptions = {}): Chunk[] {
  const maxTokens = opts.maxTokens ?? 400;
  const overlapTokens = Math.min(opts.overlapTokens ?? 50, Math.floor(maxTokens / 4));
  const chunks: Chunk[] = [];
  const path: { level: number; text: string }[] = [];
  // `tokens` is what the parts so far would cost: the sum of the parts' own counts and the joins.
  // The tokenizer splits text at whitespace before merging, so parts joined by a blank line never
  // cost more together than apart; summing avoids re-counting the whole chunk at every paragraph
  // (which made chunking quadratic in the paragraphs per chunk). The stored count is exact.
  let current: { parts: string[]; tokens: number; start: number; end: number; carried: string } | undefined;

  const render = (carried: string, parts: string[]) => {
    const body = parts.join('\n\n');
    return carried ? `${carried}\n\n${body}` : body;
  };
  const emit = () => {
    if (!current || current.parts.length === 0) return;
    const content = render(current.carried, current.parts);
    chunks.push({ ordinal: chunks.length, content, tokenCount: countTokens(content), headingPath: path.map((p) => p.text), start: current.start, end: current.end });
    current = undefined;
  };

  for (const b of blocks(text)) {
    if (b.kind === 'heading') {
      emit();
      while (path.length && path[path.length - 1]!.level >= b.level!) path.pop();
      path.push({ level: b.level!, text: b.text });
      continue;
    }
    // Pieces leave room for the overlap a continuation carries, plus the joins between parts.
    for (const piece of pieces(b.text, maxTokens - overlapTokens - 4)) {
      // Joins and overlap included, as the text will be stored.
      if (current && current.tokens + JOIN_TOKENS + piece.tokens > maxTokens) {
        const carried = tail(current.parts.join('\n\n'), overlapTokens);
        emit();
        current = { parts: [], tokens: carried ? countTokens(carried) : 0, start: b.start, end: b.end, carried };
      }
      current ??= { parts: [], tokens: 0, start: b.start, end: b.end, carried: '' };
      current.tokens += (current.parts.length > 0 || current.carried ? JOIN_TOKENS : 0) + piece.tokens;
      current.parts.push(piece.text);
      current.end = b.end;
    }
  }
  emit();
  return chunks;
}
