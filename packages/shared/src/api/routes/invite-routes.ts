import { listOf } from '../common.js';
import {
  createdInviteSchema,
  createInviteRequestSchema,
  inviteAcceptedSchema,
  invitePreviewSchema,
  inviteRegisteredSchema,
  inviteRegisterRequestSchema,
  inviteSchema,
  inviteTokenRequestSchema,
} from '../invites.js';
import { type RouteSpec, route } from './route-spec.js';

/**
 * Invite links: a tenant's instructors and admins make them; whoever has one joins the tenant,
 * signed in or with a new account. The token travels in bodies, never in API paths.
 */
export const INVITE_ROUTES = {
  listInvites: route({
    method: 'get',
    path: '/api/v1/tenants/:tenantId/invites',
    summary: "A tenant's invite links, newest first (instructor or admin)",
    access: 'signed-in',
    response: listOf(inviteSchema),
    status: 200,
  }),
  createInvite: route({
    method: 'post',
    path: '/api/v1/tenants/:tenantId/invites',
    summary:
      'Make an invite link: its role, expiry, most uses and email domains; the token is shown once (instructor: members only; admin)',
    access: 'signed-in',
    body: createInviteRequestSchema,
    response: createdInviteSchema,
    status: 201,
  }),
  revokeInvite: route({
    method: 'delete',
    path: '/api/v1/tenants/:tenantId/invites/:inviteId',
    summary: 'Revoke an invite link (instructor or admin)',
    access: 'signed-in',
    status: 204,
  }),
  lookupInvite: route({
    method: 'post',
    path: '/api/v1/invites/lookup',
    summary: 'What joining with an invite link does: the tenant and the role',
    access: 'public',
    body: inviteTokenRequestSchema,
    response: invitePreviewSchema,
    status: 200,
  }),
  acceptInvite: route({
    method: 'post',
    path: '/api/v1/invites/accept',
    summary: 'Join the tenant of an invite link as the signed-in user',
    access: 'signed-in',
    body: inviteTokenRequestSchema,
    response: inviteAcceptedSchema,
    status: 200,
  }),
  registerWithInvite: route({
    method: 'post',
    path: '/api/v1/invites/register',
    summary: 'Create an account with an invite link, join its tenant and sign in',
    access: 'public',
    body: inviteRegisterRequestSchema,
    response: inviteRegisteredSchema,
    status: 201,
  }),
} as const satisfies Record<string, RouteSpec>;
