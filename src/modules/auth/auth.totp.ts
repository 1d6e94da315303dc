import crypto from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import { hashToken } from './auth.tokens';

const PERIOD = 30;

/** TOTP (RFC 6238: SHA-1, 6 digits, 30 s) as authenticator apps expect it, via otpauth. */
export class Totp {
  constructor(private readonly issuer = 'Hearth') {}

  private totp(secret: string, label = 'account') {
    return new TOTP({ issuer: this.issuer, label, algorithm: 'SHA1', digits: 6, period: PERIOD, secret: Secret.fromBase32(secret) });
  }

  async create(label: string): Promise<{ secret: string; otpauthUrl: string; qrCode: string }> {
    const secret = new Secret({ size: 20 }).base32;
    const otpauthUrl = this.totp(secret, label).toString();
    // A data: URL, which the UI's CSP allows (img-src 'self' data:).
    const qrCode = await QRCode.toDataURL(otpauthUrl, { errorCorrectionLevel: 'M', margin: 1 });
    return { secret, otpauthUrl, qrCode };
  }

  /** The time step the code belongs to (±1 step of clock drift), or undefined when it is wrong. */
  stepOf(secret: string, code: string, now = Date.now()): number | undefined {
    if (!/^\d{6}$/.test(code)) return undefined;
    const delta = this.totp(secret).validate({ token: code, timestamp: now, window: 1 });
    return delta === null ? undefined : Math.floor(now / 1000 / PERIOD) + delta;
  }

  /** For tests: the code an authenticator app would show now. */
  generate(secret: string, now = Date.now()): string {
    return this.totp(secret).generate({ timestamp: now });
  }
}

/**
 * Ten single-use recovery codes like `7KQ2M-4XD91-PAZ3F-…` (25 symbols of 32: 125 bits, enough for
 * a plain hash under ASVS 6.5.2), and their hashes for storage.
 */
export function newRecoveryCodes(): { codes: string[]; hashes: string[] } {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const codes = Array.from({ length: 10 }, () => {
    const chars = Array.from(crypto.randomBytes(25), (b) => alphabet[b % alphabet.length]).join('');
    return chars.match(/.{5}/g)!.join('-');
  });
  return { codes, hashes: codes.map(hashRecoveryCode) };
}

export const hashRecoveryCode = (code: string): string => hashToken(`recovery:${code.trim().toUpperCase().replace(/[^A-Z0-9]/g, '')}`);
