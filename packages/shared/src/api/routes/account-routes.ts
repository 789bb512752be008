import {
  authProvidersSchema,
  loginRequestSchema,
  loginResponseSchema,
  meResponseSchema,
  oidcCallbackQuerySchema,
} from '../auth.js';
import { listOf } from '../common.js';
import { apiTokenSchema, createdTokenSchema, createTokenRequestSchema } from '../tokens.js';
import { type RouteSpec, route } from './route-spec.js';

/** Signing in and out, the signed-in user and their API tokens. */
export const ACCOUNT_ROUTES = {
  login: route({
    method: 'post',
    path: '/api/v1/auth/login',
    summary: 'Sign in with email and password',
    access: 'public',
    body: loginRequestSchema,
    response: loginResponseSchema,
    status: 200,
  }),
  logout: route({
    method: 'post',
    path: '/api/v1/auth/logout',
    summary: 'Sign out',
    access: 'public',
    status: 204,
  }),
  authProviders: route({
    method: 'get',
    path: '/api/v1/auth/providers',
    summary: 'Which sign-in methods are offered (password, OpenID Connect)',
    access: 'public',
    response: authProvidersSchema,
    status: 200,
  }),
  oidcLogin: route({
    method: 'get',
    path: '/api/v1/auth/oidc/login',
    summary: 'Start single sign-on: redirects to the OpenID Connect provider',
    access: 'public',
    status: 302,
    produces: 'a redirect to the provider',
  }),
  oidcCallback: route({
    method: 'get',
    path: '/api/v1/auth/oidc/callback',
    summary:
      'Where the provider returns; signs in the user with the verified email and redirects to the portal',
    access: 'public',
    query: oidcCallbackQuerySchema,
    status: 302,
    produces: 'a redirect to the portal (or to its sign-in page with the reason)',
  }),
  me: route({
    method: 'get',
    path: '/api/v1/me',
    summary: 'The signed-in user, their tenant roles and CSRF token',
    access: 'signed-in',
    response: meResponseSchema,
    status: 200,
  }),
  listTokens: route({
    method: 'get',
    path: '/api/v1/tokens',
    summary: "The signed-in user's API tokens",
    access: 'signed-in',
    response: listOf(apiTokenSchema),
    status: 200,
  }),
  createToken: route({
    method: 'post',
    path: '/api/v1/tokens',
    summary: 'Create an API token (shown once)',
    access: 'signed-in',
    body: createTokenRequestSchema,
    response: createdTokenSchema,
    status: 201,
  }),
  revokeToken: route({
    method: 'delete',
    path: '/api/v1/tokens/:tokenId',
    summary: 'Revoke an API token',
    access: 'signed-in',
    status: 204,
  }),
} as const satisfies Record<string, RouteSpec>;
