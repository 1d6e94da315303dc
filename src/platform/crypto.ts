import crypto from 'node:crypto';

/**
 * Secrets at rest (TOTP secrets, provider API keys): AES-256-GCM under ENCRYPTION_KEY, a fresh
 * 96-bit nonce per value, and an optional context bound in as associated data so a value copied
 * to another row or column fails to decrypt. Format: `v1.<nonce>.<tag>.<ciphertext>` (base64url).
 */
export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('ENCRYPTION_KEY must be 32 bytes');
  }

  seal(plaintext: string, context = ''): string {
    const nonce = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', nonce, cipher.getAuthTag(), ct].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
  }

  open(sealed: string, context = ''): string {
    const [version, nonce, tag, ct] = sealed.split('.');
    if (version !== 'v1' || !nonce || !tag || ct === undefined) throw new Error('unrecognised sealed value');
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.key, Buffer.from(nonce, 'base64url'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
  }
}
