import { createUserRequestSchema, updateUserRequestSchema } from '@labvisor/shared';
import { Router } from 'express';
import type { Knex } from 'knex';
import { isUniqueViolation } from '../../db/errors.js';
import { recordAudit } from '../../db/queries/audit.js';
import { findUserById, insertUser, toUser, type UserRow } from '../../db/queries/users.js';
import { requirePlatformAdmin } from '../../domain/auth/access.js';
import type { AccessEvents } from '../../domain/auth/access-events.js';
import { hashPassword } from '../../domain/auth/passwords.js';
import { AppError } from '../../errors.js';
import { actorOf } from '../auth/authentication.js';
import { parseIdParam, parseInput } from '../validate.js';

/** Platform-wide user accounts (platform admins only): `/api/v1/users`. */
export function userRoutes(knex: Knex, accessEvents: AccessEvents): Router {
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

  router.patch('/users/:userId', async (req, res) => {
    const actor = await actorOf(req, knex);
    requirePlatformAdmin(actor);
    const userId = parseIdParam(req.params, 'userId');
    const body = parseInput(updateUserRequestSchema, req.body);
    const user = await findUserById(knex, userId);
    if (!user) throw new AppError('NOT_FOUND', 'No such user.');
    if (body.disabled && user.id === actor.user.id)
      throw new AppError('CONFLICT', 'You cannot disable your own account.');
    const [row] = await knex<UserRow>('users')
      .where({ id: user.id })
      .update({
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.disabled !== undefined ? { disabled: body.disabled } : {}),
      })
      .returning('*');
    // Sessions and tokens of a disabled account stop working at their next request (they load
    // the user each time); open consoles are closed now.
    if (body.disabled) accessEvents.changed({ userId: user.id });
    await recordAudit(knex, {
      actorId: actor.user.id,
      action:
        body.disabled === undefined
          ? 'user.update'
          : body.disabled
            ? 'user.disable'
            : 'user.enable',
      targetType: 'user',
      targetId: user.id,
      ip: req.ip,
      details: body,
    });
    res.json(toUser(row!));
  });

  return router;
}
