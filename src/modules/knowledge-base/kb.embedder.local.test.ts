import { LocalEmbedder, words } from './kb.embedder.local';

const cos = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('local embedder (feature hashing)', () => {
  const e = new LocalEmbedder(384);

  it('when the same text is embedded twice (or by another instance), then the vectors are identical, unit length, of the configured size', async () => {
    const [a] = await e.embed(['Quarterly revenue grew by 12 percent.']);
    const b = new LocalEmbedder(384).embedOne('Quarterly revenue grew by 12 percent.');
    expect(a).toEqual(b);
    expect(a).toHaveLength(384);
    expect(Math.sqrt(cos(a!, a!))).toBeCloseTo(1, 10);
    expect(new LocalEmbedder(1024).embedOne('x y z')).toHaveLength(1024);
  });

  it('when texts share words or word forms, then they are closer than unrelated text', () => {
    const q = e.embedOne('How do I reset my password?');
    const related = e.embedOne('To reset a forgotten password, open the reset link we mail you.');
    const inflected = e.embedOne('Resetting passwords');
    const unrelated = e.embedOne('The cafeteria serves lunch from noon until two.');
    expect(cos(q, related)).toBeGreaterThan(cos(q, unrelated) + 0.1);
    expect(cos(q, inflected)).toBeGreaterThan(cos(q, unrelated));
  });

  it('when case and accents differ, then the text embeds the same; a text without words gives the zero vector', () => {
    expect(e.embedOne('Café Münster')).toEqual(e.embedOne('cafe munster'));
    expect(words('Crème brûlée, 2 × fast!')).toEqual(['creme', 'brulee', '2', 'fast']);
    expect(e.embedOne('... !!! ---').every((x) => x === 0)).toBe(true);
  });

  it('when a word repeats, then its weight grows sublinearly (it does not drown the rest)', () => {
    const once = e.embedOne('invoice payment');
    const many = e.embedOne(`${'invoice '.repeat(50)}payment`);
    expect(cos(many, e.embedOne('payment'))).toBeGreaterThan(0.15);
    expect(cos(once, many)).toBeGreaterThan(0.6);
  });
});
