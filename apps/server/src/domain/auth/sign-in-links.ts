import { SIGN_IN_LINK_PREFIX } from '@labvisor/shared';
import type { Knex } from 'knex';
import { findUserById, type UserRow } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import { hashSecretToken, newSecretToken } from './secret-tokens.js';

/** How long a one-time sign-in link works. */
export const SIGN_IN_LINK_DAYS = 14;

/** Makes a one-time sign-in link for a user; answers its token (shown once). */
export async function createSignInLink(
  knex: Knex,
  userId: string,
  createdBy: string,
): Promise<string> {
  const token = newSecretToken(SIGN_IN_LINK_PREFIX);
  await knex('sign_in_links').insert({
    user_id: userId,
    token_hash: hashSecretToken(token),
    created_by: createdBy,
    expires_at: knex.raw(`now() + make_interval(days => ?)`, [SIGN_IN_LINK_DAYS]),
  });
  return token;
}

/**
 * The user a one-time link signs in, using it up; UNAUTHENTICATED with one sentence for a link
 * that is unknown, used, expired, or of a disabled account (which one is not told).
 */
export async function redeemSignInLink(knex: Knex, token: string): Promise<UserRow> {
  const user = await knex.transaction(async (trx) => {
    const link = await trx('sign_in_links')
      .where({ token_hash: hashSecretToken(token) })
      .whereNull('used_at')
      .where('expires_at', '>', trx.fn.now())
      .forUpdate()
      .first<{ id: string; user_id: string } | undefined>('id', 'user_id');
    if (!link) return undefined;
    await trx('sign_in_links').where({ id: link.id }).update({ used_at: trx.fn.now() });
    return findUserById(trx, link.user_id);
  });
  if (!user || user.disabled) {
    throw new AppError(
      'UNAUTHENTICATED',
      'This sign-in link is not valid any more (used, expired or mistyped); ask your instructor for a new one.',
    );
  }
  return user;
}
