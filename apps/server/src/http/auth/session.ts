import type { RequestHandler } from 'express';
import session from 'express-session';
import type { KnexSessionStore } from '../../db/session-store.js';

/** The session cookie's name. */
export const SESSION_COOKIE_NAME = 'labvisor.sid';
const SESSION_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * The session middleware (cookie HttpOnly, SameSite=Lax, Secure behind https), shared by the API
 * and the WebSocket upgrade, sessions stored in Postgres. A request with an `Authorization` header
 * (an API token) has no session: nothing is read, made or stored for it.
 */
export function createSessionMiddleware(options: {
  store: KnexSessionStore;
  secret: string;
  secureCookies: boolean;
}): RequestHandler {
  const middleware = session({
    name: SESSION_COOKIE_NAME,
    store: options.store,
    secret: options.secret,
    resave: false,
    saveUninitialized: false,
    rolling: true,
    cookie: {
      httpOnly: true,
      sameSite: 'lax',
      secure: options.secureCookies,
      maxAge: SESSION_TTL_MS,
    },
  });
  return (req, res, next) => (req.headers.authorization ? next() : middleware(req, res, next));
}
