import type { Knex } from 'knex';
import { recordAudit } from '../../db/queries/audit.js';
import { listApiTokens, revokeApiToken, toApiToken } from '../../db/queries/tokens.js';
import { createApiToken } from '../../domain/auth/api-tokens.js';
import { AppError } from '../../errors.js';
import type { Handlers } from '../router.js';

/** The signed-in user's API tokens: `/api/v1/tokens`. */
export function tokenHandlers(knex: Knex): Handlers<'listTokens' | 'createToken' | 'revokeToken'> {
  return {
    listTokens: async (_input, { actor }) => ({
      items: (await listApiTokens(knex, actor.user.id)).map(toApiToken),
    }),
    createToken: async ({ body }, { actor, ip }) => {
      const { row, token } = await createApiToken(knex, actor.user.id, body, ip);
      return { ...toApiToken(row), token };
    },
    revokeToken: async ({ params }, { actor, ip }) => {
      if (!(await revokeApiToken(knex, actor.user.id, params.tokenId)))
        throw new AppError('NOT_FOUND', 'No such token.');
      await recordAudit(knex, {
        actorId: actor.user.id,
        action: 'token.revoke',
        targetType: 'token',
        targetId: params.tokenId,
        ip,
      });
    },
  };
}
