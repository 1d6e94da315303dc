import { LocalEmbedder, stopwordsFor, words } from './kb.embedder.local';

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

  describe('hashing-v2 (stop words of the language left out)', () => {
    const v2 = LocalEmbedder.forModel('hashing-v2', 384, 'english');

    it('when a question differs from a statement only in stop words, then they embed the same; hashing-v1 keeps them', () => {
      expect(v2.embedOne('How do I reset the password of my account?')).toEqual(v2.embedOne('reset password account'));
      const v1 = LocalEmbedder.forModel('hashing-v1', 384, 'english');
      expect(v1.embedOne('How do I reset the password of my account?')).not.toEqual(v1.embedOne('reset password account'));
      expect(v1.embedOne('How do I reset my password?')).toEqual(e.embedOne('How do I reset my password?'));
    });

    it('when two questions share only their stop words, then hashing-v2 finds them unrelated where hashing-v1 did not', () => {
      const v1 = LocalEmbedder.forModel('hashing-v1', 384, 'english');
      const [a, b] = ['How do I get a new laptop?', 'How do I get a refund?'];
      expect(cos(v1.embedOne(a), v1.embedOne(b))).toBeGreaterThan(0.3);
      expect(cos(v2.embedOne(a), v2.embedOne(b))).toBeLessThan(0.15);
    });

    it('when the language is French, then its stop words (accents normalised) go, English ones stay; simple keeps every word', () => {
      const fr = stopwordsFor('french');
      expect(fr.has('ete')).toBe(true);
      expect(fr.has('the')).toBe(false);
      const v2fr = LocalEmbedder.forModel('hashing-v2', 384, 'french');
      expect(v2fr.embedOne("Comment réinitialiser le mot de passe d'un compte ?")).toEqual(v2fr.embedOne('comment reinitialiser mot passe compte'));
      expect(stopwordsFor('simple').size).toBe(0);
      expect(LocalEmbedder.forModel('hashing-v2', 384, 'simple').embedOne('the password')).toEqual(e.embedOne('the password'));
    });

    it('when a model name is not one of the local versions, then it is refused by name', () => {
      expect(() => LocalEmbedder.forModel('hashing-v9', 384, 'english')).toThrow(/unknown local embedding model 'hashing-v9'/);
    });
  });
});
