import type { Knex } from 'knex';
import { findUserByTokenHash } from '../../db/queries/tokens.js';
import { findUserWithRolesById, splitRoles } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import type { Actor } from './access.js';
import { hashSecretToken } from './secret-tokens.js';

/** What a request carries to say who sends it. */
export interface Credentials {
  /** The `Authorization` header, when sent. */
  authorization?: string | undefined;
  /** The user id the request's session holds, when it has a signed-in session. */
  sessionUserId?: string | undefined;
}

/** Who sends a request (with their tenant roles, read in the same query), and how that was established. */
export interface Authenticated {
  actor: Actor;
  method: 'session' | 'token';
}

/**
 * The one authentication path of HTTP requests and console upgrades. A request with
 * `Authorization: Bearer <token>` is its API token's user; a wrong, expired or revoked token is
 * refused (401), never falling back to the session cookie. Otherwise the session's user. Disabled
 * accounts are nobody. Undefined: nobody is signed in.
 */
export async function authenticate(
  knex: Knex,
  credentials: Credentials,
): Promise<Authenticated | undefined> {
  if (credentials.authorization) {
    const bearer = /^Bearer\s+(\S+)$/i.exec(credentials.authorization);
    if (!bearer)
      throw new AppError('UNAUTHENTICATED', 'The Authorization header must be "Bearer <token>".');
    const row = await findUserByTokenHash(knex, hashSecretToken(bearer[1]!));
    if (!row || row.disabled)
      throw new AppError('UNAUTHENTICATED', 'The API token is wrong, expired or revoked.');
    return { actor: splitRoles(row), method: 'token' };
  }
  if (!credentials.sessionUserId) return undefined;
  const row = await findUserWithRolesById(knex, credentials.sessionUserId);
  return row && !row.disabled ? { actor: splitRoles(row), method: 'session' } : undefined;
}
