import { inflateSync } from 'node:zlib';
import { parse as parseCsv } from 'csv-parse/sync';
import { convert, type HtmlToTextOptions } from 'html-to-text';
import mammoth from 'mammoth';
import { getDocumentProxy, getResolvedPDFJS } from 'unpdf';
import * as yauzl from 'yauzl';
import { AppError } from '../../platform/errors';

/**
 * Turns an uploaded file into the text the chunker indexes. The type comes from the bytes: a
 * declared name or MIME type only breaks ties between text formats, so nothing binary is ever
 * read as text (or handed to a parser it was not made for) because of what it is called.
 */

export type DocumentFormat = 'txt' | 'md' | 'html' | 'pdf' | 'docx' | 'csv' | 'json';

export interface ParsedDocument {
  format: DocumentFormat;
  mimeType: string;
  text: string;
  /** a title found in the document (html <title>, first markdown/docx heading, pdf Title metadata) */
  title?: string;
}

export interface ParseLimits {
  maxBytes: number;
  /** cap on extracted text length, e.g. 5_000_000 chars */
  maxTextChars?: number;
  /** for zip containers (docx): max total uncompressed bytes (default 50 MB) and max compression ratio (default 100) */
  maxUncompressedBytes?: number;
  maxCompressionRatio?: number;
}

export interface DeclaredType {
  fileName?: string;
  mimeType?: string;
}

export const DEFAULT_MAX_TEXT_CHARS = 5_000_000;
export const DEFAULT_MAX_UNCOMPRESSED_BYTES = 50 * 1024 * 1024;
export const DEFAULT_MAX_COMPRESSION_RATIO = 100;
// A docx has a few dozen parts; thousands of entries only cost time to walk.
const MAX_ZIP_ENTRIES = 10_000;
// Small parts (styles, rels) routinely compress far better than 100:1 and cannot hurt anyone.
const RATIO_CHECK_FLOOR_BYTES = 1024 * 1024;

export const MIME_TYPES: Record<DocumentFormat, string> = {
  txt: 'text/plain',
  md: 'text/markdown',
  html: 'text/html',
  pdf: 'application/pdf',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  csv: 'text/csv',
  json: 'application/json',
};

const SUPPORTED = 'Supported types: plain text, Markdown, HTML, PDF, Word (.docx), CSV and JSON.';

export class EmptyFileError extends AppError {
  constructor(message = 'The file is empty.') {
    super(400, 'empty-file', message);
  }
}

export class UnsupportedFileTypeError extends AppError {
  constructor(what = 'This type of file') {
    super(415, 'unsupported-file-type', `${what} cannot be added to a knowledge base. ${SUPPORTED}`);
  }
}

export class FileTooLargeError extends AppError {
  constructor(limitBytes: number) {
    super(413, 'file-too-large', `The file is larger than the limit of ${formatBytes(limitBytes)}.`, { limitBytes });
  }
}

export class DocumentTextTooLongError extends AppError {
  constructor(limitChars: number) {
    super(413, 'document-text-too-long', `The document holds more than ${limitChars.toLocaleString('en-US')} characters of text; split it into smaller files.`, { limitChars });
  }
}

export class UnsafeDocumentError extends AppError {
  constructor(message: string) {
    super(422, 'unsafe-document', message);
  }
}

export class ArchiveTooLargeError extends AppError {
  constructor(message: string, details?: unknown) {
    super(422, 'archive-too-large', message, details);
  }
}

export class UnparseableDocumentError extends AppError {
  constructor(message: string) {
    super(422, 'unparseable-document', message);
  }
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${Math.round((n / 1024 / 1024) * 10) / 10} MB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KB`;
  return `${n} bytes`;
}

// ---------------------------------------------------------------------------------------------
// Detection

const startsWith = (b: Buffer, sig: number[], at = 0) => b.length >= at + sig.length && sig.every((v, i) => b[at + i] === v);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

/** Magic numbers of things that are refused outright, so the message can say what the file is. */
const REFUSED_MAGIC: { sig: number[]; what: string }[] = [
  { sig: [0x7f, 0x45, 0x4c, 0x46], what: 'An executable program (ELF)' },
  { sig: [0xfe, 0xed, 0xfa, 0xce], what: 'An executable program (Mach-O)' },
  { sig: [0xfe, 0xed, 0xfa, 0xcf], what: 'An executable program (Mach-O)' },
  { sig: [0xce, 0xfa, 0xed, 0xfe], what: 'An executable program (Mach-O)' },
  { sig: [0xcf, 0xfa, 0xed, 0xfe], what: 'An executable program (Mach-O)' },
  { sig: [0xca, 0xfe, 0xba, 0xbe], what: 'An executable program (Mach-O or Java class)' },
  { sig: [0x00, 0x61, 0x73, 0x6d], what: 'A WebAssembly module' },
  { sig: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], what: 'An image (PNG)' },
  { sig: [0xff, 0xd8, 0xff], what: 'An image (JPEG)' },
  { sig: ascii('GIF87a'), what: 'An image (GIF)' },
  { sig: ascii('GIF89a'), what: 'An image (GIF)' },
  { sig: [0x49, 0x49, 0x2a, 0x00], what: 'An image (TIFF)' },
  { sig: [0x4d, 0x4d, 0x00, 0x2a], what: 'An image (TIFF)' },
  { sig: [0x1f, 0x8b], what: 'A compressed archive (gzip)' },
  { sig: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], what: 'A compressed archive (7z)' },
  { sig: ascii('Rar!\x1a\x07'), what: 'A compressed archive (RAR)' },
  { sig: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], what: 'A compressed archive (xz)' },
  { sig: [0x28, 0xb5, 0x2f, 0xfd], what: 'A compressed archive (zstd)' },
  { sig: [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1], what: 'A legacy Office document (.doc/.xls/.ppt; save it as .docx)' },
  { sig: ascii('{\\rtf'), what: 'A rich-text (RTF) document (save it as .docx)' },
];

function refusedBinary(b: Buffer): string | undefined {
  for (const m of REFUSED_MAGIC) if (startsWith(b, m.sig)) return m.what;
  // "MZ" alone is also how some text starts; a PE/DOS image has its header's NULs or a PE signature.
  if (startsWith(b, [0x4d, 0x5a]) && b.length >= 64) {
    const peOffset = b.readUInt32LE(0x3c);
    if (startsWith(b, [0x50, 0x45, 0, 0], peOffset) || b.subarray(0, 64).includes(0)) return 'An executable program (Windows)';
  }
  // Scripts are text, but they are programs, not documents, whatever the file is called.
  if (/^#!\s*\//.test(b.subarray(0, 64).toString('latin1'))) return 'An executable script';
  return undefined;
}

/** The text of a UTF-8 (BOM optional) or BOM-marked UTF-16 file, or undefined when it is not text. */
function decodeText(b: Buffer): string | undefined {
  let text: string;
  try {
    if (startsWith(b, [0xef, 0xbb, 0xbf])) text = new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(3));
    else if (startsWith(b, [0xff, 0xfe, 0, 0])) return undefined; // UTF-32LE
    else if (startsWith(b, [0xff, 0xfe])) text = new TextDecoder('utf-16le', { fatal: true }).decode(b.subarray(2));
    else if (startsWith(b, [0xfe, 0xff])) {
      if (b.length % 2 !== 0) return undefined;
      const swapped = Buffer.from(b.subarray(2));
      swapped.swap16();
      text = new TextDecoder('utf-16le', { fatal: true }).decode(swapped);
    } else text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(b);
  } catch {
    return undefined;
  }
  if (text.includes('\u0000')) return undefined;
  // Valid UTF-8 can still be binary; real text has almost no C0 controls besides tab/newlines.
  // eslint-disable-next-line no-control-regex
  const controls = text.match(/[\u0001-\u0008\u000e-\u001a\u001c-\u001f\u007f]/g)?.length ?? 0;
  if (controls > Math.max(2, text.length * 0.01)) return undefined;
  return text;
}

type TextFormat = Exclude<DocumentFormat, 'pdf' | 'docx'>;

const EXTENSIONS: Record<string, TextFormat> = {
  txt: 'txt', text: 'txt', log: 'txt',
  md: 'md', markdown: 'md', mdown: 'md', mkd: 'md',
  html: 'html', htm: 'html', xhtml: 'html',
  csv: 'csv', tsv: 'csv',
  json: 'json',
};
const MIMES: Record<string, TextFormat> = {
  'text/plain': 'txt',
  'text/markdown': 'md', 'text/x-markdown': 'md',
  'text/html': 'html', 'application/xhtml+xml': 'html',
  'text/csv': 'csv', 'text/tab-separated-values': 'csv', 'application/csv': 'csv',
  'application/json': 'json',
};

function declaredTextFormat(declared?: DeclaredType): TextFormat | undefined {
  const ext = declared?.fileName?.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1];
  const fromName = ext ? EXTENSIONS[ext] : undefined;
  if (fromName) return fromName;
  const mime = declared?.mimeType?.toLowerCase().split(';')[0]?.trim();
  if (!mime) return undefined;
  return MIMES[mime] ?? (mime.endsWith('+json') ? 'json' : undefined);
}

const withoutProlog = (s: string) => s.replace(/^(?:\s+|<\?xml[^>]*\?>|<!--[\s\S]*?-->)*/, '');
const STRONG_HTML = /^<(?:!doctype\s+html|html|head|body)[\s>]/i;
const TYPICAL_CLOSING_TAG = /<\/(?:p|div|span|a|h[1-6]|table|tr|td|ul|ol|li|section|article|header|footer|main|nav|body|title|strong|em|b|i|blockquote|pre)\s*>/i;
const ANY_TAG = /<[a-z][a-z0-9-]*(?:\s[^<>]*)?\/?>/i;

function looksLikeJson(text: string): boolean {
  const s = text.trimStart();
  if (s[0] !== '{' && s[0] !== '[') return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const CSV_DELIMITERS = [',', ';', '\t', '|'] as const;
// Lines full of pipes are far more often a markdown table than pipe-separated data.
const SNIFFED_CSV_DELIMITERS = [',', ';', '\t'] as const;

/** Occurrences of `d` outside double quotes; a line whose quotes do not close counts as -1. */
function delimiterCount(line: string, d: string): number {
  let n = 0;
  let quoted = false;
  for (const c of line) {
    if (c === '"') quoted = !quoted;
    else if (c === d && !quoted) n++;
  }
  return quoted ? -1 : n;
}

/** The delimiter every sampled line uses the same (non-zero) number of times, if there is one. */
function consistentDelimiter(text: string): string | undefined {
  const lines = text.split('\n', 51).slice(0, 50).filter((l) => l.trim() !== '');
  if (lines.length < 3) return undefined;
  for (const d of SNIFFED_CSV_DELIMITERS) {
    const first = delimiterCount(lines[0]!, d);
    if (first > 0 && lines.every((l) => delimiterCount(l, d) === first)) return d;
  }
  return undefined;
}

function guessDelimiter(text: string): string {
  const newline = text.indexOf('\n');
  const firstLine = newline < 0 ? text : text.slice(0, newline);
  let best: string = ',';
  let bestCount = 0;
  for (const d of CSV_DELIMITERS) {
    const n = delimiterCount(firstLine, d);
    if (n > bestCount) [best, bestCount] = [d, n];
  }
  return best;
}

function csvRecords(text: string, delimiter: string): string[][] | undefined {
  try {
    const rows = parseCsv(text, { delimiter, relax_column_count: true, skip_empty_lines: true, bom: false }) as string[][];
    return rows.length > 0 ? rows : undefined;
  } catch {
    return undefined;
  }
}

const MD_HEADING = /^#{1,6}[ \t]+\S/m;
const MD_SETEXT = /^\S[^\n]*\n(?:=+|-{2,})[ \t]*$/m;
const MD_FENCE = /^(?:```|~~~)/m;
const MD_TABLE_RULE = /^\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)+\|?[ \t]*$/m;
const MD_FENCED_BLOCK = /^(```|~~~)[\s\S]*?^\1/gm;

interface Sniffed {
  format: DocumentFormat;
  /** The decoded text, for text formats. */
  text?: string;
  /** The parsed rows, for csv. */
  records?: string[][];
}

function sniffText(text: string, declared?: DeclaredType): Sniffed {
  const hint = declaredTextFormat(declared);
  const s = withoutProlog(text);
  const csv = (delimiter: string | undefined): Sniffed | undefined => {
    const records = delimiter === undefined ? undefined : csvRecords(text, delimiter);
    return records && { format: 'csv', text, records };
  };
  // Unambiguous content wins over any name.
  if (STRONG_HTML.test(s)) return { format: 'html', text };
  if (looksLikeJson(text)) return { format: 'json', text };
  // Ambiguous content: a declared text format is taken when the content can be read as it.
  if (hint === 'html' && ANY_TAG.test(s)) return { format: 'html', text };
  if (hint === 'csv') {
    const declaredCsv = csv(consistentDelimiter(text) ?? guessDelimiter(text));
    if (declaredCsv) return declaredCsv;
  }
  if (hint === 'md' || hint === 'txt') return { format: hint, text };
  if (s.startsWith('<') && TYPICAL_CLOSING_TAG.test(s)) return { format: 'html', text };
  const detectedCsv = csv(consistentDelimiter(text));
  if (detectedCsv) return detectedCsv;
  if (MD_HEADING.test(text) || MD_SETEXT.test(text) || MD_FENCE.test(text) || MD_TABLE_RULE.test(text)) return { format: 'md', text };
  return { format: 'txt', text };
}

/** Names in a ZIP's central directory (read synchronously, nothing is inflated). */
function zipEntryNames(b: Buffer): string[] {
  const damaged = () => new UnparseableDocumentError('The file looks like a ZIP archive (such as a .docx) but it is damaged.');
  let eocd = -1;
  for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 0xffff); i--) {
    if (b.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw damaged();
  let count = b.readUInt16LE(eocd + 10);
  let offset = b.readUInt32LE(eocd + 16);
  if (count === 0xffff || offset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || b.readUInt32LE(locator) !== 0x07064b50) throw damaged();
    const zip64 = Number(b.readBigUInt64LE(locator + 8));
    if (zip64 + 56 > b.length || b.readUInt32LE(zip64) !== 0x06064b50) throw damaged();
    count = Number(b.readBigUInt64LE(zip64 + 32));
    offset = Number(b.readBigUInt64LE(zip64 + 48));
  }
  const names: string[] = [];
  let p = offset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > b.length || b.readUInt32LE(p) !== 0x02014b50) throw damaged();
    const nameLength = b.readUInt16LE(p + 28);
    const end = p + 46 + nameLength;
    if (end > b.length) throw damaged();
    names.push(b.toString('utf8', p + 46, end));
    p = end + b.readUInt16LE(p + 30) + b.readUInt16LE(p + 32);
  }
  return names;
}

function sniff(bytes: Buffer, declared?: DeclaredType): Sniffed {
  if (bytes.length === 0) throw new EmptyFileError();
  const refused = refusedBinary(bytes);
  if (refused) throw new UnsupportedFileTypeError(refused);
  if (startsWith(bytes, ascii('%PDF-'))) return { format: 'pdf' };
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04]) || startsWith(bytes, [0x50, 0x4b, 0x05, 0x06])) {
    const names = new Set(zipEntryNames(bytes));
    if (names.has('[Content_Types].xml') && names.has('word/document.xml')) return { format: 'docx' };
    throw new UnsupportedFileTypeError(names.has('[Content_Types].xml') ? 'An Office file other than a Word document' : 'A ZIP archive');
  }
  const text = decodeText(bytes);
  if (text === undefined) throw new UnsupportedFileTypeError('A binary file of an unknown type');
  return sniffText(text.replace(/\r\n?/g, '\n'), declared);
}

/**
 * The document's format, from its content. Refused inputs throw: empty files (400), executables,
 * images, archives other than .docx and any other binary (415), damaged ZIPs (422).
 */
export function detectFormat(bytes: Buffer, declared?: { fileName?: string; mimeType?: string }): DocumentFormat {
  return sniff(bytes, declared).format;
}

// ---------------------------------------------------------------------------------------------
// Normalisation

/** One shape for every format: NFC, LF, no trailing spaces, at most one blank line in a row. */
function normaliseText(text: string): string {
  return (
    text
      .normalize('NFC')
      .replace(/\r\n?/g, '\n')
      .replace(/[\f\v\u2028\u2029]/g, '\n')
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000e-\u001f\u007f\ufeff]/g, '')
      .replace(/[^\S\n]+$/gm, '')
      .replace(/\n{3,}/g, '\n\n')
      .replace(/^\n+/, '')
      .trimEnd()
  );
}

function cleanTitle(title: string | undefined): string | undefined {
  const t = title?.normalize('NFC').replace(/\s+/g, ' ').trim();
  return t ? [...t].slice(0, 500).join('') : undefined;
}

const HEADING_LINE = /^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$/m;
const firstHeading = (text: string) => cleanTitle(HEADING_LINE.exec(text)?.[1]);

// ---------------------------------------------------------------------------------------------
// HTML (also the second half of .docx)

// Heading lines are marked while html-to-text lays the text out, so afterwards a paragraph that
// merely starts with "# " can be told apart from a real heading and escaped.
const HEADING_MARK = '\ue000';

type Formatter = NonNullable<HtmlToTextOptions['formatters']>[string];

const formatHeading: Formatter = (elem, walk, builder, options) => {
  builder.openBlock({ leadingLineBreaks: 2 });
  builder.addLiteral(`${HEADING_MARK}${'#'.repeat(Number(options.level) || 1)} `);
  walk(elem.children, builder);
  builder.closeBlock({ trailingLineBreaks: 2 });
};

/** Rows as "cell | cell" lines: the built-in layouts either glue cells together or wrap them. */
const formatTable: Formatter = (elem, walk, builder) => {
  builder.openTable();
  const visit = (node: (typeof elem.children)[number]) => {
    if (node.type !== 'tag' || !node.name) return;
    if (['thead', 'tbody', 'tfoot'].includes(node.name)) return node.children?.forEach(visit);
    if (node.name !== 'tr') return;
    builder.openTableRow();
    for (const cell of node.children) {
      if (cell.type !== 'tag' || (cell.name !== 'td' && cell.name !== 'th')) continue;
      builder.openTableCell();
      walk(cell.children, builder);
      builder.closeTableCell();
    }
    builder.closeTableRow();
  };
  elem.children.forEach(visit);
  builder.closeTable({
    leadingLineBreaks: 2,
    trailingLineBreaks: 2,
    tableToString: (rows) =>
      rows
        .map((row) => row.map((c) => c.text.replace(/\s+/g, ' ').trim()).join(' | '))
        .filter((line) => line.replace(/[|\s]/g, '') !== '')
        .join('\n'),
  });
};

// Only links a reader could follow are worth keeping; javascript:, data: and relative paths are noise.
const keepHref = (href: string) => (/^https?:\/\//i.test(href) || /^[^\s/:@]+@[^\s/:@]+$/.test(href) ? href : '');

const HTML_OPTIONS: HtmlToTextOptions = {
  wordwrap: false,
  // The defaults cut input at 16M chars; the caller's limits already bound the size. Depth is
  // capped because layout recurses per nesting level.
  limits: { maxInputLength: Number.MAX_SAFE_INTEGER, maxDepth: 200, ellipsis: '' },
  formatters: { markdownHeading: formatHeading, cellTable: formatTable },
  selectors: [
    ...[1, 2, 3, 4, 5, 6].map((level) => ({ selector: `h${level}`, format: 'markdownHeading', options: { level } })),
    { selector: 'a', options: { linkBrackets: ['(', ')'] as [string, string], hideLinkHrefIfSameAsText: true, noAnchorUrl: true, pathRewrite: keepHref } },
    { selector: 'table', format: 'cellTable' },
    ...['img', 'script', 'style', 'noscript', 'template', 'svg', 'math', 'iframe', 'object', 'embed', 'canvas', 'video', 'audio', 'picture', 'head', 'button', 'select', 'input', 'textarea'].map((selector) => ({ selector, format: 'skip' })),
  ],
};

function htmlToText(html: string): string {
  const laidOut = convert(html, HTML_OPTIONS);
  return laidOut
    .split('\n')
    .map((line) => {
      if (line.startsWith(HEADING_MARK)) return /^#+\s*$/.test(line.slice(1)) ? '' : line.slice(1);
      // A heading inside a list item or quote is prefixed ("* ", "> "): it stays plain text.
      const plain = line.includes(HEADING_MARK) ? line.replace(/\ue000#+ ?/g, '') : line;
      return /^#{1,6}[ \t]/.test(plain) ? `\\${plain}` : plain;
    })
    .join('\n');
}

function htmlTitle(html: string): string | undefined {
  const inner = /<title[^>]*>([\s\S]*?)<\/title\s*>/i.exec(html)?.[1];
  return inner ? cleanTitle(convert(inner, { wordwrap: false })) : undefined;
}

// ---------------------------------------------------------------------------------------------
// CSV and JSON

/** One paragraph per row ("header: value; …") so each row is found, and chunked, whole. */
function csvToText(records: string[][]): string {
  const flat = (v: string) => v.replace(/\s+/g, ' ').trim();
  const header = records[0]!.map((h, i) => flat(h) || `column ${i + 1}`);
  if (records.length === 1) return header.join('; ');
  return records
    .slice(1)
    .map((row) => row.map((v, i) => (flat(v) ? `${header[i] ?? `column ${i + 1}`}: ${flat(v)}` : '')).filter(Boolean).join('; '))
    .filter(Boolean)
    .join('\n\n');
}

/**
 * Re-indents JSON (2 spaces) by walking its tokens rather than JSON.parse + stringify: numbers
 * keep their exact digits (IDs beyond 2^53 stay intact). Strings are re-encoded so \u escapes
 * become readable. Top-level members are separated by blank lines so the chunker can pack them.
 */
function prettyJson(source: string, maxChars: number): string {
  const out: string[] = [];
  let length = 0;
  let depth = 0;
  const push = (s: string) => {
    out.push(s);
    length += s.length;
    if (length > maxChars) throw new DocumentTextTooLongError(maxChars);
  };
  // Past this depth the indentation would dwarf the content.
  const newline = () => push(`\n${'  '.repeat(Math.min(depth, 32))}`);
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '"') {
      let j = i + 1;
      while (source[j] !== '"') j += source[j] === '\\' ? 2 : 1;
      push(JSON.stringify(JSON.parse(source.slice(i, j + 1)) as string));
      i = j;
    } else if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      let k = i + 1;
      while (/\s/.test(source[k] ?? '')) k++;
      if (source[k] === close) {
        push(c + close);
        i = k;
      } else {
        push(c);
        depth++;
        newline();
      }
    } else if (c === '}' || c === ']') {
      depth--;
      newline();
      push(c);
    } else if (c === ',') {
      push(',');
      if (depth === 1) push('\n');
      newline();
    } else if (c === ':') push(': ');
    else if (!/\s/.test(c)) {
      let j = i;
      while (j < source.length && !/[\s,\]}]/.test(source[j]!)) j++;
      push(source.slice(i, j));
      i = j - 1;
    }
  }
  return out.join('');
}

// ---------------------------------------------------------------------------------------------
// PDF

// Names that make a PDF act when opened or interacted with. /OpenAction alone (e.g. "open at
// page 1, fit width") is harmless; with a script it shows up as /JS or /JavaScript too.
const PDF_ACTIVE_NAMES = new Map([
  ['JavaScript', 'JavaScript'],
  ['JS', 'JavaScript'],
  ['Launch', 'an action that launches programs'],
  ['AA', 'automatic actions'],
]);

const isPdfWhite = (c: number) => c === 0 || c === 9 || c === 10 || c === 12 || c === 13 || c === 32;
const isPdfDelimiter = (c: number) => c === 0x28 || c === 0x29 || c === 0x3c || c === 0x3e || c === 0x5b || c === 0x5d || c === 0x7b || c === 0x7d || c === 0x2f || c === 0x25;
const ENDSTREAM = Buffer.from('endstream');

/**
 * Every name token in the PDF's objects, including those packed into compressed object streams
 * (pdf-lib and most modern writers put the catalog there), with #xx escapes decoded. Strings,
 * comments and page content are skipped, so text that mentions "/JavaScript" is not a hit.
 */
function pdfNames(b: Buffer, inflateBudget: { left: number }, nested = false): Set<string> {
  const names = new Set<string>();
  let sinceObj = new Set<string>();
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (isPdfWhite(c)) i++;
    else if (c === 0x25) while (i < b.length && b[i] !== 10 && b[i] !== 13) i++;
    else if (c === 0x28) {
      let nesting = 0;
      for (; i < b.length; i++) {
        if (b[i] === 0x5c) i++;
        else if (b[i] === 0x28) nesting++;
        else if (b[i] === 0x29 && --nesting === 0) break;
      }
      i++;
    } else if ((c === 0x3c && b[i + 1] === 0x3c) || (c === 0x3e && b[i + 1] === 0x3e)) i += 2;
    else if (c === 0x3c) {
      const end = b.indexOf(0x3e, i);
      i = end < 0 ? b.length : end + 1;
    } else if (c === 0x2f) {
      let j = i + 1;
      while (j < b.length && !isPdfWhite(b[j]!) && !isPdfDelimiter(b[j]!)) j++;
      const name = b.toString('latin1', i + 1, j).replace(/#([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
      names.add(name);
      sinceObj.add(name);
      i = j;
    } else if (isPdfDelimiter(c)) i++;
    else {
      let j = i;
      while (j < b.length && !isPdfWhite(b[j]!) && !isPdfDelimiter(b[j]!)) j++;
      const keyword = b.toString('latin1', i, j);
      i = j;
      if (keyword === 'obj') sinceObj = new Set();
      else if (keyword === 'stream') {
        if (b[i] === 13) i++;
        if (b[i] === 10) i++;
        const end = b.indexOf(ENDSTREAM, i);
        const body = b.subarray(i, end < 0 ? b.length : end);
        i = end < 0 ? b.length : end + ENDSTREAM.length;
        if (nested || !sinceObj.has('ObjStm')) continue;
        if (!sinceObj.has('Filter')) {
          for (const n of pdfNames(body, inflateBudget, true)) names.add(n);
        } else if (sinceObj.has('FlateDecode') && inflateBudget.left > 0) {
          let inflated: Buffer | undefined;
          try {
            inflated = inflateSync(body, { maxOutputLength: inflateBudget.left + 1 });
          } catch (e) {
            // Too big for the budget is refused; undecodable (e.g. encrypted) is left to pdf.js,
            // as are object streams in the rare other filters.
            if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') inflateBudget.left = -1;
          }
          if (inflated) {
            inflateBudget.left -= inflated.length;
            for (const n of pdfNames(inflated, inflateBudget, true)) names.add(n);
          }
        }
      }
    }
  }
  return names;
}

interface PdfTextItem {
  str?: string;
  hasEOL?: boolean;
}

async function parsePdf(bytes: Buffer, limits: Required<Omit<ParseLimits, 'maxBytes'>>): Promise<{ text: string; title?: string }> {
  const budget = { left: limits.maxUncompressedBytes };
  const names = pdfNames(bytes, budget);
  if (budget.left < 0) throw new UnsafeDocumentError(`The PDF's compressed objects expand to more than ${formatBytes(limits.maxUncompressedBytes)}.`);
  const active = [...PDF_ACTIVE_NAMES].filter(([n]) => names.has(n)).map(([, what]) => what);
  if (active.length) throw new UnsafeDocumentError(`The PDF contains ${[...new Set(active)].join(' and ')}, which knowledge bases do not accept.`);

  // Loaded outside the try below: failing to load pdf.js (unpdf's CJS entry imports the ESM
  // bundle dynamically) is our fault, a 500, not a damaged upload.
  await getResolvedPDFJS();
  let pdf: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    // A copy: pdf.js refuses Buffers and may take ownership of what it is given.
    pdf = await getDocumentProxy(new Uint8Array(bytes), {
      useSystemFonts: false,
      disableFontFace: true,
      enableXfa: false,
      verbosity: 0,
    });
  } catch (e) {
    if ((e as Error)?.name === 'PasswordException') throw new UnsafeDocumentError('The PDF is encrypted with a password, so its text cannot be read.');
    throw new UnparseableDocumentError('The PDF is damaged or not a valid PDF.');
  }
  try {
    // pdf.js also sees scripts the name scan cannot (e.g. in streams it could not decode).
    if ((await pdf.getJSActions()) || (await pdf.hasJSActions())) throw new UnsafeDocumentError('The PDF contains JavaScript, which knowledge bases do not accept.');
    const pages: string[] = [];
    let length = 0;
    for (let n = 1; n <= pdf.numPages; n++) {
      const page = await pdf.getPage(n);
      const pageActions = (await page.getJSActions()) as Record<string, unknown> | null;
      if (pageActions && Object.keys(pageActions).length) throw new UnsafeDocumentError('The PDF contains JavaScript, which knowledge bases do not accept.');
      const content = await page.getTextContent();
      const text = (content.items as PdfTextItem[])
        .filter((item) => item.str != null)
        .map((item) => item.str! + (item.hasEOL ? '\n' : ''))
        .join('');
      page.cleanup();
      length += text.length + 2;
      // Stops a huge PDF early; the exact limit applies to the normalised text at the end.
      if (length > limits.maxTextChars * 2) throw new DocumentTextTooLongError(limits.maxTextChars);
      pages.push(text);
    }
    const info = (await pdf.getMetadata()).info as { Title?: unknown };
    return { text: pages.join('\n\n'), title: typeof info.Title === 'string' ? cleanTitle(info.Title) : undefined };
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw new UnparseableDocumentError('The PDF is damaged: its text could not be read.');
  } finally {
    await pdf.loadingTask.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// DOCX

/**
 * Refuses zip bombs before mammoth (whose unzipper trusts the archive) touches the file: first
 * from the sizes the central directory declares, then by inflating every entry with yauzl, which
 * stops the moment an entry yields more than it declared, and counting the real total.
 */
async function checkDocxArchive(bytes: Buffer, maxTotal: number, maxRatio: number): Promise<void> {
  const tooLarge = (why: string) => new ArchiveTooLargeError(`The document expands to ${why}; it may be a zip bomb.`, { limitBytes: maxTotal, maxCompressionRatio: maxRatio });
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.fromBufferPromise(bytes, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false });
  } catch {
    throw new UnparseableDocumentError('The Word document is damaged (its ZIP structure cannot be read).');
  }
  try {
    const entries: yauzl.Entry[] = [];
    let declared = 0;
    for await (const entry of zip.eachEntry()) {
      entries.push(entry);
      if (entries.length > MAX_ZIP_ENTRIES) throw tooLarge(`more than ${MAX_ZIP_ENTRIES} parts`);
      declared += entry.uncompressedSize;
      if (declared > maxTotal) throw tooLarge(`more than ${formatBytes(maxTotal)}`);
      if (entry.uncompressedSize > RATIO_CHECK_FLOOR_BYTES && entry.uncompressedSize > Math.max(entry.compressedSize, 1) * maxRatio) throw tooLarge(`over ${maxRatio} times its compressed size`);
    }
    // Entries can share compressed data (overlapping-file bombs), so also compare with the file.
    if (declared > RATIO_CHECK_FLOOR_BYTES && declared > bytes.length * maxRatio) throw tooLarge(`over ${maxRatio} times its size`);
    let inflated = 0;
    for (const entry of entries) {
      if (entry.fileName.endsWith('/')) continue;
      if (entry.isEncrypted() || !entry.canDecodeFileData()) throw new UnparseableDocumentError('The Word document is encrypted or uses an unsupported compression method.');
      const stream = await zip.openReadStreamPromise(entry);
      for await (const chunk of stream) {
        inflated += (chunk as Buffer).length;
        if (inflated > maxTotal) {
          stream.destroy();
          throw tooLarge(`more than ${formatBytes(maxTotal)}`);
        }
      }
    }
  } catch (e) {
    if (e instanceof AppError) throw e;
    if (/too many bytes/.test((e as Error)?.message ?? '')) throw tooLarge('more data than its directory declares');
    throw new UnparseableDocumentError('The Word document is damaged (its ZIP structure cannot be read).');
  } finally {
    zip.close();
  }
}

async function parseDocx(bytes: Buffer, limits: Required<Omit<ParseLimits, 'maxBytes'>>): Promise<{ text: string; title?: string }> {
  await checkDocxArchive(bytes, limits.maxUncompressedBytes, limits.maxCompressionRatio);
  let html: string;
  try {
    const result = await mammoth.convertToHtml(
      { buffer: bytes },
      {
        styleMap: ["p[style-name='Title'] => h1:fresh", "p[style-name='Subtitle'] => h2:fresh"],
        // Images are never read: no inflating of media parts, no base64 blobs in the text.
        convertImage: mammoth.images.imgElement(() => Promise.resolve({ src: '' })),
        externalFileAccess: false,
      },
    );
    html = result.value;
  } catch {
    throw new UnparseableDocumentError('The Word document is damaged or not a valid .docx file.');
  }
  const text = htmlToText(html);
  return { text, title: firstHeading(text) };
}

// ---------------------------------------------------------------------------------------------

/**
 * Detects the format from the content and extracts normalised text (markdown `#` headings,
 * paragraphs separated by blank lines) ready for the chunker. Every refusal is an AppError.
 */
export async function parseDocument(bytes: Buffer, limits: ParseLimits, declared?: { fileName?: string; mimeType?: string }): Promise<ParsedDocument> {
  if (bytes.length > limits.maxBytes) throw new FileTooLargeError(limits.maxBytes);
  const { format, text: source = '', records } = sniff(bytes, declared);
  const resolved = {
    maxTextChars: limits.maxTextChars ?? DEFAULT_MAX_TEXT_CHARS,
    maxUncompressedBytes: limits.maxUncompressedBytes ?? DEFAULT_MAX_UNCOMPRESSED_BYTES,
    maxCompressionRatio: limits.maxCompressionRatio ?? DEFAULT_MAX_COMPRESSION_RATIO,
  };

  let raw: string;
  let title: string | undefined;
  switch (format) {
    case 'pdf':
      ({ text: raw, title } = await parsePdf(bytes, resolved));
      break;
    case 'docx':
      ({ text: raw, title } = await parseDocx(bytes, resolved));
      break;
    case 'html':
      raw = htmlToText(source);
      title = htmlTitle(source) ?? firstHeading(raw);
      break;
    case 'json':
      raw = prettyJson(source, resolved.maxTextChars);
      break;
    case 'csv':
      raw = csvToText(records!);
      break;
    case 'md':
      raw = source;
      // A "# comment" inside a fenced shell snippet is not the document's title.
      title = firstHeading(source.replace(MD_FENCED_BLOCK, ''));
      break;
    default:
      raw = source;
  }

  const text = normaliseText(raw);
  if (text === '') {
    if (format === 'pdf') throw new EmptyFileError('No text could be extracted from the PDF (a scanned PDF needs OCR first).');
    throw new EmptyFileError(/^\s*$/.test(source) && source !== '' ? 'The file contains only whitespace.' : 'No text could be extracted from the file.');
  }
  if (text.length > resolved.maxTextChars) throw new DocumentTextTooLongError(resolved.maxTextChars);
  return title ? { format, mimeType: MIME_TYPES[format], text, title } : { format, mimeType: MIME_TYPES[format], text };
}
