import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Knex } from 'knex';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { findUserByEmail, type UserRow } from '../../db/queries/users.js';
import { type Actor, loadActor } from '../../domain/auth/access.js';
import { authenticate } from '../../domain/auth/authenticate.js';
import { verifyPassword } from '../../domain/auth/passwords.js';
import { AppError } from '../../errors.js';

declare global {
  namespace Express {
    interface User extends UserRow {}
  }
}

declare module 'express-session' {
  interface SessionData {
    csrfToken?: string;
  }
}

/** The one message for every failed sign-in: it never says whether the account exists. */
export const SIGN_IN_FAILED_MESSAGE = 'The email or password is wrong.';

const STATE_CHANGING_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Sets up passport for signing in: the local strategy (email + password) and the user id it keeps
 * in the session (read back by {@link authenticateRequest}).
 */
export function configurePassport(knex: Knex): passport.PassportStatic {
  const instance = new passport.Passport() as unknown as passport.PassportStatic;
  instance.use(
    new LocalStrategy(
      { usernameField: 'email', passwordField: 'password', session: true },
      (email, password, done) => {
        findUserByEmail(knex, email)
          .then(async (user) => {
            const valid = await verifyPassword(user?.password_hash, password);
            if (!user || !valid || user.disabled) return done(null, false);
            return done(null, user);
          })
          .catch(done);
      },
    ),
  );
  instance.serializeUser((user, done) => done(null, (user as UserRow).id));
  return instance;
}

/** The request's browser session; a request with an API token has none (see session.ts). */
export function sessionOf(req: Express.Request): Express.Request['session'] {
  if (!req.session) {
    throw new AppError(
      'VALIDATION',
      'Signing in and out is for browsers: send this request without an Authorization header.',
    );
  }
  return req.session;
}

/** The session's CSRF token, created on first use. */
export function csrfTokenOf(req: Express.Request): string {
  const session = sessionOf(req);
  session.csrfToken ??= randomBytes(24).toString('base64url');
  return session.csrfToken;
}

function sameToken(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * For cookie-authenticated requests that change state, requires `X-CSRF-Token` to match the
 * session's token. Bearer-token requests carry no cookie and need none.
 */
export const requireCsrfToken: RequestHandler = (req, _res, next) => {
  if (!STATE_CHANGING_METHODS.has(req.method) || !req.user || req.authMethod === 'token')
    return next();
  const sent = req.get('x-csrf-token');
  const expected = req.session?.csrfToken;
  if (!sent || !expected || !sameToken(sent, expected)) {
    return next(
      new AppError(
        'FORBIDDEN',
        'Missing or wrong X-CSRF-Token header; reload the page and try again.',
      ),
    );
  }
  next();
};

declare global {
  namespace Express {
    interface Request {
      /** How the request's user was authenticated. */
      authMethod?: 'session' | 'token';
      /** The acting user's roles, once loaded by actorOf. */
      actor?: Actor;
    }
  }
}

/**
 * Sets `req.user` and `req.authMethod` from the request's API token or session, through the one
 * authentication path that console upgrades use too (domain/auth/authenticate.ts).
 */
export function authenticateRequest(knex: Knex): RequestHandler {
  return async (req, _res, next) => {
    const session = req.session as { passport?: { user?: string } } | undefined;
    const authenticated = await authenticate(knex, {
      authorization: req.get('authorization'),
      sessionUserId: session?.passport?.user,
    });
    if (authenticated) {
      req.user = authenticated.actor.user;
      req.actor = authenticated.actor;
      req.authMethod = authenticated.method;
    }
    next();
  };
}

/** The acting user with their tenant roles, loaded once per request; 401 when nobody is signed in. */
export async function actorOf(req: Express.Request, knex: Knex): Promise<Actor> {
  if (!req.user) throw new AppError('UNAUTHENTICATED', 'Sign in first.');
  req.actor ??= await loadActor(knex, req.user);
  return req.actor;
}

/** Signs the user in on the request's session (a new session id: a planted cookie is worthless). */
export function logIn(req: Request, user: UserRow): Promise<void> {
  sessionOf(req);
  return new Promise((resolve, reject) =>
    req.logIn(user, (error) => (error ? reject(error) : resolve())),
  );
}
