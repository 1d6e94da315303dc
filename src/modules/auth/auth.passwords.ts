import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import bcrypt from 'bcrypt';
import { zxcvbn, zxcvbnOptions } from '@zxcvbn-ts/core';
import * as zxcvbnCommon from '@zxcvbn-ts/language-common';

// zxcvbn's ~50,000 common passwords plus its pattern matching (keyboard walks, sequences, dates,
// repeats, l33t) catch what a plain list misses at 12+ characters: password1234, qwerty123456…
zxcvbnOptions.setOptions({ dictionary: zxcvbnCommon.dictionary, graphs: zxcvbnCommon.adjacencyGraphs });
const MIN_SCORE = 3;

/**
 * bcrypt reads only the first 72 bytes of its input, so two long passwords sharing a prefix would
 * collide. Every password is first reduced to a fixed-length digest (HMAC-SHA-256, base64: 44
 * ASCII bytes) and that goes to bcrypt: all of a long password counts, nothing is truncated.
 */
const PREHASH_KEY = 'hearth-password-v1';
const prehash = (password: string): string => crypto.createHmac('sha256', PREHASH_KEY).update(password.normalize('NFKC'), 'utf8').digest('base64');

export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 128;

let common: Set<string> | undefined;
function commonPasswords(): Set<string> {
  // The 10,000 most common passwords (data/common-passwords.txt), loaded once.
  common ??= new Set(
    fs
      .readFileSync(path.join(__dirname, 'data', 'common-passwords.txt'), 'utf8')
      .split('\n')
      .map((l) => l.trim().toLowerCase())
      .filter(Boolean),
  );
  return common;
}

/** Reasons a password is refused, in words a person can act on; empty when it is acceptable. */
export function passwordProblems(password: string, email?: string): string[] {
  const problems: string[] = [];
  const length = [...password].length;
  if (length < PASSWORD_MIN) problems.push(`must be at least ${PASSWORD_MIN} characters`);
  if (length > PASSWORD_MAX) problems.push(`must be at most ${PASSWORD_MAX} characters`);
  const lower = password.toLowerCase();
  if (commonPasswords().has(lower)) problems.push('is one of the most common passwords; choose another');
  if (email) {
    const e = email.toLowerCase();
    const local = e.split('@')[0] ?? '';
    if (lower === e || (local.length >= 4 && lower === local)) problems.push('must not be your email address');
  }
  if (problems.length === 0) {
    const result = zxcvbn(password, email ? [email, email.split('@')[0] ?? ''] : []);
    if (result.score < MIN_SCORE) problems.push(`is too easy to guess${result.feedback.warning ? ` (${result.feedback.warning.replace(/\.$/, '').toLowerCase()})` : ''}; a few unrelated words make a strong one`);
  }
  return problems;
}

export class PasswordHasher {
  /** A hash of a random password: compared against when the account does not exist. */
  private dummy: Promise<string>;

  constructor(private readonly cost: number) {
    this.dummy = bcrypt.hash(prehash(crypto.randomBytes(24).toString('hex')), cost);
  }

  hash(password: string): Promise<string> {
    return bcrypt.hash(prehash(password), this.cost);
  }

  /**
   * Compares against the stored hash, or against a dummy hash when there is none, so unknown
   * accounts take the same time and the same code path as wrong passwords.
   */
  async verify(password: string, hash: string | null | undefined): Promise<boolean> {
    const target = hash ?? (await this.dummy);
    const ok = await bcrypt.compare(prehash(password), target);
    return ok && Boolean(hash);
  }
}
