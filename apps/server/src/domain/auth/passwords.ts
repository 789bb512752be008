import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';

/** argon2id parameters (OWASP's 19 MiB, t=2 baseline, a little above). */
const HASH_OPTIONS = {
  type: argon2.argon2id,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

let dummyHash: Promise<string> | undefined;

/** Hashes a password with argon2id. */
export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, HASH_OPTIONS);
}

/**
 * Checks a password against a stored hash. With no hash (unknown user, SSO-only user) it still
 * verifies against a dummy hash, so the answer takes the same time either way.
 */
export async function verifyPassword(
  hash: string | null | undefined,
  password: string,
): Promise<boolean> {
  if (!hash) {
    dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    await argon2.verify(await dummyHash, password).catch(() => false);
    return false;
  }
  return argon2.verify(hash, password).catch(() => false);
}

/** A readable random password for a generated first admin. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
