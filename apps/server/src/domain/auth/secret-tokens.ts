import { createHash, randomBytes } from 'node:crypto';

/**
 * A new bearer secret (an API token, an invite link, a one-time sign-in link): its kind's prefix,
 * so a leaked one is easy to recognise, and 256 random bits. Shown once; only its hash is stored.
 */
export function newSecretToken(prefix: string): string {
  return prefix + randomBytes(32).toString('base64url');
}

/** The stored form of a secret token: its sha256, hex (256 random bits need no slow hash). */
export function hashSecretToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
