import { toUser } from '../../db/queries/users.js';
import type { UserService } from '../../domain/auth/user-service.js';
import type { Handlers } from '../router.js';

/** Platform-wide user accounts (platform admins only): `/api/v1/users`. */
export function userHandlers(
  users: UserService,
): Handlers<'listUsers' | 'createUser' | 'updateUser'> {
  return {
    listUsers: async (_input, { actor }) => ({ items: (await users.list(actor)).map(toUser) }),
    createUser: async ({ body }, { actor, ip }) => toUser(await users.create(actor, body, ip)),
    updateUser: async ({ params, body }, { actor, ip }) =>
      toUser(await users.update(actor, params.userId, body, ip)),
  };
}
