import { loginResponseSchema } from '../auth.js';
import {
  rosterImportQuerySchema,
  rosterImportRequestSchema,
  rosterImportSchema,
  setPasswordRequestSchema,
  signInLinkRequestSchema,
} from '../roster.js';
import { type RouteSpec, route } from './route-spec.js';

/** Roster imports, the one-time sign-in links they give new accounts, and setting a password. */
export const ROSTER_ROUTES = {
  importRoster: route({
    method: 'post',
    path: '/api/v1/tenants/:tenantId/roster',
    summary:
      'Import a CSV roster (email, name, optional role) in one transaction, or preview it with `?dryRun=1` (tenant admin)',
    access: 'signed-in',
    query: rosterImportQuerySchema,
    body: rosterImportRequestSchema,
    response: rosterImportSchema,
    status: 200,
  }),
  signInWithLink: route({
    method: 'post',
    path: '/api/v1/auth/link',
    summary: 'Sign in with a one-time sign-in link (a roster import gives one to each new account)',
    access: 'public',
    body: signInLinkRequestSchema,
    response: loginResponseSchema,
    status: 200,
  }),
  setPassword: route({
    method: 'put',
    path: '/api/v1/me/password',
    summary: "Set the signed-in user's password (the current one is asked for when there is one)",
    access: 'signed-in',
    body: setPasswordRequestSchema,
    status: 204,
  }),
} as const satisfies Record<string, RouteSpec>;
