import type { Knex } from 'knex';
import { recordAudit } from '../../db/queries/audit.js';
import { type ApiTokenRow, countLiveApiTokens, insertApiToken } from '../../db/queries/tokens.js';
import { AppError } from '../../errors.js';
import { hashSecretToken, newSecretToken } from './secret-tokens.js';

/** Prefix of every API token, so a leaked one is easy to recognise in logs and scanners. */
export const API_TOKEN_PREFIX = 'lvt_';

/** Live API tokens one user may hold: enough for every script, not enough to fill a table. */
export const MAX_LIVE_API_TOKENS_PER_USER = 50;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Creates an API token for a user and answers it once with its row; QUOTA_EXCEEDED (resource
 * `apiTokens`) when the user already holds {@link MAX_LIVE_API_TOKENS_PER_USER} live ones. The
 * user's row is locked for the count and the insert, so parallel creates cannot pass the cap.
 */
export async function createApiToken(
  knex: Knex,
  userId: string,
  request: { name: string; expiresInDays?: number | undefined },
  ip: string | undefined,
): Promise<{ row: ApiTokenRow; token: string }> {
  return knex.transaction(async (trx) => {
    await trx('users').where({ id: userId }).forUpdate().first('id');
    const used = await countLiveApiTokens(trx, userId);
    if (used >= MAX_LIVE_API_TOKENS_PER_USER) {
      throw new AppError(
        'QUOTA_EXCEEDED',
        `You have ${used} API tokens; revoke one before creating another.`,
        { resource: 'apiTokens', limit: MAX_LIVE_API_TOKENS_PER_USER, used, requested: 1 },
      );
    }
    const token = newSecretToken(API_TOKEN_PREFIX);
    const row = await insertApiToken(trx, {
      userId,
      name: request.name,
      tokenHash: hashSecretToken(token),
      expiresAt: request.expiresInDays
        ? new Date(Date.now() + request.expiresInDays * DAY_MS)
        : null,
    });
    await recordAudit(trx, {
      actorId: userId,
      action: 'token.create',
      targetType: 'token',
      targetId: row.id,
      ip,
    });
    return { row, token };
  });
}
