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

/** Pieces of at most `max` tokens: whole sentences where possible, token slices where not. */
function pieces(text: string, max: number): string[] {
  if (countTokens(text) <= max) return [text];
  const out: string[] = [];
  for (const sentence of text.split(SENTENCE_END)) {
    if (countTokens(sentence) <= max) {
      out.push(sentence);
      continue;
    }
    const tokens = encode(sentence);
    for (let i = 0; i < tokens.length; i += max) out.push(decode(tokens.slice(i, i + max)));
  }
  return out;
}

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
  let current: { parts: string[]; start: number; end: number; carried: string } | undefined;

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
      // Counted on the text as it will be stored: joins and overlap included.
      if (current && countTokens(render(current.carried, [...current.parts, piece])) > maxTokens) {
        const carried = tail(current.parts.join('\n\n'), overlapTokens);
        emit();
        current = { parts: [], start: b.start, end: b.end, carried };
      }
      current ??= { parts: [], start: b.start, end: b.end, carried: '' };
      current.parts.push(piece);
      current.end = b.end;
    }
  }
  emit();
  return chunks;
}
