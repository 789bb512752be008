import type { Knex } from 'knex';
import { recordAudit } from '../../db/queries/audit.js';
import { toUser, touchLastLogin } from '../../db/queries/users.js';
import { redeemSignInLink } from '../../domain/auth/sign-in-links.js';
import type { UserService } from '../../domain/auth/user-service.js';
import type { RosterService } from '../../domain/tenants/roster-service.js';
import { csrfTokenOf, logIn } from '../auth/authentication.js';
import type { Handlers } from '../router.js';

/**
 * Roster imports (`/api/v1/tenants/:tenantId/roster`), the one-time sign-in links they give
 * (`/api/v1/auth/link`) and setting one's password (`/api/v1/me/password`).
 */
export function rosterHandlers(
  knex: Knex,
  roster: RosterService,
  users: UserService,
): Handlers<'importRoster' | 'signInWithLink' | 'setPassword'> {
  return {
    importRoster: ({ params, query, body }, { actor, ip }) =>
      roster.import(actor, params.tenantId, body.csv, {
        dryRun: query.dryRun === '1' || query.dryRun === 'true',
        ip,
      }),
    signInWithLink: async ({ body }, { req, ip }) => {
      const user = await redeemSignInLink(knex, body.token);
      await logIn(req, user);
      req.session.csrfToken = undefined;
      await touchLastLogin(knex, user.id);
      await recordAudit(knex, {
        actorId: user.id,
        action: 'auth.login',
        targetType: 'user',
        targetId: user.id,
        ip,
        details: { method: 'sign-in-link' },
      });
      return { user: toUser(user), csrfToken: csrfTokenOf(req) };
    },
    setPassword: ({ body }, { actor, ip }) => users.setOwnPassword(actor, body, ip),
  };
}
