import bcrypt from 'bcrypt';
import { PasswordHasher, passwordProblems } from './auth.passwords';

describe('passwords', () => {
  it('when the account does not exist, then verify still runs one bcrypt comparison (against the dummy hash) and says no', async () => {
    const hasher = new PasswordHasher(10);
    const real = await hasher.hash('a good long passphrase');
    const spy = jest.spyOn(bcrypt, 'compare');
    try {
      expect(await hasher.verify('a good long passphrase', undefined)).toBe(false);
      expect(spy).toHaveBeenCalledTimes(1);
      const dummyHash = spy.mock.calls[0]![1];
      expect(dummyHash).toMatch(/^\$2[aby]\$10\$/);
      expect(dummyHash).not.toBe(real);
      expect(await hasher.verify('a wrong long passphrase', real)).toBe(false);
      expect(spy).toHaveBeenCalledTimes(2);
      expect(spy.mock.calls[1]![1]).toBe(real);
      expect(await hasher.verify('a good long passphrase', real)).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });

  it('when a password is short, long, common or the email, then each reason is given', () => {
    expect(passwordProblems('zq7#w')).toEqual(['must be at least 12 characters']);
    expect(passwordProblems('x'.repeat(129))).toEqual(['must be at most 128 characters']);
    expect(passwordProblems('Unbelievable')).toEqual(['is one of the most common passwords; choose another']);
    expect(passwordProblems('alice.smith@example.com', 'Alice.Smith@example.com')).toEqual(['must not be your email address']);
    expect(passwordProblems('correct horse battery staple')).toEqual([]);
    // Long enough, not on the 10k list, yet trivially guessable: the pattern check catches them.
    for (const weak of ['password1234', 'qwerty123456', '123456789012', 'aaaaaaaaaaaa', 'abcdefghijkl']) expect([weak, passwordProblems(weak)[0]]).toEqual([weak, expect.stringMatching(/^is too easy to guess/)]);
  });
});
