import crypto from 'node:crypto';
import { SecretBox } from './crypto';

describe('SecretBox (AES-256-GCM)', () => {
  const box = new SecretBox(crypto.randomBytes(32));

  it('when a value is sealed, then it opens to the same text and the sealed form reveals nothing', () => {
    const sealed = box.seal('JBSWY3DPEHPK3PXP', 'user:1');
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(box.open(sealed, 'user:1')).toBe('JBSWY3DPEHPK3PXP');
    expect(box.seal('same', 'c')).not.toBe(box.seal('same', 'c'));
  });

  it('when the ciphertext, the context or the key differ, then opening fails', () => {
    const sealed = box.seal('secret', 'user:1');
    const parts = sealed.split('.');
    const flipped = Buffer.from(parts[3]!, 'base64url');
    flipped[0]! ^= 1;
    expect(() => box.open([parts[0], parts[1], parts[2], flipped.toString('base64url')].join('.'), 'user:1')).toThrow();
    expect(() => box.open(sealed, 'user:2')).toThrow();
    expect(() => new SecretBox(crypto.randomBytes(32)).open(sealed, 'user:1')).toThrow();
  });
});
