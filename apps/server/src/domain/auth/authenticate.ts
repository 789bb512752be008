import type { Knex } from 'knex';
import { findUserByTokenHash } from '../../db/queries/tokens.js';
import { findUserById, type UserRow } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import { hashApiToken } from './api-tokens.js';

/** What a request carries to say who sends it. */
export interface Credentials {
  /** The `Authorization` header, when sent. */
  authorization?: string | undefined;
  /** The user id the request's session holds, when it has a signed-in session. */
  sessionUserId?: string | undefined;
}

/** Who sends a request, and how that was established. */
export interface Authenticated {
  user: UserRow;
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
    const user = await findUserByTokenHash(knex, hashApiToken(bearer[1]!));
    if (!user || user.disabled)
      throw new AppError('UNAUTHENTICATED', 'The API token is wrong, expired or revoked.');
    return { user, method: 'token' };
  }
  if (!credentials.sessionUserId) return undefined;
  const user = await findUserById(knex, credentials.sessionUserId);
  return user && !user.disabled ? { user, method: 'session' } : undefined;
}
