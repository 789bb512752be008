import type { CreateUserRequest, UpdateUserRequest } from '@labvisor/shared';
import type { Knex } from 'knex';
import { isUniqueViolation } from '../../db/errors.js';
import { recordAudit } from '../../db/queries/audit.js';
import {
  findUserById,
  insertUser,
  listUsers,
  setPasswordHash,
  type UserRow,
  updateUser,
} from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import { type Actor, requirePlatformAdmin } from './access.js';
import type { AccessEvents } from './access-events.js';
import { hashPassword, verifyPassword } from './passwords.js';

/** Platform-wide user accounts, for platform admins. */
export class UserService {
  constructor(
    private readonly knex: Knex,
    private readonly accessEvents: AccessEvents,
  ) {}

  list(actor: Actor): Promise<UserRow[]> {
    requirePlatformAdmin(actor);
    return listUsers(this.knex);
  }

  async create(actor: Actor, body: CreateUserRequest, ip: string | undefined): Promise<UserRow> {
    requirePlatformAdmin(actor);
    let user: UserRow;
    try {
      user = await insertUser(this.knex, {
        email: body.email,
        name: body.name,
        passwordHash: await hashPassword(body.password),
        isPlatformAdmin: body.isPlatformAdmin ?? false,
      });
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppError('CONFLICT', `A user with the email ${body.email} already exists.`);
      throw error;
    }
    await recordAudit(this.knex, {
      actorId: actor.user.id,
      action: 'user.create',
      targetType: 'user',
      targetId: user.id,
      ip,
    });
    return user;
  }

  /** Renames, disables or enables a user; nobody disables their own account. */
  async update(
    actor: Actor,
    userId: string,
    body: UpdateUserRequest,
    ip: string | undefined,
  ): Promise<UserRow> {
    requirePlatformAdmin(actor);
    const user = await findUserById(this.knex, userId);
    if (!user) throw new AppError('NOT_FOUND', 'No such user.');
    if (body.disabled && user.id === actor.user.id)
      throw new AppError('CONFLICT', 'You cannot disable your own account.');
    const row = await updateUser(this.knex, user.id, body);
    // Sessions and tokens of a disabled account stop working at their next request (they load
    // the user each time); open consoles are closed now.
    if (body.disabled) await this.accessEvents.changed({ userId: user.id });
    await recordAudit(this.knex, {
      actorId: actor.user.id,
      action:
        body.disabled === undefined
          ? 'user.update'
          : body.disabled
            ? 'user.disable'
            : 'user.enable',
      targetType: 'user',
      targetId: user.id,
      ip,
      details: body,
    });
    return row;
  }

  /**
   * Sets the actor's own password; the current one must be given when the account has one (an
   * account made by a roster import has none until its user sets it).
   */
  async setOwnPassword(
    actor: Actor,
    body: { currentPassword?: string | undefined; newPassword: string },
    ip: string | undefined,
  ): Promise<void> {
    const current = actor.user.password_hash;
    if (current && !(await verifyPassword(current, body.currentPassword ?? ''))) {
      throw new AppError('VALIDATION', 'The current password is wrong.', {
        field: 'currentPassword',
      });
    }
    await setPasswordHash(this.knex, actor.user.id, await hashPassword(body.newPassword));
    await recordAudit(this.knex, {
      actorId: actor.user.id,
      action: 'user.password',
      targetType: 'user',
      targetId: actor.user.id,
      ip,
    });
  }
}
