import type { LoginResponse } from '@labvisor/shared';
import type { Request } from 'express';
import type { Knex } from 'knex';
import type passport from 'passport';
import { recordAudit } from '../../db/queries/audit.js';
import { listMemberships, toUser, touchLastLogin, type UserRow } from '../../db/queries/users.js';
import type { LoginThrottle } from '../../domain/auth/login-throttle.js';
import { AppError } from '../../errors.js';
import { csrfTokenOf, logIn, SIGN_IN_FAILED_MESSAGE, sessionOf } from '../auth/authentication.js';
import { OIDC_CALLBACK_PATH, type OidcSignIn } from '../auth/oidc.js';
import { SESSION_COOKIE_NAME } from '../auth/session.js';
import { publicOriginOf } from '../public-origin.js';
import { ANSWERED, type Handlers } from '../router.js';

/** Sign-in, sign-out and the signed-in user: `/api/v1/auth/*` and `/api/v1/me`. */
export function authHandlers(deps: {
  knex: Knex;
  passport: passport.PassportStatic;
  throttle: LoginThrottle;
  oidc: OidcSignIn | undefined;
  publicOrigin: string | undefined;
}): Handlers<'authProviders' | 'oidcLogin' | 'oidcCallback' | 'login' | 'logout' | 'me'> {
  const { knex, throttle } = deps;
  const originOf = (req: Request) => publicOriginOf(req, deps.publicOrigin);
  const requireOidc = () => {
    if (!deps.oidc) throw new AppError('NOT_FOUND', 'Single sign-on is not configured.');
    return deps.oidc;
  };

  return {
    authProviders: () => ({ password: true, oidc: deps.oidc !== undefined }),

    oidcLogin: async (_input, { req, res }) => {
      res.redirect(await requireOidc().start(sessionOf(req), originOf(req) + OIDC_CALLBACK_PATH));
      return ANSWERED;
    },

    oidcCallback: async (_input, { req, res, ip }) => {
      const oidc = requireOidc();
      let user: UserRow;
      try {
        user = await oidc.finish(sessionOf(req), new URL(req.originalUrl, originOf(req)), ip);
      } catch (error) {
        // A browser arrives here: send it to the sign-in page with the reason, never a JSON error.
        const message =
          error instanceof AppError ? error.message : 'Single sign-on failed; try again.';
        res.redirect(`/login?error=${encodeURIComponent(message)}`);
        return ANSWERED;
      }
      await logIn(req, user);
      res.redirect('/');
      return ANSWERED;
    },

    login: async ({ body: credentials }, { req, res, ip }) => {
      sessionOf(req);
      const admitted = await throttle.begin(credentials.email, ip ?? 'unknown');
      if ('retryAfterMs' in admitted) {
        const retryAfterSeconds = Math.ceil(admitted.retryAfterMs / 1000);
        res.set('Retry-After', String(retryAfterSeconds));
        throw new AppError(
          'RATE_LIMITED',
          'Too many failed sign-ins. Wait a few minutes and try again.',
          { retryAfterSeconds },
        );
      }
      const user = await checkPassword(deps.passport, req, res);
      if (!user) {
        await recordAudit(knex, {
          actorId: null,
          action: 'auth.login.failed',
          ip,
          details: { email: credentials.email },
        });
        throw new AppError('UNAUTHENTICATED', SIGN_IN_FAILED_MESSAGE);
      }
      await throttle.succeeded(admitted.attempt);
      // A new session id on sign-in, so a planted session cookie is worthless (session fixation).
      await logIn(req, user);
      req.session.csrfToken = undefined;
      const answer: LoginResponse = { user: toUser(user), csrfToken: csrfTokenOf(req) };
      await Promise.all([
        touchLastLogin(knex, user.id),
        recordAudit(knex, {
          actorId: user.id,
          action: 'auth.login',
          targetType: 'user',
          targetId: user.id,
          ip,
        }),
      ]);
      return answer;
    },

    logout: async (_input, { req, res, ip }) => {
      const session = sessionOf(req);
      const user = req.user;
      await new Promise<void>((resolve, reject) =>
        req.logOut((error) => (error ? reject(error) : resolve())),
      );
      await new Promise<void>((resolve, reject) =>
        session.destroy((error) => (error ? reject(error) : resolve())),
      );
      res.clearCookie(SESSION_COOKIE_NAME);
      if (user) {
        await recordAudit(knex, {
          actorId: user.id,
          action: 'auth.logout',
          targetType: 'user',
          targetId: user.id,
          ip,
        });
      }
      return undefined;
    },

    me: async (_input, { req, actor }) => ({
      user: toUser(actor.user),
      memberships: await listMemberships(knex, actor.user.id),
      // Only a browser session has (and stores) a CSRF token: token requests write no session.
      csrfToken: req.authMethod === 'session' ? csrfTokenOf(req) : '',
    }),
  };
}

/** The user whose email and password the request's body holds, or false (passport's local strategy). */
function checkPassword(
  instance: passport.PassportStatic,
  req: Request,
  res: Express.Response,
): Promise<UserRow | false> {
  return new Promise((resolve, reject) => {
    instance.authenticate('local', (error: unknown, user: UserRow | false) =>
      error ? reject(error) : resolve(user),
    )(req, res, reject);
  });
}
