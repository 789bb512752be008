import { createHash, randomBytes } from 'node:crypto';

/** Prefix of every API token, so a leaked one is easy to recognise in logs and scanners. */
export const API_TOKEN_PREFIX = 'lvt_';

/** A new random API token (shown once to its owner). */
export function generateApiToken(): string {
  return API_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** The stored form of a token: its sha256, hex. A token has 256 random bits, so no slow hash is needed. */
export function hashApiToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
