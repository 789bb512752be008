import { toInvite } from '../../db/queries/invites.js';
import { toUser } from '../../db/queries/users.js';
import type { InviteService } from '../../domain/tenants/invite-service.js';
import { csrfTokenOf, logIn } from '../auth/authentication.js';
import type { Handlers } from '../router.js';

/** Invite links: a tenant's (`/api/v1/tenants/:tenantId/invites`) and joining with one (`/api/v1/invites/*`). */
export function inviteHandlers(
  invites: InviteService,
): Handlers<
  | 'listInvites'
  | 'createInvite'
  | 'revokeInvite'
  | 'lookupInvite'
  | 'acceptInvite'
  | 'registerWithInvite'
> {
  return {
    listInvites: async ({ params }, { actor }) => ({
      items: (await invites.list(actor, params.tenantId)).map(toInvite),
    }),
    createInvite: async ({ params, body }, { actor, ip }) => {
      const { row, token } = await invites.create(actor, params.tenantId, body, ip);
      return { ...toInvite(row), token, path: `/join/${token}` };
    },
    revokeInvite: ({ params }, { actor, ip }) =>
      invites.revoke(actor, params.tenantId, params.inviteId, ip),
    lookupInvite: ({ body }) => invites.preview(body.token),
    acceptInvite: ({ body }, { actor, ip }) => invites.accept(actor, body.token, ip),
    registerWithInvite: async ({ body }, { req, ip }) => {
      const user = await invites.register(body, ip);
      await logIn(req, user);
      req.session.csrfToken = undefined;
      return { user: toUser(user), csrfToken: csrfTokenOf(req) };
    },
  };
}
