import { type LoginResponse, loginRequestSchema, type MeResponse } from '@labvisor/shared';
import { type Request, Router } from 'express';
import type { Knex } from 'knex';
import type passport from 'passport';
import { recordAudit } from '../../db/queries/audit.js';
import { listMemberships, toUser, touchLastLogin, type UserRow } from '../../db/queries/users.js';
import type { LoginThrottle } from '../../domain/auth/login-throttle.js';
import { AppError } from '../../errors.js';
import { csrfTokenOf, requireUser, SIGN_IN_FAILED_MESSAGE } from '../auth/authentication.js';
import { OIDC_CALLBACK_PATH, type OidcSignIn } from '../auth/oidc.js';
import { SESSION_COOKIE_NAME } from '../auth/session.js';
import { parseInput } from '../validate.js';

/** Sign-in, sign-out and the signed-in user: `/api/v1/auth/*` and `/api/v1/me`. */
export function authRoutes(
  knex: Knex,
  passportInstance: passport.PassportStatic,
  throttle: LoginThrottle,
  sso: { oidc: OidcSignIn | undefined; publicOrigin: string | undefined },
): Router {
  const router = Router();
  const originOf = (req: Request) => sso.publicOrigin ?? `${req.protocol}://${req.get('host')}`;

  router.get('/auth/providers', (_req, res) => {
    res.json({ password: true, oidc: sso.oidc !== undefined });
  });

  router.get('/auth/oidc/login', async (req, res) => {
    if (!sso.oidc) throw new AppError('NOT_FOUND', 'Single sign-on is not configured.');
    res.redirect(await sso.oidc.start(req.session, originOf(req) + OIDC_CALLBACK_PATH));
  });

  router.get('/auth/oidc/callback', async (req, res, next) => {
    if (!sso.oidc) throw new AppError('NOT_FOUND', 'Single sign-on is not configured.');
    let user: UserRow;
    try {
      user = await sso.oidc.finish(req.session, new URL(req.originalUrl, originOf(req)), req.ip);
    } catch (error) {
      // A browser arrives here: send it to the sign-in page with the reason, never a JSON error.
      const message =
        error instanceof AppError ? error.message : 'Single sign-on failed; try again.';
      return res.redirect(`/login?error=${encodeURIComponent(message)}`);
    }
    req.logIn(user, (error) => (error ? next(error) : res.redirect('/')));
  });

  router.post('/auth/login', (req, res, next) => {
    const credentials = parseInput(loginRequestSchema, req.body);
    req.body = credentials;
    const ip = req.ip ?? 'unknown';
    const admitted = throttle.begin(credentials.email, ip);
    if ('retryAfterMs' in admitted) {
      const retryAfterSeconds = Math.ceil(admitted.retryAfterMs / 1000);
      res.set('Retry-After', String(retryAfterSeconds));
      return next(
        new AppError(
          'RATE_LIMITED',
          'Too many failed sign-ins. Wait a few minutes and try again.',
          { retryAfterSeconds },
        ),
      );
    }
    passportInstance.authenticate('local', (error: unknown, user: UserRow | false) => {
      if (error) return next(error);
      if (!user) {
        recordAudit(knex, {
          actorId: null,
          action: 'auth.login.failed',
          ip: req.ip,
          details: { email: credentials.email },
        }).then(() => next(new AppError('UNAUTHENTICATED', SIGN_IN_FAILED_MESSAGE)), next);
        return;
      }
      throttle.succeeded(admitted.attempt);
      // A new session id on sign-in, so a planted session cookie is worthless (session fixation).
      req.logIn(user, (loginError) => {
        if (loginError) return next(loginError);
        req.session.csrfToken = undefined;
        const body: LoginResponse = { user: toUser(user), csrfToken: csrfTokenOf(req) };
        Promise.all([
          touchLastLogin(knex, user.id),
          recordAudit(knex, {
            actorId: user.id,
            action: 'auth.login',
            targetType: 'user',
            targetId: user.id,
            ip: req.ip,
          }),
        ])
          .then(() => res.json(body))
          .catch(next);
      });
    })(req, res, next);
  });

  router.post('/auth/logout', (req, res, next) => {
    const user = req.user;
    req.logOut((error) => {
      if (error) return next(error);
      req.session.destroy((destroyError) => {
        if (destroyError) return next(destroyError);
        res.clearCookie(SESSION_COOKIE_NAME);
        if (!user) return res.status(204).end();
        recordAudit(knex, {
          actorId: user.id,
          action: 'auth.logout',
          targetType: 'user',
          targetId: user.id,
          ip: req.ip,
        })
          .then(() => res.status(204).end())
          .catch(next);
      });
    });
  });

  router.get('/me', requireUser, async (req, res) => {
    const user = req.user!;
    const body: MeResponse = {
      user: toUser(user),
      memberships: await listMemberships(knex, user.id),
      // Only a browser session has (and stores) a CSRF token: token requests write no session.
      csrfToken: req.authMethod === 'session' ? csrfTokenOf(req) : '',
    };
    res.json(body);
  });

  return router;
}
