import { auditEntrySchema, auditQuerySchema } from '../audit.js';
import { userSchema } from '../auth.js';
import { listOf } from '../common.js';
import { hostCapacitySchema } from '../host.js';
import { createUserRequestSchema, updateUserRequestSchema } from '../users.js';
import { type RouteSpec, route } from './route-spec.js';

/** Platform administration: user accounts, the host and the audit log. */
export const ADMIN_ROUTES = {
  listUsers: route({
    method: 'get',
    path: '/api/v1/users',
    summary: 'Every user (platform admin)',
    access: 'signed-in',
    response: listOf(userSchema),
    status: 200,
  }),
  createUser: route({
    method: 'post',
    path: '/api/v1/users',
    summary: 'Create a user (platform admin)',
    access: 'signed-in',
    body: createUserRequestSchema,
    response: userSchema,
    status: 201,
  }),
  updateUser: route({
    method: 'patch',
    path: '/api/v1/users/:userId',
    summary:
      'Rename, disable or enable a user (platform admin); a disabled user cannot sign in or use tokens or consoles',
    access: 'signed-in',
    body: updateUserRequestSchema,
    response: userSchema,
    status: 200,
  }),
  host: route({
    method: 'get',
    path: '/api/v1/host',
    summary: "This host's CPUs, memory, VMs by state and accelerator (platform admin)",
    access: 'signed-in',
    response: hostCapacitySchema,
    status: 200,
  }),
  audit: route({
    method: 'get',
    path: '/api/v1/audit',
    summary:
      'The audit log, newest first (platform admins; tenant admins with ?tenantId=); filters action, actorId; pages with before=<id>',
    access: 'signed-in',
    query: auditQuerySchema,
    response: listOf(auditEntrySchema),
    status: 200,
  }),
} as const satisfies Record<string, RouteSpec>;
