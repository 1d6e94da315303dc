import fs from 'node:fs';
import path from 'node:path';
import { countTokens } from 'gpt-tokenizer';
import { chunkText } from './kb.chunker';

const para = (topic: string, n: number) => Array.from({ length: n }, (_, i) => `${topic} sentence number ${i} explains one more detail about ${topic}.`).join(' ');

describe('chunker', () => {
  it('when a document has headed sections that fit, then each section is its own chunk with its heading path', () => {
    const doc = `# Runbook\n\nIntro text.\n\n## Restarts\n\n${para('restarts', 3)}\n\n## Backups\n\n${para('backups', 3)}\n\n### Offsite\n\nTapes go offsite weekly.`;
    const chunks = chunkText(doc);
    expect(chunks.map((c) => c.headingPath)).toEqual([['Runbook'], ['Runbook', 'Restarts'], ['Runbook', 'Backups'], ['Runbook', 'Backups', 'Offsite']]);
    expect(chunks[1]!.content).toContain('restarts sentence number 0');
    expect(chunks[1]!.content).not.toContain('backups');
    expect(chunks.map((c) => c.ordinal)).toEqual([0, 1, 2, 3]);
    expect(doc.slice(chunks[3]!.start, chunks[3]!.end)).toBe('Tapes go offsite weekly.');
  });

  it('when a section is long, then chunks stay within the token budget and each continuation repeats the end of the previous chunk', () => {
    const doc = `# Policy\n\n${Array.from({ length: 12 }, (_, i) => para(`topic${i}`, 6)).join('\n\n')}`;
    const chunks = chunkText(doc, { maxTokens: 200, overlapTokens: 40 });
    expect(chunks.length).toBeGreaterThan(3);
    for (const c of chunks) expect(c.tokenCount).toBeLessThanOrEqual(200);
    for (let i = 1; i < chunks.length; i++) {
      const prevEnd = chunks[i - 1]!.content.slice(-60).trim().split(' ').slice(-4).join(' ');
      expect(chunks[i]!.content.slice(0, 400)).toContain(prevEnd);
    }
    for (let i = 1; i < chunks.length; i++) expect(chunks[i]!.start).toBeGreaterThanOrEqual(chunks[i - 1]!.start);
  });

  it('when one paragraph or even one sentence is longer than the budget, then it is split by sentences, then by tokens', () => {
    const giant = 'word '.repeat(2000).trim();
    const chunks = chunkText(`${para('long', 40)}\n\n${giant}`, { maxTokens: 300, overlapTokens: 30 });
    for (const c of chunks) expect(countTokens(c.content)).toBeLessThanOrEqual(300);
    expect(chunks.map((c) => c.content).join(' ')).toContain('long sentence number 39');
  });

  it('when the text is empty or only blank lines, then there are no chunks; the same text always gives the same chunks', () => {
    expect(chunkText('')).toEqual([]);
    expect(chunkText('\n\n   \n')).toEqual([]);
    const doc = `# A\n\n${para('same', 30)}`;
    expect(chunkText(doc)).toEqual(chunkText(doc));
  });

  it('when real documents are chunked, then every chunk is within the budget by an exact count and packed close to it', () => {
    const dir = path.join(__dirname, 'testdata', 'retrieval', 'docs');
    const text = fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('\n\n');
    // One long section of real prose (headings dropped), so most chunks are full ones.
    const prose = text.replace(/^#.*$/gm, '');
    for (const [max, overlap] of [[400, 50], [120, 20]] as const) {
      const chunks = chunkText(prose, { maxTokens: max, overlapTokens: overlap });
      for (const c of chunks) {
        expect(countTokens(c.content)).toBe(c.tokenCount);
        expect(c.tokenCount).toBeLessThanOrEqual(max);
      }
      const full = chunks.slice(0, -1);
      expect(full.reduce((n, c) => n + c.tokenCount, 0) / full.length).toBeGreaterThan(max * 0.8);
    }
  });
});
