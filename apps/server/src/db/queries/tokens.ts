import type { ApiToken } from '@labvisor/shared';
import type { Knex } from 'knex';
import { isoOrNull } from './iso.js';
import { TENANT_ROLES_COLUMN, type UserWithRoles } from './users.js';

/** An api_tokens row. */
export interface ApiTokenRow {
  id: string;
  user_id: string;
  name: string;
  token_hash: string;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

/** How often a token's last use is written. */
const TOKEN_USE_WRITE_INTERVAL_MS = 60_000;

/** The API view of a token row (never its hash). */
export function toApiToken(row: ApiTokenRow): ApiToken {
  return {
    id: row.id,
    name: row.name,
    createdAt: new Date(row.created_at).toISOString(),
    expiresAt: isoOrNull(row.expires_at),
    lastUsedAt: isoOrNull(row.last_used_at),
  };
}

/** Stores a new token's hash. */
export async function insertApiToken(
  knex: Knex,
  token: { userId: string; name: string; tokenHash: string; expiresAt: Date | null },
): Promise<ApiTokenRow> {
  const [row] = await knex<ApiTokenRow>('api_tokens')
    .insert({
      user_id: token.userId,
      name: token.name,
      token_hash: token.tokenHash,
      expires_at: token.expiresAt,
    })
    .returning('*');
  return row!;
}

/** A user's live tokens (not revoked), newest first. */
export async function listApiTokens(knex: Knex, userId: string): Promise<ApiTokenRow[]> {
  return knex<ApiTokenRow>('api_tokens')
    .where({ user_id: userId })
    .whereNull('revoked_at')
    .orderBy('created_at', 'desc');
}

/** How many live tokens (not revoked, not expired) a user holds. */
export async function countLiveApiTokens(knex: Knex, userId: string): Promise<number> {
  const [row] = await knex('api_tokens')
    .where({ user_id: userId })
    .whereNull('revoked_at')
    .andWhere((query) => query.whereNull('expires_at').orWhere('expires_at', '>', knex.fn.now()))
    .count<{ count: string | number }[]>('id as count');
  return Number(row?.count ?? 0);
}

/** Revokes one of the user's tokens; false when the user has no such live token. */
export async function revokeApiToken(
  knex: Knex,
  userId: string,
  tokenId: string,
): Promise<boolean> {
  const count = await knex('api_tokens')
    .where({ id: tokenId, user_id: userId })
    .whereNull('revoked_at')
    .update({ revoked_at: knex.fn.now() });
  return count > 0;
}

/** The enabled user (with their tenant roles) owning a live, unexpired token with this hash, or undefined; records its use. */
export async function findUserByTokenHash(
  knex: Knex,
  tokenHash: string,
): Promise<UserWithRoles | undefined> {
  const row = await knex('api_tokens')
    .join('users', 'users.id', 'api_tokens.user_id')
    .where('api_tokens.token_hash', tokenHash)
    .whereNull('api_tokens.revoked_at')
    .andWhere((q) =>
      q.whereNull('api_tokens.expires_at').orWhere('api_tokens.expires_at', '>', knex.fn.now()),
    )
    .andWhere('users.disabled', false)
    .first<(UserWithRoles & { token_id: string; token_used_at: Date | null }) | undefined>(
      'users.*',
      'api_tokens.id as token_id',
      'api_tokens.last_used_at as token_used_at',
      knex.raw(TENANT_ROLES_COLUMN),
    );
  if (!row) return undefined;
  // Record use at most once a minute per token: a script's every request must not be a write.
  if (
    !row.token_used_at ||
    Date.now() - new Date(row.token_used_at).getTime() > TOKEN_USE_WRITE_INTERVAL_MS
  ) {
    await knex('api_tokens').where({ id: row.token_id }).update({ last_used_at: knex.fn.now() });
  }
  const { token_id: _tokenId, token_used_at: _usedAt, ...user } = row;
  return user;
}
