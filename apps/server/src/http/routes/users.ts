import { createUserRequestSchema } from '@labvisor/shared';
import { Router } from 'express';
import type { Knex } from 'knex';
import { isUniqueViolation } from '../../db/errors.js';
import { recordAudit } from '../../db/queries/audit.js';
import { insertUser, toUser, type UserRow } from '../../db/queries/users.js';
import { requirePlatformAdmin } from '../../domain/access.js';
import { hashPassword } from '../../domain/passwords.js';
import { actorOf } from '../auth/authentication.js';
import { AppError } from '../errors.js';
import { parseInput } from '../validate.js';

/** Platform-wide user accounts (platform admins only): `/api/v1/users`. */
export function userRoutes(knex: Knex): Router {
  const router = Router();

  router.get('/users', async (req, res) => {
    requirePlatformAdmin(await actorOf(req, knex));
    const rows = await knex<UserRow>('users').orderBy('email');
    res.json({ items: rows.map(toUser) });
  });

  router.post('/users', async (req, res) => {
    const actor = await actorOf(req, knex);
    requirePlatformAdmin(actor);
    const body = parseInput(createUserRequestSchema, req.body);
    try {
      const user = await insertUser(knex, {
        email: body.email,
        name: body.name,
        passwordHash: await hashPassword(body.password),
        isPlatformAdmin: body.isPlatformAdmin ?? false,
      });
      await recordAudit(knex, {
        actorId: actor.user.id,
        action: 'user.create',
        targetType: 'user',
        targetId: user.id,
        ip: req.ip,
      });
      res.status(201).json(toUser(user));
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppError('CONFLICT', `A user with the email ${body.email} already exists.`);
      throw error;
    }
  });

  return router;
}
