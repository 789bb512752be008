import { type CreatedToken, createTokenRequestSchema } from '@labvisor/shared';
import { Router } from 'express';
import type { Knex } from 'knex';
import { recordAudit } from '../../db/queries/audit.js';
import {
  insertApiToken,
  listApiTokens,
  revokeApiToken,
  toApiToken,
} from '../../db/queries/tokens.js';
import { generateApiToken, hashApiToken } from '../../domain/api-tokens.js';
import { AppError } from '../../errors.js';
import { actorOf } from '../auth/authentication.js';
import { parseIdParam, parseInput } from '../validate.js';

const DAY_MS = 24 * 60 * 60 * 1000;

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
    const token = generateApiToken();
    const row = await insertApiToken(knex, {
      userId: user.id,
      name: body.name,
      tokenHash: hashApiToken(token),
      expiresAt: body.expiresInDays ? new Date(Date.now() + body.expiresInDays * DAY_MS) : null,
    });
    await recordAudit(knex, {
      actorId: user.id,
      action: 'token.create',
      targetType: 'token',
      targetId: row.id,
      ip: req.ip,
    });
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
