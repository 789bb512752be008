import { type CreatedToken, createTokenRequestSchema } from '@labvisor/shared';
import { Router } from 'express';
import type { Knex } from 'knex';
import { recordAudit } from '../../db/queries/audit.js';
import { listApiTokens, revokeApiToken, toApiToken } from '../../db/queries/tokens.js';
import { createApiToken } from '../../domain/auth/api-tokens.js';
import { AppError } from '../../errors.js';
import { actorOf } from '../auth/authentication.js';
import { parseIdParam, parseInput } from '../validate.js';

/** The signed-in user's API tokens: `/api/v1/tokens`. */
export function tokenRoutes(knex: Knex): Router {
  const router = Router();

  router.get('/tokens', async (req, res) => {
    const { user } = await actorOf(req, knex);
    res.json({ items: (await listApiTokens(knex, user.id)).map(toApiToken) });
  });

  router.post('/tokens', async (req, res) => {
    const { user } = await actorOf(req, knex);
    const body = parseInput(createTokenRequestSchema, req.body);
    const { row, token } = await createApiToken(knex, user.id, body, req.ip);
    const answer: CreatedToken = { ...toApiToken(row), token };
    res.status(201).json(answer);
  });

  router.delete('/tokens/:tokenId', async (req, res) => {
    const { user } = await actorOf(req, knex);
    const tokenId = parseIdParam(req.params, 'tokenId');
    if (!(await revokeApiToken(knex, user.id, tokenId)))
      throw new AppError('NOT_FOUND', 'No such token.');
    await recordAudit(knex, {
      actorId: user.id,
      action: 'token.revoke',
      targetType: 'token',
      targetId: tokenId,
      ip: req.ip,
    });
    res.status(204).end();
  });

  return router;
}
